"""Segmentation and detection entries on the board: submitted, grouped by task and by what they
are scored against, ranked by figures that cannot cancel, and shown with their rows."""

from __future__ import annotations

import copy
import csv
import importlib.util
import re
from pathlib import Path

import pytest

from sysnoise.cli import main
from sysnoise.errors import SysnoiseError
from sysnoise.leaderboard.dense_summary import AGREEMENT, LABELS
from sysnoise.leaderboard.dense_table import BOARDS
from sysnoise.leaderboard.render import build_site
from sysnoise.leaderboard.store import entry_stem, load_entries, submit
from sysnoise.leaderboard.table import dense_frame, group_entries

from dense_factory import detection_document, segmentation_document
from results_factory import generated_result

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "regenerate_entries.py"


@pytest.fixture(scope="module")
def dense(tmp_path_factory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("dense-board")
    return {
        "segmentation-labels": segmentation_document(base, labelled=True),
        "segmentation-agreement": segmentation_document(base, labelled=False),
        "detection-labels": detection_document(base, annotated=True),
        "detection-agreement": detection_document(base, annotated=False),
    }


@pytest.fixture(scope="module")
def classification(tmp_path_factory) -> dict:
    return generated_result(tmp_path_factory.getbasetemp())


def test_submit_accepts_segmentation_and_detection_runs(dense, tmp_path):
    entries = tmp_path / "entries"
    for document in dense.values():
        path, created = submit(document, entries_dir=entries)
        assert created and path.name == f"{entry_stem(document)}.json"
    problems: list[str] = []
    loaded = load_entries(entries, problems)
    assert problems == [] and len(loaded) == 4
    assert {e["task"] for e in loaded} == {"segmentation", "detection"}


def test_labelled_and_agreement_runs_never_share_a_table(dense):
    detections = [dense["detection-labels"], dense["detection-agreement"]]
    # The same photos with and without annotations: one fingerprint, one suite, two tables.
    assert len({(d["dataset"]["fingerprint"], d["suite"]["name"]) for d in detections}) == 1
    groups = group_entries(detections)
    assert [(g.task, g.scoring) for g in groups] == [
        ("detection", LABELS),
        ("detection", AGREEMENT),
    ]
    labelled = dense["segmentation-labels"]
    agreement = copy.deepcopy(dense["segmentation-agreement"])
    agreement["dataset"] = copy.deepcopy(labelled["dataset"])  # even on the very same images
    groups = group_entries([agreement, labelled])
    assert [(g.task, g.scoring) for g in groups] == [
        ("segmentation", LABELS),
        ("segmentation", AGREEMENT),
    ]
    assert [g.entries for g in groups] == [[labelled], [agreement]]
    assert "scored against labels" in groups[0].title
    assert "agreement with the reference" in groups[1].title
    assert groups[1].scale_note.startswith("demonstration scale: 3 images, no labels used")


def test_labelled_segmentation_ranks_by_mean_abs_delta_with_the_signed_mean_beside(dense):
    document = dense["segmentation-labels"]
    frame = dense_frame([document], BOARDS[("segmentation", LABELS)])
    deltas = [r["delta_miou"] for r in document["rows"] if r["category"] != "combined"]
    assert any(d < 0 for d in deltas) and any(d > 0 for d in deltas)  # a mean that can cancel
    record = frame.iloc[0]
    assert record["mean |ΔmIoU| pp"] == pytest.approx(
        100 * sum(map(abs, deltas)) / len(deltas), abs=5e-4
    )
    assert record["mean ΔmIoU pp"] == pytest.approx(100 * sum(deltas) / len(deltas), abs=5e-4)
    assert record["reference mIoU %"] == pytest.approx(
        100 * document["reference"]["miou"], abs=5e-4
    )
    worst = max(document["rows"], key=lambda r: abs(r["delta_miou"]))
    assert record["worst noise"] == worst["noise"]
    assert list(frame.columns[:4]) == ["rank", "model", "mean |ΔmIoU| pp", "mean ΔmIoU pp"]


def test_agreement_entries_rank_highest_agreement_first(dense):
    document = dense["segmentation-agreement"]
    worse = copy.deepcopy(document)
    worse["model"]["name"] = "worse"
    for row in worse["rows"]:
        row["agreement_miou"] = row["agreement_miou"] * 0.9
    frame = dense_frame([worse, document], BOARDS[("segmentation", AGREEMENT)])
    assert list(frame["model"]) == [document["model"]["name"], "worse"]
    assert list(frame["rank"]) == [1, 2]
    rows = document["rows"]
    expected = 100 * sum(r["agreement_miou"] for r in rows) / len(rows)
    assert frame.iloc[0]["mean agreement mIoU %"] == pytest.approx(expected, abs=5e-4)
    detection = dense["detection-agreement"]
    frame = dense_frame([detection], BOARDS[("detection", AGREEMENT)])
    lost = [
        r["detections"]["lost"] / (r["detections"]["stayed"] + r["detections"]["lost"])
        for r in detection["rows"]
    ]
    assert frame.iloc[0]["mean detections lost %"] == pytest.approx(
        100 * sum(lost) / len(lost), abs=5e-4
    )
    maps = [r["scores"]["map"] for r in detection["rows"]]
    assert frame.iloc[0]["mean agreement mAP %"] == pytest.approx(
        100 * sum(maps) / len(maps), abs=5e-4
    )


def test_the_site_has_one_table_per_task_and_scoring(dense, classification, tmp_path):
    entries = [classification, *dense.values()]
    site = tmp_path / "site"
    index = build_site(entries, site).read_text()
    headings = re.findall(r"<h2>(.*?)</h2>", index)
    assert [h.split(":")[0] for h in headings] == [
        "classification",
        "segmentation, scored against labels",
        "segmentation, agreement with the reference",
        "detection, scored against labels",
        "detection, agreement with the reference",
    ]
    sections = index.split("<section")[1:]
    assert "mean flip %" in sections[0] and "mIoU" not in sections[0]
    assert "mean |ΔmIoU| pp" in sections[1] and "mean flip %" not in sections[1]
    assert "mean agreement mIoU %" in sections[2] and "ΔmIoU" not in sections[2]
    assert "mean |ΔmAP| pp" in sections[3] and "reference mAP %" in sections[3]
    assert "mean agreement mAP %" in sections[4] and "mean detections lost %" in sections[4]
    for key, document in dense.items():
        page = (site / "entries" / f"{entry_stem(document)}.html").read_text()
        assert all(f">{row['noise']}<" in page for row in document["rows"]), key
        assert 'id="row-0"' in page and "Per category" in page
    labelled = (site / "entries" / f"{entry_stem(dense['segmentation-labels'])}.html").read_text()
    assert "ΔmIoU 95% CI pp" in labelled and "per-class IoU %" in labelled
    boxes = (site / "entries" / f"{entry_stem(dense['detection-agreement'])}.html").read_text()
    moved = dense["detection-agreement"]["rows"][0]["detections"]
    assert f"{moved['stayed']} / {moved['lost']} / {moved['new']}" in boxes
    markdown = (site / "LEADERBOARD.md").read_text()
    assert markdown.count("\n## ") == 5 and "ranked by the mean agreement mAP" in markdown
    with open(site / "leaderboard.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["task"], r["scored against"]) for r in rows] == [
        ("classification", ""),
        ("segmentation", LABELS),
        ("segmentation", AGREEMENT),
        ("detection", LABELS),
        ("detection", AGREEMENT),
    ]


def test_show_prints_each_dense_table(dense, tmp_path, capsys):
    entries = tmp_path / "entries"
    for document in dense.values():
        submit(document, entries_dir=entries)
    assert main(["leaderboard", "show", "--entries", str(entries)]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # the notes are wrapped to the terminal
    assert shown.count("ranked by the mean agreement") == 2
    assert "mean |ΔmIoU|" in shown and "mean |ΔmAP|" in shown


def test_a_hostile_dense_document_is_refused_naming_the_field(dense, tmp_path):
    entries = tmp_path / "entries"
    segmentation = copy.deepcopy(dense["segmentation-agreement"])
    segmentation["rows"][2]["agreement_miou"] = 1.5
    with pytest.raises(SysnoiseError, match=r"rows\[2\]\.agreement_miou: 1\.5 is more than 1"):
        submit(segmentation, entries_dir=entries)
    detection = copy.deepcopy(dense["detection-agreement"])
    detection["rows"][1]["detections"]["lost"] = -3
    with pytest.raises(SysnoiseError, match=r"rows\[1\]\.detections\.lost: -3 is negative"):
        submit(detection, entries_dir=entries)
    relabelled = copy.deepcopy(dense["detection-labels"])
    relabelled["rows"][0]["delta_map"] = 0.5  # no longer deltas.map.delta
    with pytest.raises(SysnoiseError, match=r"rows\[0\]"):
        submit(relabelled, entries_dir=entries)
    one_off = copy.deepcopy(dense["segmentation-labels"])
    one_off["suite"]["name"] = "custom"  # a --noises list ranks against nothing
    with pytest.raises(SysnoiseError, match="suite.name: unknown suite 'custom'"):
        submit(one_off, entries_dir=entries)
    assert not entries.exists() or not list(entries.iterdir())


def test_the_shipped_dense_models_have_built_in_suites_that_resolve():
    from sysnoise.noises.suites import SUITES
    from sysnoise.sources.detection_source import DetectionSource

    spec = importlib.util.spec_from_file_location("regenerate_entries", SCRIPT)
    regenerate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regenerate)
    assert set(regenerate.DENSE_MODELS) == {"craft", "mtcnn"}
    for model, suites in regenerate.DENSE_MODELS.items():
        assert regenerate.unknown_model_reason(model) is None
        assert set(suites) <= set(SUITES.names())
    reference = DetectionSource.open("mtcnn").spec.reference  # capped at its longer side
    noisy = SUITES.get("quick").resolve(reference)
    squash = next(p for n, p in noisy if n.name == "resize=squash")
    assert (squash.resize_protocol, squash.resize_size, squash.crop_size) == ("squash", 512, 512)
