"""Stored ImageNet-S crops as the engine's image source: the stored uint8 crops take the place of
decoding and resizing; everything after is the engine's, so the numbers equal an on-the-fly run's.
"""

from __future__ import annotations

import numpy as np

from sysnoise.datasets import Dataset, ImageRecord
from sysnoise.engine import Work
from sysnoise.errors import SysnoiseError
from sysnoise.imagenet_s.dataset import StoredSet, StoredVariant
from sysnoise.imagenet_s.plan import StoredPlan
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import PreprocessError
from sysnoise.store import PredictionStore


class StoredSource:
    """The crops of a planned set's variants for `dataset`'s images (all of them by default).

    `dataset` is `stored_dataset(stored)` or a part of it (limited, calibration held out): its
    records are found in the set by image id.
    """

    def __init__(self, stored: StoredSet, plan: StoredPlan, dataset: Dataset | None = None) -> None:
        self.stored = stored
        self.reference = plan.reference
        self.variants = plan.variants  # not the plan: its suite need not pickle for workers
        dataset = dataset if dataset is not None else stored_dataset(stored)
        self.records = dataset.records
        self._rows = {image_id: row for row, image_id in enumerate(stored.image_ids)}
        try:
            self.indices = [self._rows[r.image_id] for r in self.records]
        except KeyError as exc:
            raise SysnoiseError(f"{stored.root} holds no image {exc.args[0]!r}") from None
        self._reference_sha = self._variant(plan.reference).sha256[:16]

    def store_key(self, pipeline: Pipeline, key: str) -> str:
        # keyed by the stored files too: a regenerated variant must not reuse old predictions
        return f"{key}@{self._variant(pipeline).sha256[:16]}/{self._reference_sha}"

    def needs_spawn(self, pipelines: list[Pipeline]) -> bool:
        return False  # the crops are read from disk: no GPU in the workers

    def prepare(self, index: int, pipelines: dict[str, Pipeline], store: PredictionStore) -> Work:
        row = self.indices[index]
        image_hash = self.stored.source_sha256[row]
        variants = {key: self._variant(p) for key, p in pipelines.items()}
        if image_hash is None:  # unreadable when the set was generated: failed everywhere
            errors = {key: v.failures.get(row, "unreadable") for key, v in variants.items()}
            return Work(index, None, {}, {}, {}, errors)
        cached = store.lookup(image_hash, list(pipelines))
        work = Work(index, image_hash, cached, {}, {}, {})
        missing = {k: p for k, p in pipelines.items() if k not in cached}
        if not missing:
            return work
        reference = self._variant(self.reference)
        reference_crop = None
        if row not in reference.failures:
            reference_crop = np.asarray(self.stored.array(reference.name)[row])
        for key, pipeline in missing.items():
            variant = variants[key]
            if row in variant.failures:
                work.errors[key] = variant.failures[row]
                continue
            crop = np.array(self.stored.array(variant.name)[row])  # a copy, in RAM
            work.add_input(key, pipeline, crop, reference_crop)
        return work

    def reference_crop(self, record: ImageRecord) -> np.ndarray:
        """The reference's stored crop of one image (for INT8 calibration)."""
        reference = self._variant(self.reference)
        row = self._rows[record.image_id]
        if row in reference.failures:
            raise PreprocessError(reference.failures[row])
        return np.array(self.stored.array(reference.name)[row])

    def _variant(self, pipeline: Pipeline) -> StoredVariant:
        return self.variants[pipeline.pixel_side]


def stored_dataset(stored: StoredSet) -> Dataset:
    """The set's images as a Dataset (ids and labels; paths point into the set)."""
    description = stored.manifest["dataset"]["description"]
    records = tuple(
        ImageRecord(image_id, stored.root / image_id, int(label))
        for image_id, label in zip(stored.image_ids, stored.labels.tolist(), strict=True)
    )
    return Dataset(
        name=stored.manifest["dataset"]["name"],
        root=stored.root,
        records=records,
        description=f"ImageNet-S set at {stored.root}, generated from: {description}",
    )
