"""The leaderboard store, tables, site and CLI, on a real small result made once per session."""

from __future__ import annotations

import copy
import json
import re

import pytest

from sysnoise.cli import main
from sysnoise.errors import SysnoiseError
from sysnoise.leaderboard.heatmaps import decoder_resizer_heatmap
from sysnoise.leaderboard.markdown import markdown_table
from sysnoise.leaderboard.plots import category_bars_svg
from sysnoise.leaderboard.render import build_site
from sysnoise.leaderboard.store import load_entries, sanitise_name, submit
from sysnoise.leaderboard.table import (
    MEAN_ABS_DELTA,
    MEAN_DELTA,
    MEAN_FLIP,
    RANK,
    group_entries,
)
from sysnoise.metrics import category_summary


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    """The same generated document as the validation tests (made once per session)."""
    base = tmp_path_factory.getbasetemp()
    out = base / "leaderboard-result"
    if not sorted(out.glob("*.json")):
        argv = ["bench", "--suite", "quick", "--limit", "3", "--out", str(out)]
        argv += ["--cache-dir", str(base / "leaderboard-cache"), "--no-progress"]
        assert main(argv) == 0
    return json.loads(sorted(out.glob("*.json"))[0].read_text())


@pytest.fixture()
def doc(result) -> dict:
    return copy.deepcopy(result)


def _with(document: dict, field: str, value: float) -> dict:
    document = copy.deepcopy(document)
    for row in document["rows"]:
        row[field] = value
    document["categories"] = category_summary(document["rows"])
    return document


def test_submit_writes_a_named_hashed_entry(doc, tmp_path):
    path, created = submit(doc, paper="https://example.org/p", entries_dir=tmp_path)
    assert created
    assert re.fullmatch(r"mobilenet_v2-[0-9a-f]{12}\.json", path.name)
    stored = json.loads(path.read_text())
    assert stored["submission"]["name"] == "mobilenet_v2"
    assert stored["submission"]["paper"] == "https://example.org/p"
    assert stored["submission"]["submitted"].endswith("+00:00")
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_resubmitting_the_same_result_is_a_no_op(doc, tmp_path):
    first, _ = submit(doc, entries_dir=tmp_path)
    stored = json.loads(first.read_text())
    again, created = submit(stored, name="another name", entries_dir=tmp_path)
    assert (again, created) == (first, False)
    assert len(list(tmp_path.glob("*.json"))) == 1
    assert json.loads(first.read_text()) == stored


def test_a_different_result_for_the_same_model_is_a_new_entry(doc, tmp_path):
    first, _ = submit(doc, entries_dir=tmp_path)
    doc["created"] = "2027-01-01T00:00:00+00:00"
    second, created = submit(doc, entries_dir=tmp_path)
    assert created and second != first
    assert len(load_entries(tmp_path)) == 2


def test_model_name_cannot_escape_the_entries_folder(doc, tmp_path):
    entries = tmp_path / "entries"
    doc["model"]["name"] = "../../etc/x"
    path, created = submit(doc, entries_dir=entries)
    assert created and path.parent == entries.resolve()
    assert ".." not in path.name and "/" not in path.name
    assert list(tmp_path.glob("*")) == [entries]


@pytest.mark.parametrize("name", ["..", "../..", "/", "a/../../b", "x" * 500, "", "é<>|"])
def test_sanitised_names_are_safe(name):
    safe = sanitise_name(name)
    assert safe and len(safe) <= 64
    assert re.fullmatch(r"[A-Za-z0-9._-]+", safe) and ".." not in safe
    assert not safe.startswith(".")


