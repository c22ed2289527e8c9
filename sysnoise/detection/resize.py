"""The detection resize protocol: shorter side to `min_size` unless the longer passes `max_size`
(Faster R-CNN, RetinaNet, FCOS), or both sides to a fixed size (SSD, SSDlite).

torchvision keeps the protocol in the model's `GeneralizedRCNNTransform`; sysnoise moves it to
the pipeline, so the pipeline's resizer (library, interpolation) does the resize, and the model's
transform is told not to resize again. Boxes come back in the resized image's pixels and are
mapped to the original image by `scale_boxes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sysnoise.pipeline import capped_size


@dataclass(frozen=True)
class DetectionResize:
    """How a detector's transform sizes its input: `min_size`/`max_size`, or `fixed_size`
    (height, width) when set."""

    min_size: int = 800
    max_size: int = 1333
    fixed_size: tuple[int, int] | None = None

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) torchvision's transform resizes a `height` x `width` image to."""
        if self.fixed_size is not None:
            return self.fixed_size
        return capped_size(height, width, self.min_size, self.max_size)

    @classmethod
    def of(cls, transform: Any) -> DetectionResize:
        """The protocol of a torchvision `GeneralizedRCNNTransform` (evaluation size)."""
        fixed = transform.fixed_size
        return cls(
            min_size=int(transform.min_size[-1]),
            max_size=int(transform.max_size),
            fixed_size=None if fixed is None else (int(fixed[1]), int(fixed[0])),
        )


def scale_boxes(
    boxes: np.ndarray, resized: tuple[int, int], original: tuple[int, int]
) -> np.ndarray:
    """x1, y1, x2, y2 boxes in a `resized` (height, width) image mapped to the `original` one."""
    ratio_h, ratio_w = original[0] / resized[0], original[1] / resized[1]
    return np.asarray(boxes, dtype=np.float32) * np.float32([ratio_w, ratio_h, ratio_w, ratio_h])
