"""Semantic segmentation: the whole image in, a per-pixel class map out (stored as a PNG).

The model's output is (N, C, H, W) class scores (torchvision's ``out``); the prediction is the
per-pixel argmax (ties to the lower class). Scoring is `sysnoise.tasks.segmentation_metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import numpy as np

from sysnoise.preprocess import normalise_with_table
from sysnoise.tasks.dense import DenseTask, encode_label_map

if TYPE_CHECKING:
    from sysnoise.document import TypedDocument
    from sysnoise.engine import Evaluation, ModelRunner
    from sysnoise.results import RunInputs


class SegmentationTask(DenseTask):
    """Per-pixel classes; mIoU against masks, or agreement with the reference's masks."""

    name = "segmentation"

    def forward(
        self,
        runner: ModelRunner,
        model_side: Hashable,
        crops: np.ndarray,
        table: np.ndarray,
        check: Callable[[np.ndarray], None],
    ) -> list[Any]:
        scores = runner.infer(model_side, normalise_with_table(crops, table))
        if scores.ndim != 4 or scores.shape[0] != len(crops):
            raise ValueError(
                f"a segmentation model must return (N, classes, H, W) scores, got {scores.shape}"
            )
        check(scores)
        classes = np.argmax(scores, axis=1)
        if scores.shape[1] > 255:
            raise ValueError(f"{scores.shape[1]} classes do not fit a uint8 label map")
        return [encode_label_map(labels.astype(np.uint8)) for labels in classes]

    def document(self, run: RunInputs, evaluation: Evaluation) -> TypedDocument:
        from sysnoise.tasks.segmentation_metrics import segmentation_document

        return segmentation_document(run, evaluation)

    def predictions_frame(self, run: RunInputs, evaluation: Evaluation) -> Any:
        from sysnoise.tasks.segmentation_metrics import segmentation_frame

        return segmentation_frame(run, evaluation)
