"""What dense tasks share: uncropped inputs, one encoded blob per image in the store."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from sysnoise.noises.resizers import RESIZERS
from sysnoise.pipeline import Pipeline, resized_size
from sysnoise.store import DensePrediction
from sysnoise.tasks.base import Task

# "longer" inputs (longer side to the canvas, as text detectors take them) are padded at the
# bottom and right with black to a multiple of this, as easyocr's `resize_aspect_ratio` does.
CANVAS_MULTIPLE = 32
DENSE_PROTOCOLS = ("shorter", "squash", "longer")
# Pixels of one forward batch: 8 images of 520x520. A dense model's activations and outputs grow
# with the image (DeepLabv3-R50 at 520x700 holds gigabytes per 32 images).
BATCH_PIXELS = 8 * 520 * 520


class DenseTask(Task):
    """A task whose model sees the whole image (no crop) and predicts per pixel or per object.

    Inputs: "shorter" (shorter side to `resize_size`, as torchvision's segmentation presets),
    "squash", or "longer" (longer side to `resize_size`, then padded to a multiple of
    `CANVAS_MULTIPLE`); `crop_size` is not used. Predictions are stored as encoded bytes and kept
    encoded in the `Evaluation` (a list per pipeline, None: no prediction) until scored.
    """

    store_kind = "dense"

    def model_input(self, image: np.ndarray, pipeline: Pipeline) -> np.ndarray:
        return resize_whole(image, pipeline)

    def max_batch(self, input_shape: tuple[int, ...], batch_size: int) -> int:
        return max(1, min(batch_size, BATCH_PIXELS // (input_shape[0] * input_shape[1])))

    def queue_limit(self, batch_size: int) -> int:
        # Images of many sizes rarely fill a batch of one size: bound what waits in memory.
        return 2 * batch_size

    def example_shape(self, reference: Pipeline) -> tuple[int, int, int, int]:
        side = _round_up(reference.resize_size)
        return (1, 3, side, side)

    def prediction(
        self, output: Any, input_hash: str, max_abs_diff: int | None, mse: float | None
    ) -> DensePrediction:
        return DensePrediction(output, input_hash, max_abs_diff, mse)

    def failure(self, message: str) -> DensePrediction:
        return DensePrediction(None, None, None, None, message)

    def allocate(self, n: int) -> list[bytes | None]:
        return [None] * n

    def record(self, table: list[bytes | None], index: int, prediction: Any) -> None:
        table[index] = prediction.output

    def failed(self, table: list[bytes | None]) -> np.ndarray:
        return np.array([output is None for output in table], dtype=bool)


def resize_whole(image: np.ndarray, pipeline: Pipeline) -> np.ndarray:
    """The whole image resized by the pipeline's protocol (see `DenseTask`), never cropped."""
    if pipeline.resize_protocol not in DENSE_PROTOCOLS:
        raise ValueError(
            f"resize protocol {pipeline.resize_protocol!r} crops; dense tasks take "
            f"{', '.join(DENSE_PROTOCOLS)}"
        )
    height, width = resized_size(
        image.shape[0], image.shape[1], pipeline.resize_size, pipeline.resize_protocol
    )
    resized = RESIZERS.get(pipeline.resizer).resize(image, height, width)
    if pipeline.resize_protocol != "longer":
        return resized
    canvas = np.zeros((_round_up(height), _round_up(width), 3), dtype=np.uint8)
    canvas[:height, :width] = resized
    return canvas


def _round_up(size: int) -> int:
    return -(-size // CANVAS_MULTIPLE) * CANVAS_MULTIPLE


def encode_label_map(labels: np.ndarray) -> bytes:
    """A (H, W) uint8 label map as lossless PNG bytes (a few kB for a 520-pixel mask)."""
    import cv2

    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(labels, dtype=np.uint8))
    if not ok:
        raise ValueError(f"cannot encode a {labels.shape} label map as PNG")
    return encoded.tobytes()


def decode_label_map(data: bytes) -> np.ndarray:
    """The (H, W) uint8 label map of `encode_label_map`."""
    import cv2

    labels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if labels is None or labels.ndim != 2:
        raise ValueError("stored dense prediction is not a one-channel PNG label map")
    return labels


def encode_arrays(**arrays: np.ndarray) -> bytes:
    """Named arrays (e.g. float32 boxes, scores, int64 labels) as compact .npz bytes."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def decode_arrays(data: bytes) -> dict[str, np.ndarray]:
    """The named arrays of `encode_arrays`."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
