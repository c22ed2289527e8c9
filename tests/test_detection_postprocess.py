"""Post-processing noises: NMS kernels, top-k before NMS, the legacy box-decoding offset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms

from sysnoise.detection.torchvision_detectors import random_detector
from sysnoise.errors import SysnoiseError
from sysnoise.noises.nms import NMS_IMPLEMENTATIONS
from sysnoise.noises.postprocess import (
    decode_legacy,
    patch_postprocess,
    postprocess_not_applicable,
)


def _random_boxes(count: int, categories: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    corner = torch.rand(count, 2, generator=generator) * 100
    size = torch.rand(count, 2, generator=generator) * 40 + 1
    scores = torch.randperm(count, generator=generator).float() / count  # distinct scores
    labels = torch.randint(0, categories, (count,), generator=generator)
    return torch.cat([corner, corner + size], dim=1), scores, labels


@pytest.mark.parametrize("name", NMS_IMPLEMENTATIONS.names())
@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_kernels_keep_what_torchvision_keeps(name: str, threshold: float) -> None:
    boxes, scores, labels = _random_boxes(400, 6)
    expected = batched_nms(boxes, scores, labels, threshold)
    kept = NMS_IMPLEMENTATIONS.get(name).kernel(boxes, scores, labels, threshold)
    assert 0 < len(expected) < len(boxes)
    assert kept.tolist() == expected.tolist()  # same boxes, decreasing score
    empty = NMS_IMPLEMENTATIONS.get(name).kernel(boxes[:0], scores[:0], labels[:0], threshold)
    assert len(empty) == 0


def test_coordinate_trick_rounds_large_category_ids() -> None:
    # IoU 10/11 = 0.91 < 0.95: both boxes stay, unless float32 offsets of 1e6 * 112 round them.
    boxes = torch.tensor([[100.0, 100.0, 110.0, 110.0], [100.0, 100.0, 110.0, 111.0]])
    scores, labels = torch.tensor([0.9, 0.8]), torch.tensor([10**6, 10**6])
    kept = {
        n: NMS_IMPLEMENTATIONS.get(n).kernel(boxes, scores, labels, 0.95).tolist()
        for n in NMS_IMPLEMENTATIONS
    }
    assert kept["torchvision-per-class"] == kept["onnxruntime"] == [0, 1]
    assert kept["torchvision-coordinate-trick"] == [0]


def test_legacy_decoding_by_hand() -> None:
    box = torch.tensor([[0.0, 0.0, 9.0, 9.0]])  # 10 pixels wide counted the legacy way
    zero = decode_legacy(torch.zeros(1, 4), box, (1.0, 1.0, 1.0, 1.0), 10.0)
    torch.testing.assert_close(zero, box)  # the convention is consistent with itself
    doubled = torch.tensor([[0.0, 0.0, float(np.log(2)), float(np.log(2))]])
    legacy = decode_legacy(doubled, box, (1.0, 1.0, 1.0, 1.0), 10.0)
    # centre 5, width 20: x1 = 5 - 10, x2 = 5 + 10 - 1 (modern: centre 4.5, width 18).
    torch.testing.assert_close(legacy, torch.tensor([[-5.0, -5.0, 14.0, 14.0]]))


@pytest.fixture(scope="module")
def faster_rcnn():
    return random_detector(
        "fasterrcnn_resnet50_fpn",
        seed=0,
        num_classes=4,
        min_size=96,
        max_size=128,
        rpn_pre_nms_top_n_test=300,
        rpn_post_nms_top_n_test=150,
        box_detections_per_img=30,
        box_nms_thresh=0.2,
    )


@pytest.fixture(scope="module")
def image(faster_rcnn) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    size = faster_rcnn.resize.output_size(90, 120)
    return torch.randint(0, 256, (3, *size), dtype=torch.uint8, generator=generator)


def test_patches_on_faster_rcnn(faster_rcnn, image: torch.Tensor) -> None:
    with torch.inference_mode():
        reference = faster_rcnn([image])[0]
        runs = {
            setting: patch_postprocess(faster_rcnn, *setting)([image])[0]
            for setting in [
                ("torchvision-per-class", "model", "model"),
                ("onnxruntime", "model", "model"),
                ("model", "topk-first", "model"),
                ("model", "model", "flipped"),
            ]
        }
        again = faster_rcnn([image])[0]  # the patches leave the model as it was
    assert len(reference) == 30  # detections_per_img: NMS left more than the top-k keeps
    np.testing.assert_array_equal(again.boxes, reference.boxes)
    for nms in ("torchvision-per-class", "onnxruntime"):
        np.testing.assert_array_equal(runs[(nms, "model", "model")].boxes, reference.boxes)
    topk = runs[("model", "topk-first", "model")]
    assert len(topk) < len(reference)  # NMS after the top 30 leaves fewer than 30
    flipped = runs[("model", "model", "flipped")]
    assert len(flipped) == len(reference)
    # The region proposals move too, so NMS keeps other boxes: compare the sets, not rows.
    assert not np.array_equal(flipped.boxes, reference.boxes)


def test_not_applicable_and_unknown(faster_rcnn) -> None:
    assert "already runs torchvision-batched" in postprocess_not_applicable(
        faster_rcnn, "torchvision-batched", "model", "model"
    )
    assert postprocess_not_applicable(faster_rcnn, "onnxruntime", "topk-first", "flipped") is None
    fcos = random_detector("fcos_resnet50_fpn", num_classes=3, min_size=64, max_size=64)
    assert "distances from anchor centres" in postprocess_not_applicable(
        fcos, "model", "model", "flipped"
    )
    assert "not a detector" in postprocess_not_applicable(
        torch.nn.Identity(), "onnxruntime", "model", "model"
    )
    with pytest.raises(SysnoiseError, match="valid: model, torchvision-batched"):
        patch_postprocess(faster_rcnn, "fast-nms", "model", "model")
    with pytest.raises(SysnoiseError, match="not applicable"):
        patch_postprocess(fcos, "model", "model", "flipped")