def test_invalid_result_is_refused_and_not_written(doc, tmp_path):
    doc["rows"][0]["top1"] = "0.5"
    with pytest.raises(SysnoiseError, match=r"rows\[0\]\.top1"):
        submit(doc, entries_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_load_entries_skips_and_reports_invalid_files(doc, tmp_path):
    submit(doc, entries_dir=tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "bad.json").write_text(json.dumps({**doc, "schema_version": 99}))
    problems: list[str] = []
    assert len(load_entries(tmp_path, problems)) == 1
    assert sorted(p.split(":")[0] for p in problems) == ["bad.json", "broken.json"]
    with pytest.raises(SysnoiseError, match="entries folder .*missing does not exist"):
        load_entries(tmp_path / "missing")


def test_tables_group_by_dataset_and_suite_and_rank_by_mean_flip_rate(doc):
    # "worse" flips more images although its deltas cancel to zero; flip rate ranks it last
    worse = _with(_with(doc, "flip_rate", 0.3), "delta_top1", 0.0)
    for i, row in enumerate(worse["rows"]):
        row["delta_top1"] = 0.2 if i % 2 else -0.2
    worse["submission"] = {"name": "worse", "submitted": "2026-01-01T00:00:00+00:00"}
    better = _with(_with(doc, "flip_rate", 0.1), "delta_top1", 0.05)
    other_data = copy.deepcopy(doc)
    other_data["dataset"]["fingerprint"] = "f" * 64
    groups = group_entries([worse, better, other_data])
    assert len(groups) == 2
    same = next(g for g in groups if g.dataset_fingerprint == doc["dataset"]["fingerprint"])
    assert list(same.frame["model"]) == ["mobilenet_v2", "worse"]
    assert list(same.frame[RANK]) == [1, 2]
    assert list(same.frame[MEAN_FLIP]) == [10.0, 30.0]
    assert same.frame[MEAN_DELTA].iloc[0] == 5.0
    assert same.frame[MEAN_ABS_DELTA].iloc[1] == 20.0
    columns = list(same.frame.columns)
    assert columns[:6] == [
        RANK,
        "model",
        MEAN_FLIP,
        MEAN_DELTA,
        MEAN_ABS_DELTA,
        "reference top-1 %",
    ]
    for category in doc["categories"]:
        for suffix in ("flip %", "Δ pp", "|Δ| pp"):
            assert f"{category} {suffix}" in columns
    for column in ("worst noise", "family", "backend", "n images", "date", "environment"):
        assert column in columns
    assert same.frame["environment"].iloc[0].startswith("torch ")
    assert same.frame["family"].iloc[0] == "mobilenet"
    assert same.demonstration and "demonstration scale" in same.scale_note


def test_equal_flip_rates_share_a_rank(doc):
    twin = copy.deepcopy(doc)
    twin["model"]["name"] = "twin"
    [group] = group_entries([doc, twin])
    assert list(group.frame[RANK]) == [1, 1]


def test_round_trip_submit_build_through_the_cli(doc, tmp_path, capsys):
    results = tmp_path / "result.json"
    results.write_text(json.dumps(doc))
    entries, site = str(tmp_path / "entries"), tmp_path / "site"
    assert main(["submit", str(results), "--entries", entries, "--notes", "n"]) == 0
    assert capsys.readouterr().out.startswith("added ")
    assert main(["submit", str(results), "--entries", entries]) == 0
    assert capsys.readouterr().out.startswith("already on the board: ")
    other = copy.deepcopy(doc)
    other["dataset"]["fingerprint"] = "0" * 64
    other["model"]["name"] = "resnet_like"
    results.write_text(json.dumps(other))
    assert main(["submit", str(results), "--entries", entries]) == 0
    assert main(["leaderboard", "build", "--out", str(site), "--entries", entries]) == 0
    index = (site / "index.html").read_text()
    assert index.count('<table class="board-table">') == 2
    assert "mobilenet_v2" in index and "resnet_like" in index
    pages = sorted((site / "entries").glob("*.html"))
    assert len(pages) == 2
    for page in pages:
        assert f'href="entries/{page.name}"' in index
    page = next(p for p in pages if p.name.startswith("mobilenet_v2")).read_text()
    assert all(row["noise"] in page for row in doc["rows"]) and "<svg" in page
    markdown = (site / "LEADERBOARD.md").read_text()
    assert markdown.count("\n## ") == 2 and "| mobilenet_v2 |" in markdown
    csv = (site / "leaderboard.csv").read_text().splitlines()
    assert len(csv) == 3 and csv[0].startswith("dataset,dataset_fingerprint,suite,entry,rank,model")
    capsys.readouterr()
    assert main(["leaderboard", "show", "--entries", entries]) == 0
    shown = capsys.readouterr().out
    assert "mobilenet_v2" in shown and "resnet_like" in shown and "suite quick" in shown


def test_model_names_are_escaped_in_html(doc, tmp_path):
    hostile = "<script>alert(1)</script>"
    doc["model"]["name"] = hostile
    submit(doc, name=hostile, notes=hostile, entries_dir=tmp_path / "entries")
    build_site(load_entries(tmp_path / "entries"), tmp_path / "site")
    for page in (tmp_path / "site").rglob("*.html"):
        text = page.read_text()
        assert "<script>alert" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>" not in (tmp_path / "site" / "LEADERBOARD.md").read_text()


def test_empty_board_builds(tmp_path):
    build_site([], tmp_path)
    assert "No entries yet" in (tmp_path / "index.html").read_text()
    assert "No entries yet" in (tmp_path / "LEADERBOARD.md").read_text()


def test_submit_reports_unreadable_files(tmp_path, capsys):
    assert main(["submit", str(tmp_path / "nope.json"), "--entries", str(tmp_path)]) == 2
    assert "no such results file" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("[1, 2")
    assert main(["submit", str(tmp_path / "bad.json"), "--entries", str(tmp_path)]) == 2


def test_markdown_table_keeps_cells_in_their_columns():
    import pandas as pd

    text = markdown_table(pd.DataFrame({"model": ["a|b"], "x %": [float("nan")], "n": [3]}))
    assert text.splitlines() == ["| model | x % | n |", "|:---|---:|---:|", "| a\\|b |  | 3 |"]


def test_heatmap_for_decoder_resizer_pairs_only(doc):
    assert decoder_resizer_heatmap(doc) is None
    doc["suite"]["name"] = "imagenet-s"
    doc["rows"] = [
        {
            "noise": f"{d}/{r}",
            "category": "decoder+resize",
            "changes": {"decoder": d, "resizer": r},
            "delta_top1": 0.01 * i,
            "flip_rate": 0.02,
            "mcnemar_p": 1.0,
        }
        for i, (d, r) in enumerate([("cv2", "pil-bilinear"), ("pil", "cv2-linear")])
    ]
    grid = decoder_resizer_heatmap(doc)
    assert [r.label for r in grid.rows] == ["pil", "cv2"]
    assert grid.columns == ["pil-bilinear", "cv2-linear"]
    assert [c.text for c in grid.rows[1].cells] == ["0.0", ""]
    # cells come from what a row changed, not from its name
    renamed = [{**row, "noise": f"step {i}"} for i, row in enumerate(doc["rows"])]
    assert decoder_resizer_heatmap({**doc, "rows": renamed}).columns == grid.columns
    model_side = [{**row, "changes": {"precision": "bf16"}} for row in doc["rows"]]
    assert decoder_resizer_heatmap({**doc, "rows": model_side}) is None
    assert category_bars_svg(doc).startswith("<svg")
