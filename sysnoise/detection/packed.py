"""A detector as the engine runs it: one float batch in, one padded tensor of detections out.

The engine's backends run `model(batch) -> tensor`. `PackedDetector` wraps a `TorchvisionDetector`
or an `MTCNNDetector` so that a (N, 3, H, W) batch of pixels in [0, 1] (the detection reference
pipelines normalise with mean 0 and std 1) gives a (N, K, 6) tensor of rows (x1, y1, x2, y2,
score, label) with the box corners as fractions of the input's width and height, padded with
label -1. Fractions map back to any image size exactly (the pipeline's resize scales each axis),
and IoU, hence COCO AP over all areas, is the same in fractions as in pixels. A detector with
instance masks adds columns after the six: each row's mask as the characters of its COCO RLE
(at the input's size), padded with 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn

from sysnoise.detection.boxes import Detections

if TYPE_CHECKING:
    from sysnoise.backends.base import Backend, BackendContext

COLUMNS = 6  # x1, y1, x2, y2 (fractions of the input), score, label (-1: padding)


class PackedDetector(nn.Module):
    """`detector` (a `TorchvisionDetector` or `MTCNNDetector`) behind a tensor-in, tensor-out
    forward; `family` is the wrapped detector's."""

    def __init__(self, detector: Any) -> None:
        super().__init__()
        self.detector = detector
        self.family = detector.family

    def backend_for(
        self, backend_class: type[Backend], precision: str, context: BackendContext
    ) -> Backend:
        """How `backend_class` runs this detector in `precision`: its networks only, the box code
        stays in torch FP32 (`sysnoise.detection.net_backends`)."""
        from sysnoise.detection.net_backends import detector_backend

        return detector_backend(backend_class, precision, context)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        height, width = batch.shape[-2:]
        if self.family == "mtcnn":  # MTCNN takes 0-255 pixel values
            images = [(image * 255).round().clamp(0, 255).to(torch.uint8) for image in batch]
        else:
            images = list(batch)
        found = self.detector(images)
        rows = max((len(f) for f in found), default=0)
        masks = [rle_codes(f.masks) for f in found if f.masks is not None]
        extra = max((m.shape[1] for m in masks), default=0)
        packed = torch.zeros(len(found), rows, COLUMNS + extra)
        packed[:, :, 5] = -1
        scale = np.float32([width, height, width, height])
        for index, detections in enumerate(found):
            count = len(detections)
            packed[index, :count, :4] = torch.from_numpy(detections.boxes / scale)
            packed[index, :count, 4] = torch.from_numpy(detections.scores)
            packed[index, :count, 5] = torch.from_numpy(detections.labels.astype(np.float32))
            if detections.masks is not None:
                codes = rle_codes(detections.masks)
                packed[index, :count, COLUMNS : COLUMNS + codes.shape[1]] = torch.from_numpy(codes)
        return packed


def unpack(rows: np.ndarray, size: tuple[int, int] | None = None) -> Detections:
    """One image's (K, 6 + mask columns) packed rows as Detections (boxes as fractions of the
    input); masks, where there are mask columns, as RLEs of an input of `size` (height, width)."""
    kept = rows[rows[:, 5] >= 0]
    masks = None
    if rows.shape[1] > COLUMNS:
        if size is None:
            raise ValueError("packed masks need the input's size")
        masks = rles_of(kept[:, COLUMNS:], size)
    return Detections(kept[:, :4], kept[:, 4], kept[:, 5].astype(np.int64), masks)


def rle_codes(rles: tuple[dict, ...]) -> np.ndarray:
    """RLEs' `counts` text as rows of character codes (float32), padded with 0."""
    texts = [rle["counts"].encode("ascii") for rle in rles]
    codes = np.zeros((len(texts), max((len(t) for t in texts), default=0)), dtype=np.float32)
    for row, text in enumerate(texts):
        codes[row, : len(text)] = np.frombuffer(text, dtype=np.uint8)
    return codes


def rles_of(codes: np.ndarray, size: tuple[int, int]) -> tuple[dict, ...]:
    """The RLEs of `rle_codes` rows, each of a (height, width) `size` mask."""
    return tuple(
        {
            "size": [int(size[0]), int(size[1])],
            "counts": bytes(row[row > 0].astype(np.uint8)).decode(),
        }
        for row in codes
    )
