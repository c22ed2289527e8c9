"""`sysnoise compare`: two runs on the same images, recomputed from their predictions files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sysnoise.cli import main
from sysnoise.compare import compare_runs, load_run
from sysnoise.intervals import paired_difference_interval

from made_up import write_made_up


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    paths = []
    for name, seed in (("a", 1), ("b", 2)):
        out = tmp_path_factory.mktemp(name)
        write_made_up(out, seed)
        paths.append(out / "x.json")
    return paths[0], paths[1]


def test_flip_difference_and_differing_images_by_hand(runs):
    a, b = load_run(runs[0]), load_run(runs[1])
    records = {r["noise"]: r for r in compare_runs(a, b)}
    assert set(records) == {row["noise"] for row in a.document["rows"]}
    name = "resize=cv2-nearest"
    pa, pb = a.predictions, b.predictions
    assert list(pa["image_id"]) == list(pb["image_id"])
    valid = (pa["reference"] >= 0) & (pa[name] >= 0) & (pb["reference"] >= 0) & (pb[name] >= 0)
    fa = (pa["reference"] != pa[name])[valid].to_numpy()
    fb = (pb["reference"] != pb[name])[valid].to_numpy()
    record = records[name]
    assert record["n_images"] == valid.sum()
    assert record["flip_rate_diff"] == pytest.approx(fa.mean() - fb.mean())
    counts = [(fa & fb).sum(), (fa & ~fb).sum(), (~fa & fb).sum(), (~fa & ~fb).sum()]
    assert record["flip_rate_diff_ci"] == pytest.approx(list(paired_difference_interval(*counts)))
    assert record["n_outcomes_differ"] == (fa != fb).sum() > 0
    differ = pa["image_id"][valid].to_numpy()[fa != fb]
    assert record["outcomes_differ"] == list(differ[:10])
    row_a = next(r for r in a.document["rows"] if r["noise"] == name)
    row_b = next(r for r in b.document["rows"] if r["noise"] == name)
    assert record["delta_top1_diff"] == pytest.approx(row_a["delta_top1"] - row_b["delta_top1"])
    low, high = record["delta_top1_diff_ci"]
    assert low <= record["delta_top1_diff"] <= high
    # Square-and-add is at least as wide as either run's own interval.
    assert high - low >= np.diff(row_a["delta_top1_ci"])[0]


def test_a_run_against_itself_has_no_differences(runs):
    run = load_run(runs[0])
    for record in compare_runs(run, run):
        assert record["flip_rate_diff"] == 0.0 and record["n_outcomes_differ"] == 0
        low, high = record["flip_rate_diff_ci"]
        assert low < 0 < high or record["flip_rate_a"] in (0.0, 1.0)


def test_compare_command_and_its_errors(runs, tmp_path, capsys):
    assert main(["compare", str(runs[0]), str(runs[1])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("A: mobilenet_v2") and "images differ" in out
    assert main(["compare", str(runs[0]), str(runs[1]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["noise"]
    other = json.loads(runs[1].read_text())
    other["dataset"]["fingerprint"] = "0" * 64
    moved = tmp_path / "other.json"
    moved.write_text(json.dumps(other))
    assert main(["compare", str(runs[0]), str(moved)]) == 2
    assert "predictions file" in capsys.readouterr().err
    (tmp_path / other["predictions_file"]).write_bytes(
        (runs[1].parent / other["predictions_file"]).read_bytes()
    )
    assert main(["compare", str(runs[0]), str(moved)]) == 2
    assert "different images" in capsys.readouterr().err
