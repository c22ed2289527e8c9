"""The first images of a dataset, prepared under the reference and the noisy pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sysnoise.datasets import Dataset
from sysnoise.errors import SysnoiseError
from sysnoise.fileio import read_regular_file
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import ImagePreparer, PreprocessError, normalise


@dataclass(frozen=True)
class PairedInputs:
    """Normalised float32 NCHW batches of the same images under both pipelines."""

    image_ids: tuple[str, ...]
    reference: np.ndarray
    noisy: np.ndarray
    skipped: tuple[str, ...]  # "image id: reason" for images either pipeline could not prepare


def paired_inputs(
    dataset: Dataset, reference: Pipeline, noisy: Pipeline, n_images: int
) -> PairedInputs:
    """The first `n_images` images that both pipelines can prepare, each decoded once."""
    ids: list[str] = []
    ref_crops: list[np.ndarray] = []
    noisy_crops: list[np.ndarray] = []
    skipped: list[str] = []
    for record in dataset.records:
        if len(ids) == n_images:
            break
        try:
            preparer = ImagePreparer(read_regular_file(record.path))
            ref_crop, noisy_crop = preparer.model_input(reference), preparer.model_input(noisy)
        except (OSError, PreprocessError) as exc:
            skipped.append(f"{record.image_id}: {exc}")
            continue
        ids.append(record.image_id)
        ref_crops.append(ref_crop)
        noisy_crops.append(noisy_crop)
    if not ids:
        detail = f" ({skipped[0]})" if skipped else ""
        raise SysnoiseError(
            f"no image of {dataset.name} could be prepared for both pipelines{detail}"
        )
    return PairedInputs(
        tuple(ids),
        normalise(np.stack(ref_crops), reference),
        normalise(np.stack(noisy_crops), noisy),
        tuple(skipped),
    )
