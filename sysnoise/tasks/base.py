"""What a task gives the one engine loop: model inputs, per-image predictions, their storage."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sysnoise.pipeline import Pipeline

if TYPE_CHECKING:
    from sysnoise.document import TypedDocument
    from sysnoise.engine import Evaluation, ModelRunner
    from sysnoise.results import RunInputs
    from sysnoise.store import Prediction


class Task(ABC):
    """One kind of prediction (classification, segmentation, detection) as the engine sees it.

    The engine decodes, hashes, batches and caches; the task decides the geometry of the model
    input, which inputs may share a batch, what a model side's outputs become per image, how that
    prediction is stored, and what "no prediction" looks like in the per-pipeline tables of an
    `Evaluation`; then how a finished evaluation is scored (`document`, `predictions_frame`;
    the scoring itself lives in each task's own module).
    """

    name: ClassVar[str] = ""
    # the prediction-store table whose rows this task writes (see `sysnoise.store`)
    store_kind: ClassVar[str] = "top5"

    @abstractmethod
    def model_input(self, image: np.ndarray, pipeline: Pipeline) -> np.ndarray:
        """The HxWx3 uint8 model input (before normalisation) from a decoded RGB image."""

    def batch_group(self, model_input: np.ndarray) -> Hashable:
        """Inputs with equal groups may share one forward batch (default: equal shapes)."""
        return model_input.shape

    def max_batch(self, input_shape: tuple[int, ...], batch_size: int) -> int:
        """How many inputs of `input_shape` one forward takes (default: the batch size)."""
        return batch_size

    def queue_limit(self, batch_size: int) -> int | None:
        """Queued inputs at which every batch runs, full or not (None: only full batches run
        before the end; right when every input has one shape, as a classifier's crops)."""
        return None

    def example_shape(self, reference: Pipeline) -> tuple[int, int, int, int]:
        """The (1, 3, H, W) batch shape that probes model patches and exports the model."""
        return (1, 3, reference.crop_size, reference.crop_size)

    @abstractmethod
    def forward(
        self,
        runner: ModelRunner,
        model_side: Hashable,
        crops: np.ndarray,
        table: np.ndarray,
        check: Callable[[np.ndarray], None],
    ) -> list[Any]:
        """One per-image output per crop of a (N, H, W, 3) uint8 batch under `model_side`."""

    @abstractmethod
    def prediction(
        self, output: Any, input_hash: str, max_abs_diff: int | None, mse: float | None
    ) -> Prediction:
        """The store row of one output (with its input hash and input-side difference)."""

    def failure(self, message: str) -> Prediction:
        """The store row of an image this pipeline could not turn into a model input."""
        from sysnoise.store import Prediction

        return Prediction(None, None, None, None, None, message)

    @abstractmethod
    def allocate(self, n: int) -> Any:
        """An empty per-pipeline table for `n` images (every image without a prediction)."""

    @abstractmethod
    def record(self, table: Any, index: int, prediction: Prediction) -> None:
        """Put image `index`'s prediction (never an error) into `table`."""

    @abstractmethod
    def failed(self, table: Any) -> np.ndarray:
        """(N,) bool: images without a prediction in `table`."""

    @abstractmethod
    def document(self, run: RunInputs, evaluation: Evaluation) -> TypedDocument:
        """The typed results document: one row per noise, scored against the labels or
        the reference pipeline's own predictions."""

    @abstractmethod
    def predictions_frame(self, run: RunInputs, evaluation: Evaluation) -> Any:
        """The per-image side file (a pandas DataFrame) the document's numbers come from."""
