"""COCO box metrics: hand-computed AP, agreement with a reference, paired bootstrap deltas."""

from __future__ import annotations

import numpy as np
import pytest

from sysnoise.detection.boxes import Detections, GroundTruth
from sysnoise.detection.coco_metrics import (
    CocoEvaluation,
    agreement_truth,
    coco_scores,
    paired_delta,
)

# Two objects of category 1; an exact hit (0.9), a false positive (0.8), and a hit at IoU 0.62
# on the second object (0.7).
TRUTH = GroundTruth([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 1])
FOUND = Detections(
    [[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 26.2]], [0.9, 0.8, 0.7], [1, 1, 1]
)


def test_hand_computed_ap() -> None:
    # IoU 0.62 matches at thresholds 0.50, 0.55, 0.60: ranks TP FP TP give precision 1 up to
    # recall 0.5 and 2/3 up to recall 1 (51 and 50 of COCO's 101 recall points).
    both_found = (51 + 50 * 2 / 3) / 101
    one_found = 51 / 101  # TP FP FP: recall stops at 0.5
    scores = coco_scores([TRUTH], [FOUND])
    assert scores.ap50 == pytest.approx(both_found)
    assert scores.ap75 == pytest.approx(one_found)
    assert scores.map == pytest.approx((3 * both_found + 7 * one_found) / 10)


def test_resample_counts_repeated_images() -> None:
    evaluation = CocoEvaluation([TRUTH, TRUTH], [FOUND, Detections.empty()])
    assert evaluation.scores([0, 0]).ap50 == pytest.approx(coco_scores([TRUTH], [FOUND]).ap50)
    assert evaluation.scores([1, 1]).ap50 == 0.0
    # Over both images, 4 objects: hits at 0.9, 0.7 (recall .25, .5), precision 1 then 2/3.
    assert evaluation.scores().ap50 == pytest.approx((26 + 25 * 2 / 3) / 101)


def test_agreement_with_itself_is_perfect_and_threshold_applies() -> None:
    truth = agreement_truth([FOUND], threshold=0.75)
    assert len(truth[0]) == 2
    assert coco_scores(truth, [FOUND]).map == pytest.approx(1.0)
    # A reference that finds nothing leaves nothing to agree with: the score is undefined.
    assert coco_scores(agreement_truth([Detections.empty()]), [FOUND]).map is None


def test_paired_delta_interval_brackets_the_delta() -> None:
    rng = np.random.default_rng(0)
    truth, reference, noisy = [], [], []
    for _ in range(12):
        boxes = rng.uniform(0, 80, (3, 2))
        boxes = np.concatenate([boxes, boxes + 20], axis=1)
        truth.append(GroundTruth(boxes, [1, 2, 1]))
        reference.append(
            Detections(boxes + rng.normal(0, 1, boxes.shape), [0.9, 0.8, 0.7], [1, 2, 1])
        )
        noisy.append(Detections(boxes + rng.normal(0, 4, boxes.shape), [0.9, 0.8, 0.7], [1, 2, 1]))
    ref, new = CocoEvaluation(truth, reference), CocoEvaluation(truth, noisy)
    result = paired_delta(ref, new, "map", resamples=30)
    assert result.delta == pytest.approx(ref.scores().map - new.scores().map)
    assert result.delta > 0
    assert result.low <= result.delta <= result.high
    same = paired_delta(ref, ref, "ap50", resamples=10)
    assert (same.delta, same.low, same.high) == (0.0, 0.0, 0.0)
