"""Mask R-CNN's mask paste: another interpolation moves mask pixels, never boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sysnoise.detection.masks import decode_masks, encode_masks, mask_paste
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
