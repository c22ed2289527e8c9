"""Classification: a fixed-size centre crop in, the top-5 classes and their logits out."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import numpy as np

from sysnoise.noises.resizers import RESIZERS
from sysnoise.pipeline import (
    Pipeline,
    center_crop,
    center_crop_or_pad,
    crop_resize_box,
    resized_size,
)
from sysnoise.store import TOP_K, Prediction
from sysnoise.tasks.base import Task

if TYPE_CHECKING:
    from sysnoise.document import TypedDocument
    from sysnoise.engine import Evaluation, ModelRunner
    from sysnoise.results import RunInputs


class ClassificationTask(Task):
    """Top-5 per image; scored by `sysnoise.results` (accuracy, flip rate, McNemar)."""

    name = "classification"
    store_kind = "top5"

    def model_input(self, image: np.ndarray, pipeline: Pipeline) -> np.ndarray:
        return resize_and_crop(image, pipeline)

    def forward(
        self,
        runner: ModelRunner,
        model_side: Hashable,
        crops: np.ndarray,
        table: np.ndarray,
        check: Callable[[np.ndarray], None],
    ) -> list[Any]:
        top, scores = runner.predict(model_side, crops, table, TOP_K, check)
        return [(top[row].astype(np.int64), scores[row]) for row in range(len(crops))]

    def prediction(
        self, output: Any, input_hash: str, max_abs_diff: int | None, mse: float | None
    ) -> Prediction:
        return Prediction(output[0], output[1], input_hash, max_abs_diff, mse)

    def allocate(self, n: int) -> np.ndarray:
        return np.full((n, TOP_K), -1, dtype=np.int64)  # -1: no prediction

    def record(self, table: np.ndarray, index: int, prediction: Prediction) -> None:
        table[index] = prediction.top5

    def failed(self, table: np.ndarray) -> np.ndarray:
        return table[:, 0] < 0

    def document(self, run: RunInputs, evaluation: Evaluation) -> TypedDocument:
        from sysnoise.results import build_result

        return build_result(run, evaluation)

    def predictions_frame(self, run: RunInputs, evaluation: Evaluation) -> Any:
        from sysnoise.results import predictions_frame

        return predictions_frame(run, evaluation)


def resize_and_crop(image: np.ndarray, pipeline: Pipeline) -> np.ndarray:
    """The pipeline's resize protocol, then its centre crop (or pad, for "border")."""
    resizer = RESIZERS.get(pipeline.resizer)
    crop = pipeline.crop_size
    if pipeline.resize_protocol == "crop-resize":
        top, left, side = crop_resize_box(
            image.shape[0], image.shape[1], pipeline.resize_size, crop
        )
        square = np.ascontiguousarray(image[top : top + side, left : left + side])
        return resizer.resize(square, crop, crop)
    height, width = resized_size(
        image.shape[0], image.shape[1], pipeline.resize_size, pipeline.resize_protocol
    )
    resized = resizer.resize(image, height, width)
    if pipeline.resize_protocol == "border":
        return center_crop_or_pad(resized, crop, tuple(round(255 * v) for v in pipeline.mean))
    return center_crop(resized, crop)
