"""The results document recomputes from its predictions file: every row field (top-5 included),
the Holm adjustment, the categories and the combined stack."""

from __future__ import annotations

import pandas as pd
import pytest

from sysnoise.intervals import min_detectable_delta

from made_up import assert_recomputes, write_made_up


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[dict, pd.DataFrame]:
    return write_made_up(tmp_path_factory.mktemp("results"))


def test_every_field_recomputes_from_the_predictions_file(written):
    document, predictions = written
    deltas = [row["delta_top1"] for row in document["rows"]]
    assert any(d > 0 for d in deltas) and any(row["n_fixed"] for row in document["rows"])
    assert_recomputes(document, predictions)


def test_combined_stack_recomputes_step_by_step(written):
    document, predictions = written
    labels = predictions["label"].to_numpy()
    ref_failed = predictions["reference"] < 0
    previous = "reference"
    for step in document["combined"]:
        before, after = predictions[previous], predictions[step["noise"]]
        both = (before >= 0) & (after >= 0) & ~ref_failed
        assert step["n_images"] == both.sum()
        assert step["step_flip_rate"] == pytest.approx((before != after)[both].mean())
        labelled = both & (labels >= 0)
        want = (before == labels)[labelled].mean() - (after == labels)[labelled].mean()
        assert step["step_delta_top1"] == pytest.approx(want)
        assert step["cumulative_flip_rate"] == pytest.approx(
            (predictions["reference"] != after)[both].mean()
        )
        previous = step["noise"]
    last = [row for row in document["rows"] if row["category"] == "combined"][-1]
    assert document["categories"]["combined"]["mean"] == last["delta_top1"]
    assert document["categories"]["combined"]["flip_mean"] == last["flip_rate"]


def test_power_is_stated(written):
    document, _ = written
    power = document["power"]
    assert power["indicative_only"] is (power["n_labelled"] < 1000)
    want = min_detectable_delta(power["n_labelled"], power["median_discordance"])
    assert power["min_detectable_delta_top1"] == pytest.approx(want)
