"""Mask R-CNN's mask paste: another interpolation moves mask pixels, never boxes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from sysnoise.detection.masks import decode_masks, encode_masks, mask_paste
from sysnoise.detection.report import format_detection_report
from sysnoise.errors import SysnoiseError


@pytest.fixture(scope="module")
def outputs() -> dict[str, dict]:
    import torchvision.models

    torch.manual_seed(0)
    model = torchvision.models.get_model(
        "maskrcnn_resnet50_fpn",
        weights=None,
        weights_backbone=None,
        num_classes=3,
        min_size=96,
        max_size=128,
        box_score_thresh=0.0,
        box_detections_per_img=10,
    ).eval()
    image = torch.rand(3, 90, 120)
    found = {}
    with torch.inference_mode():
        found["torchvision"] = model([image])[0]
        for mode in ("bilinear", "nearest", "bilinear-align-corners"):
            with mask_paste(mode):
                found[mode] = model([image])[0]
    return found


def test_the_bilinear_paste_is_torchvisions_own(outputs) -> None:
    assert len(outputs["torchvision"]["boxes"]) > 0
    torch.testing.assert_close(outputs["bilinear"]["masks"], outputs["torchvision"]["masks"])


@pytest.mark.parametrize("mode", ["nearest", "bilinear-align-corners"])
def test_another_paste_moves_mask_pixels_but_not_boxes(outputs, mode: str) -> None:
    reference, noisy = outputs["torchvision"], outputs[mode]
    torch.testing.assert_close(noisy["boxes"], reference["boxes"])
    torch.testing.assert_close(noisy["scores"], reference["scores"])
    before = decode_masks(encode_masks(reference["masks"].numpy()))
    after = decode_masks(encode_masks(noisy["masks"].numpy()))
    assert before.shape == after.shape == (len(reference["boxes"]), 90, 120)
    assert (before != after).sum() > 0


def test_masks_round_trip_through_rle_and_unknown_modes_are_named() -> None:
    masks = np.zeros((2, 1, 5, 7), dtype=np.float32)
    masks[0, 0, 1:3, 2:6] = 0.9
    masks[1, 0, 4, 0] = 0.5
    rles = encode_masks(masks)
    assert [r["size"] for r in rles] == [[5, 7], [5, 7]]
    np.testing.assert_array_equal(decode_masks(rles), masks[:, 0] >= 0.5)
    assert encode_masks(np.zeros((0, 1, 5, 7))) == []
    with pytest.raises(SysnoiseError, match="valid: bilinear, bilinear-align-corners, nearest"):
        with mask_paste("area"):
            pass


def test_mask_rcnn_through_bench_scores_masks_against_the_reference(tmp_path) -> None:
    """A seeded random Mask R-CNN: its masks stored as RLE and scored (COCO segm) against the
    reference's own; the nearest paste moves masks only, so box scores stay 100."""
    from sysnoise.bench import run_bench
    from sysnoise.config import BenchConfig
    from sysnoise.detection.torchvision_detectors import random_detector
    from sysnoise.leaderboard.validate import validate
    from sysnoise.sources.detection_source import DetectionSource

    from dense_factory import DETECTION_REFERENCE as reference
    from dense_factory import detection_photos

    folder = detection_photos(tmp_path / "images")
    detector = random_detector(
        "maskrcnn_resnet50_fpn",
        seed=0,
        num_classes=2,
        min_size=96,
        max_size=128,
        rpn_post_nms_top_n_test=100,
        box_detections_per_img=20,
        box_score_thresh=0.0,
    )
    config = BenchConfig(
        data=folder,
        noises="postprocess=mask-paste-nearest,postprocess=mask-paste-bilinear,resize=squash",
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    source = DetectionSource.from_detector(detector, "tiny-mask-rcnn", reference)
    outcome = run_bench(config, source)
    document = outcome.document
    rows = {row["noise"]: row for row in document["rows"]}
    nearest = rows["postprocess=mask-paste-nearest"]
    assert nearest["scores"] == pytest.approx({"map": 1.0, "ap50": 1.0, "ap75": 1.0})
    assert nearest["masks"]["ref_scores"]["map"] == pytest.approx(1.0)
    assert nearest["masks"]["scores"]["map"] < 1.0
    assert nearest["masks"]["deltas"]["map"]["delta"] == pytest.approx(
        1.0 - nearest["masks"]["scores"]["map"]
    )
    # Another input size: the noisy masks are brought to the reference's size to be scored.
    assert rows["resize=squash"]["masks"]["scores"]["map"] is not None
    skipped = {s["noise"]: s["reason"] for s in document["not_evaluated"]}
    assert "already pastes its masks with bilinear" in skipped["postprocess=mask-paste-bilinear"]
    assert validate(document) == []
    broken = json.loads(json.dumps(document))
    broken["rows"][0]["masks"]["deltas"]["map"]["delta"] = 0.5
    assert validate(broken)[0].startswith("rows[0].masks.deltas.map.delta: 0.5 is not ref_scores")
    assert "mask mAP" in format_detection_report(document)
    # The side file holds every mask the scores come from.
    frame = outcome.json_path.with_name(outcome.json_path.stem + ".predictions.csv.gz")
    rows_of = json.loads(pd.read_csv(frame)["postprocess=mask-paste-nearest"][0])
    assert rows_of and all(len(r) == 7 and set(r[6]) == {"size", "counts"} for r in rows_of)
