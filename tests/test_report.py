"""The terminal report and `sysnoise report`: power first, most harmful first, identical rows
grouped, skip reasons collapsed, and the pipeline to deploy for each imposed library."""

from __future__ import annotations

import json

from sysnoise.cli import main
from sysnoise.deploy import deployment_advice
from sysnoise.report import format_report, not_evaluated_lines, rows_table

from made_up import write_made_up


def _row(noise: str, changes: dict, flip: float, delta: float, **extra) -> dict:
    return {
        "noise": noise,
        "category": "decoder+resize",
        "changes": changes,
        "flip_rate": flip,
        "delta_top1": delta,
        "n_failed": 0,
        **extra,
    }


def _document() -> dict:
    return {
        "reference_pipeline": {"decoder": "pil", "resizer": "pil-bilinear"},
        "reference": {"top1": 0.7},
        "rows": [
            _row("cv2/cv2-linear", {"decoder": "cv2", "resizer": "cv2-linear"}, 0.10, 0.02),
            _row("cv2/cv2-area", {"decoder": "cv2", "resizer": "cv2-area"}, 0.03, -0.01),
            _row("cv2/pil-bilinear", {"decoder": "cv2", "resizer": "pil-bilinear"}, 0.0, 0.0),
            _row("pil/cv2-area", {"decoder": "pil", "resizer": "cv2-area"}, 0.03, 0.02),
            _row(
                "pyav/cv2-area", {"decoder": "pyav", "resizer": "cv2-area"}, 0.01, 0.0, n_failed=3
            ),
            _row("pyav/pil-nearest", {"decoder": "pyav", "resizer": "pil-nearest"}, 0.2, 0.1),
        ],
    }


def test_deployment_advice_names_the_closest_pipeline_per_imposed_library():
    advice = {a["imposed"]: a for a in deployment_advice(_document())}
    # OpenCV resize only: INTER_AREA (3% flips) beats INTER_LINEAR (10%); on the tie between
    # cv2+cv2-area and pil+cv2-area, the smaller |Δ| wins.
    assert advice["resize cv2"]["use"] == "decoder cv2, resize cv2-area"
    assert advice["resize cv2"]["tied_with"] == []
    # Pillow resize: the reference itself, before the bit-identical cv2 decoder (a tie).
    assert advice["resize pil"]["pipeline"] == "reference"
    assert advice["resize pil"]["tied_with"] == ["cv2 + pil-bilinear"]
    assert advice["decoder cv2"]["use"] == "decoder cv2, resize pil-bilinear"
    # A pipeline with failed images is no advice; pyav has one pipeline left, so no choice.
    assert "decoder pyav" not in advice


def test_report_leads_with_power_and_orders_by_harm(tmp_path):
    document = json.loads(_written_document(tmp_path))
    text = format_report(document)
    lines = text.splitlines()
    assert lines[3].startswith("power: a McNemar test at 0.05 detects a Δtop-1 of")
    assert "indicative only" in lines[4]
    table = rows_table(document, limit=None)
    flips = table["flip %"].tolist()
    assert flips == sorted(flips, reverse=True)
    grouped = table[table["noise"].str.contains("same")]
    assert len(grouped), "identical rows share a line"
    assert len(rows_table(document)) == 15 and "more (sysnoise report FILE --all)" in text


def _written_document(tmp_path) -> str:
    return json.dumps(write_made_up(tmp_path)[0])


def test_skip_reasons_are_collapsed():
    document = {
        "not_evaluated": [
            {"noise": f"upsample={u}", "status": "not applicable", "reason": "no upsampling"}
            for u in ("nearest", "bilinear")
        ]
        + [{"noise": "backend=tensorrt", "status": "unavailable", "reason": "no GPU"}]
    }
    assert not_evaluated_lines(document) == [
        "  not applicable (2): upsample=nearest, upsample=bilinear: no upsampling",
        "  unavailable (1): backend=tensorrt: no GPU",
    ]


def test_report_command_prints_all_rows_csv_and_rejects_bad_files(tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(_written_document(tmp_path))
    assert main(["report", str(path), "--all"]) == 0
    out = capsys.readouterr().out
    assert "... " not in out and "what to deploy" in out and "combined stack" in out
    assert main(["report", str(path), "--csv"]) == 0
    assert capsys.readouterr().out.startswith("noise,category,")
    (tmp_path / "old.json").write_text(json.dumps({"schema_version": 2}))
    assert main(["report", str(tmp_path / "old.json")]) == 2
    assert "schema_version" in capsys.readouterr().err
