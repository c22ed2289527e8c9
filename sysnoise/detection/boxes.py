"""Per-image boxes: what a detector predicts and what an annotation file says is there."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """One image's detections: `boxes` N x 4 (x1, y1, x2, y2, pixels of the original image),
    `scores` N, `labels` N (category ids); `masks`, for instance-segmentation models, N COCO RLEs
    (`sysnoise.detection.masks.encode_masks`, at the size of the image the model saw)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    masks: tuple[dict, ...] | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "labels", np.asarray(self.labels, dtype=np.int64).reshape(-1))
        if not len(self.boxes) == len(self.scores) == len(self.labels):
            raise ValueError(
                f"detections need as many boxes, scores and labels: "
                f"{len(self.boxes)}, {len(self.scores)}, {len(self.labels)}"
            )
        if self.masks is not None:
            object.__setattr__(self, "masks", tuple(self.masks))
            if len(self.masks) != len(self.boxes):
                raise ValueError(f"{len(self.masks)} masks for {len(self.boxes)} detections")

    def __len__(self) -> int:
        return len(self.boxes)

    def above(self, threshold: float) -> Detections:
        """The detections whose score is at least `threshold`."""
        keep = self.scores >= threshold
        masks = None if self.masks is None else tuple(np.array(self.masks, dtype=object)[keep])
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep], masks)

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0))


@dataclass(frozen=True)
class GroundTruth:
    """One image's annotated objects: `boxes` N x 4 (x1, y1, x2, y2), `labels` N; `areas` (COCO's
    object areas; box areas when not given) and `crowd` flags (crowd regions are neither missed
    nor matched, as in COCO)."""

    boxes: np.ndarray
    labels: np.ndarray
    areas: np.ndarray | None = None
    crowd: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    masks: tuple[dict, ...] | None = None  # COCO RLEs, where the objects have masks

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "labels", np.asarray(self.labels, dtype=np.int64).reshape(-1))
        areas = box_areas(boxes) if self.areas is None else np.asarray(self.areas, dtype=np.float64)
        object.__setattr__(self, "areas", areas)
        crowd = np.asarray(self.crowd, dtype=bool).reshape(-1)
        object.__setattr__(self, "crowd", crowd if len(crowd) else np.zeros(len(boxes), bool))
        if not len(self.boxes) == len(self.labels) == len(self.areas) == len(self.crowd):
            raise ValueError("ground truth needs as many boxes, labels, areas and crowd flags")

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def from_detections(cls, detections: Detections) -> GroundTruth:
        """Detections taken as the objects that are there (agreement with a reference)."""
        return cls(detections.boxes, detections.labels, masks=detections.masks)


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of x1, y1, x2, y2 boxes (zero for inverted ones)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
