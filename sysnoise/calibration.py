"""INT8 calibration: a held-out slice of the dataset, never scored.

Static quantization fixes each activation's scale from the reference inputs of a few images.
Those images are then left out of every noise's score, the reference's included, so no noise is
measured on an image the quantizer has seen. Calibration needs no labels: unlabelled images are
taken first, then labelled ones, each group in a fixed pseudo-random order (a hash of the image
id), so the slice is the same on every run and does not follow the folder's class order.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sysnoise.backends.base import check_calibration_method
from sysnoise.datasets import UNLABELLED, Dataset, ImageRecord
from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import PreprocessError, model_input, normalise

MAX_AUTO_SIZE = 256
MIN_AUTO_SIZE = 8


@dataclass(frozen=True)
class Calibration:
    """The held-out images and the normalised reference batch made from them."""

    method: str
    image_ids: tuple[str, ...]
    batch: np.ndarray  # (N, 3, H, W) float32

    def describe(self) -> dict:
        """JSON-ready facts for the results file."""
        return {
            "method": self.method,
            "n_images": len(self.image_ids),
            "image_ids": list(self.image_ids),
            "excluded_from_scoring": True,
            "selection": "unlabelled images first, then labelled, in sha256(image id) order",
        }


def default_size(n_images: int) -> int:
    """A tenth of the dataset, at least 8 and at most 256 images."""
    return min(MAX_AUTO_SIZE, max(MIN_AUTO_SIZE, n_images // 10))


def split_calibration(
    dataset: Dataset,
    reference: Pipeline,
    size: int | None,
    method: str,
    reference_crop: Callable[[ImageRecord], np.ndarray] | None = None,
) -> tuple[Calibration, Dataset]:
    """Take `size` images (default: `default_size`) for calibration; the rest is scored.

    `reference_crop` gives an image's reference model input (default: its file decoded under
    `reference`); it raises OSError or PreprocessError for an image it cannot give."""
    check_calibration_method(method)
    size = default_size(len(dataset.records)) if size is None else size
    if size >= len(dataset.records):
        raise SysnoiseError(
            f"INT8 calibration wants {size} images but the dataset has {len(dataset.records)}; "
            "nothing would be left to score (use --calibration N with a smaller N)"
        )
    order = sorted(dataset.records, key=_calibration_order)
    chosen: list[ImageRecord] = []
    crops = []
    for record in order:
        if len(chosen) == size:
            break
        try:
            if reference_crop is None:
                crops.append(model_input(record.path.read_bytes(), reference))
            else:
                crops.append(reference_crop(record))
        except (OSError, PreprocessError):
            continue  # an unreadable image calibrates nothing; it stays in the scored set
        chosen.append(record)
    if not chosen:
        raise SysnoiseError("INT8 calibration found no readable image in the dataset")
    ids = {r.image_id for r in chosen}
    scored = dataclasses.replace(
        dataset, records=tuple(r for r in dataset.records if r.image_id not in ids)
    )
    batch = normalise(np.stack(crops), reference)
    return Calibration(method, tuple(r.image_id for r in chosen), batch), scored


def _calibration_order(record: ImageRecord) -> tuple[bool, str]:
    return record.label != UNLABELLED, hashlib.sha256(record.image_id.encode()).hexdigest()
