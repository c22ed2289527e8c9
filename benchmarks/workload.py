"""What the engine benchmarks share: the suite's pipelines, a model that costs nothing, the bare
preparation work, and the sample set repeated to any size.

Imported by the scripts beside it (`python benchmarks/engine.py` puts this folder on sys.path).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from sysnoise.backends.base import Backend
from sysnoise.datasets import Dataset, ImageRecord
from sysnoise.noises.suites import SUITES
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import ImagePreparer, PreprocessError, pixel_side_unavailable


def suite_pipelines(suite: str, reference: Pipeline) -> list[Pipeline]:
    """The reference and the suite's distinct pipelines that can run here, as bench evaluates
    them (a decoder that needs a GPU, or a missing side environment, leaves its noises out)."""
    noises = (p for _, p in SUITES.get(suite).resolve(reference))
    runnable = [p for p in noises if pixel_side_unavailable(p) is None]
    return list(dict.fromkeys([reference, *runnable]))


class FreeModel(Backend):
    """A model that costs (almost) nothing: 1,000 logits from a 7x7 grid of the input.

    Its predictions still depend on the pixels, so the engine's sharing by content is exercised
    and a wrong input would show as a changed prediction. The projection is an einsum, not a
    matrix product: a threaded BLAS on a busy machine takes ~20 ms to start its threads for this
    0.1 ms product, which would be charged to the engine."""

    name = "free"

    def _prepare(self, model: object, example: np.ndarray | None) -> None:
        rng = np.random.default_rng(0)
        self._projection = rng.standard_normal((3 * 7 * 7, 1000)).astype(np.float32)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        step_h, step_w = batch.shape[2] // 7, batch.shape[3] // 7
        grid = batch[:, :, : step_h * 7 : step_h, : step_w * 7 : step_w]
        return np.einsum("ij,jk->ik", grid.reshape(len(batch), -1), self._projection)


def free_model() -> FreeModel:
    """A prepared FreeModel."""
    model = FreeModel()
    model.prepare(None)
    return model


def bare_preparation_seconds(records: tuple[ImageRecord, ...], pipelines: list[Pipeline]) -> float:
    """Wall time of the work itself in one process: read each file once, decode once per decoder,
    resize once per distinct resize (as the engine's preparer does), nothing else."""
    started = time.perf_counter()
    for record in records:
        preparer = ImagePreparer(record.path.read_bytes())
        for pipeline in pipelines:
            try:
                preparer.model_input(pipeline)
            except PreprocessError:
                pass
    return time.perf_counter() - started


def repeated_dataset(dataset: Dataset, count: int, folder: Path) -> Dataset:
    """`count` images: `dataset`'s JPEGs repeated under new names, each copy with its own bytes
    (a JPEG comment naming the copy), so no copy is taken from another's cached predictions."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for index in range(count):
        source = dataset.records[index % len(dataset.records)]
        data = source.path.read_bytes()
        if data[:2] != b"\xff\xd8":
            raise ValueError(f"{source.path} is not a JPEG")
        comment = f"copy {index}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        path = folder / f"{index:06d}-{Path(source.image_id).name}"
        path.write_bytes(data[:2] + segment + data[2:])
        records.append(ImageRecord(path.name, path, source.label))
    return Dataset(
        name=f"{dataset.name}x{count}",
        root=folder,
        records=tuple(records),
        description=f"{count} images: {dataset.name} repeated",
    )
