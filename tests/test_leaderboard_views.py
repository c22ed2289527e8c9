"""The board's figures, heatmaps, plots, terminal table and entry-regeneration script, on the
shipped sample-set entries and on documents derived from them."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

from sysnoise.cli import main
from sysnoise.leaderboard.heatmaps import (
    MISSING,
    NOT_SIGNIFICANT,
    REFERENCE,
    VALUE,
    decoder_resizer_heatmap,
    model_category_heatmap,
    model_noise_heatmap,
)
from sysnoise.leaderboard.plots import category_values, robustness_scatter_svg, waterfall_svg
from sysnoise.leaderboard.render import build_site
from sysnoise.leaderboard.store import DEFAULT_ENTRIES_DIR, load_entries, submit
from sysnoise.leaderboard.summary import (
    architecture_family,
    entry_summary,
    holm_adjusted,
    safe_url,
)
from sysnoise.leaderboard.table import group_entries, terminal_table

REPO = Path(__file__).resolve().parents[1]


def _shipped(suite: str) -> dict:
    entries = [
        e
        for e in load_entries(DEFAULT_ENTRIES_DIR)
        if e["suite"]["name"] == suite and e["model"]["name"] == "mobilenet_v2"
    ]
    if not entries:
        pytest.skip(f"no shipped {suite} entry")
    return copy.deepcopy(entries[0])


@pytest.fixture()
def grid_entry() -> dict:
    return _shipped("imagenet-s")


@pytest.fixture()
def stack_entry() -> dict:
    return _shipped("sysnoise")


def test_summary_ranks_by_flip_rate_and_does_not_cancel(stack_entry):
    single = [r for r in stack_entry["rows"] if r["category"] != "combined"]
    summary = entry_summary(stack_entry)
    assert summary.n_single_noises == len(single)
    assert summary.mean_flip == pytest.approx(sum(r["flip_rate"] for r in single) / len(single))
    worst = max(single, key=lambda r: r["flip_rate"])
    assert summary.worst_noise == worst["noise"] and summary.worst_flip == worst["flip_rate"]
    assert stack_entry["rows"][summary.worst_noise_index]["noise"] == summary.worst_noise
    for i, row in enumerate(single):
        row["delta_top1"] = 0.1 if i % 2 else -0.1
    if len(single) % 2:
        single[0]["delta_top1"] = None
    cancelling = entry_summary(stack_entry)
    assert cancelling.mean_delta == pytest.approx(0.0, abs=1e-12)
    assert cancelling.mean_abs_delta == pytest.approx(0.1)
    low, high = summary.reference_top1_interval
    assert low < summary.reference_top1 < high


def test_holm_adjustment_matches_a_worked_example(stack_entry):
    rows = stack_entry["rows"][:4]
    for row, p in zip(rows, [0.01, 0.04, 0.03, 0.005], strict=True):
        row["mcnemar_p"] = p
        row.pop("mcnemar_p_holm", None)
    stack_entry["rows"] = rows
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4x, 3x, 2x, 1x, then made monotone
    assert holm_adjusted(stack_entry) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rows[0]["mcnemar_p_holm"] = 0.5  # the results' own field wins where present
    assert holm_adjusted(stack_entry)[0] == 0.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://arxiv.org/abs/2307.00280", "https://arxiv.org/abs/2307.00280"),
        (" http://example.org/x ", "http://example.org/x"),
        ("javascript:alert(1)", None),
        ("JAVASCRIPT:alert(1)", None),
        ("data:text/html,<b>x</b>", None),
        ("ftp://example.org/x", None),
        ("http:/no-host", None),
        ("//example.org/x", None),
        ("https://exa mple.org", None),
        (None, None),
        (42, None),
    ],
)
def test_only_http_links_are_links(value, expected):
    assert safe_url(value) == expected


def test_architecture_family():
    assert architecture_family({"model": {"arch": "mobilenet_v2"}}) == "mobilenet"
    assert architecture_family({"model": {"arch": "efficientnet_lite0"}}) == "efficientnet"
    assert architecture_family({"model": {"arch": "resnet50", "family": "ResNet"}}) == "ResNet"


def test_decoder_resizer_heatmap_reference_first_grouped_and_marked(grid_entry):
    # the shipped published-grid entries ran every variant: leave one out, as a GPU-only
    # decoder would be on a machine without a GPU
    left_out = grid_entry["rows"].pop()
    grid_entry["not_evaluated"].append(
        {
            "noise": left_out["noise"],
            "category": left_out["category"],
            "changes": left_out["changes"],
            "status": "unavailable",
            "reason": "needs an NVIDIA GPU",
        }
    )
    grid = decoder_resizer_heatmap(grid_entry)
    reference = grid_entry["reference_pipeline"]
    assert grid.rows[0].label == reference["decoder"]
    assert grid.columns[0] == reference["resizer"]
    assert grid.rows[0].cells[0].state == REFERENCE
    libraries = [name for name, _ in grid.column_groups]
    assert len(libraries) == len(set(libraries))  # each library's resizers sit together
    assert sum(span for _, span in grid.column_groups) == len(grid.columns)
    cells = {
        (r.label, c): cell for r in grid.rows for c, cell in zip(grid.columns, r.cells, strict=True)
    }
    holm = holm_adjusted(grid_entry)
    for row, p in zip(grid_entry["rows"], holm, strict=True):
        cell = cells[tuple(row["noise"].split("/"))]
        assert cell.text == f"{100 * row['delta_top1']:.1f}"
        assert cell.state == (VALUE if p < 0.05 else NOT_SIGNIFICANT)
        assert f"Holm p {p:.3g}" in cell.title
    [skip] = grid_entry["not_evaluated"]
    cell = cells[tuple(skip["noise"].split("/"))]
    assert cell.state == MISSING and skip["reason"] in cell.title and cell.text == "n/e"
    zero = next(c for c in cells.values() if c.text == "0.0")
    assert zero.state in (VALUE, NOT_SIGNIFICANT)  # a zero is a value, never a missing cell


def test_no_decoder_resizer_heatmap_without_pairs(stack_entry):
    assert decoder_resizer_heatmap(stack_entry) is None  # combined steps are not grid cells


def test_model_category_heatmap_marks_missing_categories(stack_entry, grid_entry):
    categories = ["decoder", "precision", "combined"]
    worst = [("w", "a.html#row-1"), (None, None)]
    heatmap = model_category_heatmap([stack_entry, grid_entry], categories, ["a", "b"], worst)
    first, second = heatmap.rows
    assert first.href == "a" and first.note == "worst: w" and first.note_href == "a.html#row-1"
    assert [c.state for c in second.cells[1:]] == [MISSING, MISSING]
    final = [r for r in stack_entry["rows"] if r["category"] == "combined"][-1]
    assert first.cells[2].text == f"{100 * final['flip_rate']:.1f}"


def test_model_noise_heatmap_groups_noises_by_category(stack_entry, grid_entry):
    too_many = len(grid_entry["rows"]) - 1
    assert model_noise_heatmap([grid_entry], ["a"], max_noises=too_many) is None
    heatmap = model_noise_heatmap([stack_entry], ["a"])
    single = [r for r in stack_entry["rows"] if r["category"] != "combined"]
    skipped = [s for s in stack_entry["not_evaluated"] if s["category"] != "combined"]
    inapplicable = {s["noise"] for s in skipped if s["status"] == "not applicable"}
    assert inapplicable and not inapplicable & set(heatmap.columns)  # no model here can have them
    skipped = [s for s in skipped if s["noise"] not in inapplicable]
    assert skipped and len(heatmap.columns) == len(single) + len(skipped)
    groups = [g for g, _ in heatmap.column_groups]
    assert len(groups) == len(set(groups)) and "combined" not in groups  # categories together
    assert sum(span for _, span in heatmap.column_groups) == len(heatmap.columns)
    cells = dict(zip(heatmap.columns, heatmap.rows[0].cells, strict=True))
    for row in single:
        assert cells[row["noise"]].text == f"{100 * row['flip_rate']:.0f}"
    for skip in skipped:
        assert (
            cells[skip["noise"]].state == MISSING and skip["reason"] in cells[skip["noise"]].title
        )


def test_category_values_tell_zero_from_missing(stack_entry):
    values = dict(category_values(stack_entry))
    skipped = {s["category"] for s in stack_entry["not_evaluated"]} - {
        r["category"] for r in stack_entry["rows"]
    }
    assert skipped and all(values[c] is None for c in skipped)
    backend = [r for r in stack_entry["rows"] if r["category"] == "backend"]
    for row in backend:
        row["flip_rate"], row["delta_top1"] = 0.0, 0.0
    flip, delta = dict(category_values(stack_entry))["backend"]
    assert flip[0] == 0.0 and delta[0] == 0.0
    low, high = flip[1:]
    assert low <= 0.0 <= high


def test_waterfall_and_scatter(stack_entry, grid_entry):
    assert waterfall_svg(stack_entry).startswith("<svg")
    for step in stack_entry["combined"]:  # the step intervals newer results carry
        step["step_delta_top1_ci"] = [-0.1, 0.2]
        step["step_flip_rate_ci"] = [0.0, 0.3]
    assert waterfall_svg(stack_entry).startswith("<svg")
    assert waterfall_svg(grid_entry) is None
    [group] = group_entries([stack_entry])
    assert robustness_scatter_svg(list(group.summaries.values())).startswith("<svg")


def test_site_is_one_offline_folder_with_a_vendored_table_library(stack_entry, tmp_path):
    stack_entry["submission"]["paper"] = "javascript:alert(1)"
    stack_entry["submission"]["code"] = "https://example.org/code"
    build_site([stack_entry], tmp_path)
    assert (tmp_path / "static" / "list.min.js").stat().st_size > 10_000
    assert "MIT" in (tmp_path / "static" / "list.js.LICENSE.txt").read_text()
    index = (tmp_path / "index.html").read_text()
    assert '<script src="static/list.min.js">' in index and "demonstration scale" in index
    [page] = (tmp_path / "entries").glob("*.html")
    text = page.read_text()
    assert '<script src="../static/list.min.js">' in text
    assert 'href="javascript:' not in text and "(not an http(s) link)" in text
    assert '<a href="https://example.org/code"' in text
    for html in (index, text):
        assert "//cdn" not in html and '<script src="http' not in html


def test_show_fits_the_terminal(stack_entry, tmp_path, monkeypatch, capsys):
    entries = tmp_path / "entries"
    submit({k: v for k, v in stack_entry.items() if k != "submission"}, entries_dir=entries)
    for width in (50, 90, 160):
        monkeypatch.setenv("COLUMNS", str(width))
        assert main(["leaderboard", "show", "--entries", str(entries)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert max(len(line) for line in lines) <= width
        assert any(line.split()[:3] == ["rank", "model", "mean"] for line in lines)
    [group] = group_entries(load_entries(entries))
    text, hidden = terminal_table(group.frame, 10_000)
    assert not hidden and "environment" in text


def _script():
    spec = importlib.util.spec_from_file_location(
        "regenerate_entries", REPO / "scripts" / "regenerate_entries.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerate_script_skips_unknown_models_and_replaces_entries(tmp_path_factory, capsys):
    base = tmp_path_factory.getbasetemp()
    entries = tmp_path_factory.mktemp("regenerated")
    argv = ["--models", "no_such_model", "mobilenet_v2", "--suites", "quick", "--limit", "3"]
    argv += ["--entries", str(entries), "--cache-dir", str(base / "leaderboard-cache")]
    script = _script()
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "skipped no_such_model: not known to this installation" in out
    [first] = entries.glob("*.json")
    document = json.loads(first.read_text())
    assert document["model"]["name"] == "mobilenet_v2" and document["suite"]["name"] == "quick"
    assert script.main(argv) == 0  # a new run of the same model and suite replaces the entry
    [second] = entries.glob("*.json")
    assert second != first and "removed the replaced entry" in capsys.readouterr().out
    assert entry_summary(json.loads(second.read_text())).mean_flip is not None


def test_submitted_paper_and_code_must_be_http_links(stack_entry, tmp_path, capsys):
    result = tmp_path / "result.json"
    result.write_text(json.dumps({k: v for k, v in stack_entry.items() if k != "submission"}))
    entries = str(tmp_path / "entries")
    argv = ["submit", str(result), "--entries", entries, "--paper", "https://example.org/p"]
    assert main([*argv, "--code", "javascript:alert(1)"]) == 2
    assert "submission.code: must be an http:// or https:// URL" in capsys.readouterr().err
    assert main([*argv, "--code", "https://example.org/code"]) == 0
    [stored] = load_entries(Path(entries))
    assert stored["submission"]["code"] == "https://example.org/code"
    assert (
        main(["leaderboard", "build", "--out", str(tmp_path / "site"), "--entries", entries]) == 0
    )
    [page] = (tmp_path / "site" / "entries").glob("*.html")
    text = page.read_text()
    assert (
        '<a href="https://example.org/p"' in text and '<a href="https://example.org/code"' in text
    )
