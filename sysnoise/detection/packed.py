"""A detector as the engine runs it: one float batch in, one padded tensor of detections out.

The engine's backends run `model(batch) -> tensor`. `PackedDetector` wraps a `TorchvisionDetector`
or an `MTCNNDetector` so that a (N, 3, H, W) batch of pixels in [0, 1] (the detection reference
pipelines normalise with mean 0 and std 1) gives a (N, K, 6) tensor of rows (x1, y1, x2, y2,
score, label) with the box corners as fractions of the input's width and height, padded with
label -1. Fractions map back to any image size exactly (the pipeline's resize scales each axis),
and IoU, hence COCO AP over all areas, is the same in fractions as in pixels.
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
        packed = torch.zeros(len(found), rows, COLUMNS)
        packed[:, :, 5] = -1
        scale = np.float32([width, height, width, height])
        for index, detections in enumerate(found):
            count = len(detections)
            packed[index, :count, :4] = torch.from_numpy(detections.boxes / scale)
            packed[index, :count, 4] = torch.from_numpy(detections.scores)
            packed[index, :count, 5] = torch.from_numpy(detections.labels.astype(np.float32))
        return packed


def unpack(rows: np.ndarray) -> Detections:
    """One image's (K, 6) packed rows as Detections (boxes as fractions of the input)."""
    kept = rows[rows[:, 5] >= 0]
    return Detections(kept[:, :4], kept[:, 4], kept[:, 5].astype(np.int64))
