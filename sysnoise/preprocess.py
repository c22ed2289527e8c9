"""From file bytes to model inputs, doing each decode and each resize once per image."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import xxhash

from sysnoise.noises.colour import apply_colour
from sysnoise.noises.decoders import DECODERS, DecodeError, decode
from sysnoise.noises.exif import orient
from sysnoise.noises.resizers import RESIZERS
from sysnoise.pipeline import Pipeline
from sysnoise.tasks.classification import resize_and_crop


class PreprocessError(Exception):
    """One image could not be turned into a model input under one pipeline."""


def array_hash(array: np.ndarray) -> str:
    """Content hash of an array, shape and dtype included (128-bit XXH3: a 224x224 crop costs
    microseconds, and 2^-64 odds of a collision among 2^32 inputs)."""
    digest = xxhash.xxh3_128(f"{array.shape}{array.dtype}".encode())
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def input_difference(crop: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """Max absolute difference and mean squared difference of two uint8 arrays of one shape.

    The squares of uint8 differences fit in uint16 and their sum in an integer, exactly, so the
    mean equals numpy's float64 mean of the squared differences bit for bit, at half its cost.
    """
    import cv2

    difference = cv2.absdiff(crop, reference)
    squares = np.square(difference, dtype=np.uint16).sum(dtype=np.uint64)
    return int(difference.max()), int(squares) / difference.size


class ImagePreparer:
    """The uint8 model inputs of one file under many pipelines.

    Decodes once per distinct decoder (and size hint, for DCT-domain decoding), EXIF handling and
    colour path, and resizes once per distinct decoded image and resize: two decoders that agree
    bit for bit share their resizes. `geometry` turns a decoded image into the model input (a
    task's `model_input`; default: classification's resize and centre crop).
    """

    def __init__(
        self, data: bytes, geometry: Callable[[np.ndarray, Pipeline], np.ndarray] | None = None
    ) -> None:
        self.data = data
        self._geometry = geometry if geometry is not None else resize_and_crop
        self._decoded: dict[tuple, tuple[np.ndarray, str] | PreprocessError] = {}
        self._inputs: dict[tuple, np.ndarray] = {}

    def model_input(self, pipeline: Pipeline) -> np.ndarray:
        """The HxWx3 uint8 input the model sees (before normalisation); PreprocessError if none."""
        image, image_hash = self._decode(pipeline)
        key = (image_hash, pipeline.pixel_side.after_decoding)
        if key not in self._inputs:
            try:
                self._inputs[key] = np.ascontiguousarray(self._geometry(image, pipeline))
            except Exception as exc:  # one bad image must not stop a run
                raise PreprocessError(f"{pipeline.resizer}: {type(exc).__name__}: {exc}") from exc
        return self._inputs[key]

    def _decode(self, pipeline: Pipeline) -> tuple[np.ndarray, str]:
        decoder = DECODERS.get(pipeline.decoder)
        min_side = pipeline.resize_size if decoder.uses_min_side else None
        key = (decoder.name, min_side, pipeline.colour, pipeline.exif)
        if key not in self._decoded:
            try:
                if pipeline.colour != "rgb":
                    plain, _ = self._decode(pipeline.with_changes(colour="rgb"))
                    image = apply_colour(pipeline.colour, plain)
                elif pipeline.exif == "apply":
                    stored, _ = self._decode(pipeline.with_changes(exif="ignore"))
                    image = orient(self.data, stored)
                else:
                    image = decode(decoder.name, self.data, pipeline.resize_size)
                self._decoded[key] = (image, array_hash(image))
            except DecodeError as exc:
                self._decoded[key] = PreprocessError(str(exc))
            except PreprocessError as exc:
                self._decoded[key] = exc
        result = self._decoded[key]
        if isinstance(result, PreprocessError):
            raise result
        return result


def pixel_side_unavailable(pipeline: Pipeline) -> str | None:
    """Why `pipeline`'s decoder or resizer cannot run here (no GPU, no side environment)."""
    for kind, entry in (
        ("decoder", DECODERS.get(pipeline.decoder)),
        ("resizer", RESIZERS.get(pipeline.resizer)),
    ):
        reason = entry.unavailable_reason()
        if reason is not None:
            return f"{kind} {entry.name!r}: {reason}"
    return None


def model_input(data: bytes, pipeline: Pipeline) -> np.ndarray:
    """The uint8 crop for one file under one pipeline."""
    return ImagePreparer(data).model_input(pipeline)


def normalise(crops: np.ndarray, pipeline: Pipeline) -> np.ndarray:
    """(N, H, W, 3) uint8 crops to the (N, 3, H, W) float32 batch the model takes.

    The same operations as torchvision's ImageClassification preset: divide by 255, subtract the
    mean, divide by the std, so the reference input matches it bit for bit. Each is exactly
    rounded per element, so they are applied once to the 256 values of each channel and the
    crops are looked up in that table.
    """
    return normalise_with_table(crops, normalisation_table(pipeline.mean, pipeline.std))


def normalise_with_table(crops: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 crops to a (N, 3, H, W) float32 batch through a `normalisation_table`."""
    import cv2

    count, height, width, _ = crops.shape
    batch = np.empty((count, 3, height, width), dtype=np.float32)
    for channel in range(3):
        plane = np.ascontiguousarray(crops[..., channel]).reshape(count * height, width)
        looked_up = cv2.LUT(plane, table[channel].reshape(1, 256))
        batch[:, channel] = looked_up.reshape(count, height, width)
    return batch


@lru_cache(maxsize=8)
def normalisation_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(3, 256) float32: channel c's normalised value of every uint8 value, as torchvision's
    preset computes it."""
    import torch
    from torchvision.transforms.v2.functional import normalize

    values = torch.arange(256, dtype=torch.uint8).expand(1, 3, 1, 256)
    table = normalize(values.float().div(255), list(mean), list(std)).reshape(3, 256).numpy()
    table.flags.writeable = False
    return table
