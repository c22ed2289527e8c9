"""The evaluation engine: one model, one dataset, many pipelines, each piece of work done once.

The model inputs come from an image source: files decoded on the fly (`FileSource`: each file is
read once, decoded once per decoder and resized once per distinct resize by `ImagePreparer`), or
crops stored earlier (`sysnoise.imagenet_s.source.StoredSource`). A DataLoader worker asks the
source for the inputs of the pipelines whose predictions are not cached yet. The main process runs
each model side (backend, precision, patches: see `sysnoise.variants`) once per distinct model
input (identical inputs, e.g. from two decoders that agree, share one forward pass by content hash)
and writes each prediction to the store, so an interrupted run resumes where it stopped.

What differs between tasks (classification, segmentation, ...) is the task's (`sysnoise.tasks`):
the input geometry, which inputs share a batch, what the outputs become and how they are stored.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sysnoise.backends.base import Backend
from sysnoise.datasets import Dataset, ImageRecord
from sysnoise.errors import SysnoiseError
from sysnoise.fileio import read_regular_file
from sysnoise.noises.decoders import DECODERS
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import (
    ImagePreparer,
    PreprocessError,
    array_hash,
    input_difference,
    normalisation_table,
)
from sysnoise.store import DensePrediction, Prediction, PredictionStore
from sysnoise.tasks import Task, task_for
from sysnoise.tasks.classification import ClassificationTask


class ModelRunner(Protocol):
    """What the engine needs of a model: which model side a pipeline runs on, and running it."""

    def model_side(self, pipeline: Pipeline) -> Hashable:
        """The model side `pipeline` runs on; pipelines with equal model sides share forwards."""

    def store_key(self, pipeline: Pipeline) -> str:
        """The prediction-store key of `pipeline`'s predictions."""

    def infer(self, model_side: Hashable, batch: np.ndarray) -> np.ndarray:
        """Outputs (logits) of `model_side` on a normalised batch."""

    def predict(
        self,
        model_side: Hashable,
        crops: np.ndarray,
        table: np.ndarray,
        k: int,
        check: Callable[[np.ndarray], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k classes and scores of `model_side` on uint8 crops (see `Backend.predict`)."""


class SingleBackend:
    """A ModelRunner over one prepared backend: every pipeline must keep the default model side."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def model_side(self, pipeline: Pipeline) -> Hashable:
        if pipeline.model_side != Pipeline().model_side:
            raise ValueError(
                f"pipeline {pipeline.key} changes the model side ({pipeline.model_side.label}); "
                "evaluate it with sysnoise.variants.ModelVariants"
            )
        return None

    def store_key(self, pipeline: Pipeline) -> str:
        return pipeline.key

    def infer(self, model_side: Hashable, batch: np.ndarray) -> np.ndarray:
        return self.backend.infer(batch)

    def predict(
        self,
        model_side: Hashable,
        crops: np.ndarray,
        table: np.ndarray,
        k: int,
        check: Callable[[np.ndarray], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.backend.predict(crops, table, k, check)


@dataclass(frozen=True)
class EngineOptions:
    """How to run: batch size of forward passes, decoding workers, progress bar."""

    batch_size: int = 32
    workers: int = 0
    progress: bool = True


@dataclass
class Evaluation:
    """Per-image outcomes of every pipeline, aligned with `image_ids`."""

    image_ids: list[str]
    labels: np.ndarray
    image_hashes: list[str | None]
    # pipeline key -> the task's table (classification: (N, 5) top-5, -1 = none)
    predictions: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> image id -> message
    max_abs_diff: dict[str, np.ndarray] = field(default_factory=dict)  # -1 = unknown
    mse: dict[str, np.ndarray] = field(default_factory=dict)  # NaN = unknown
    forwards: int = 0  # model inputs run through the backend in this run
    cached: int = 0  # predictions taken from the store
    task: str = "classification"  # a `sysnoise.tasks.TASKS` name

    @property
    def top5(self) -> dict[str, np.ndarray]:
        """Classification's tables: pipeline key -> (N, 5) top-5, -1 = none."""
        return self.predictions

    def failed(self, key: str) -> np.ndarray:
        """Images without a prediction under pipeline `key`."""
        return task_for(self.task).failed(self.predictions[key])

    def record(
        self,
        index: int,
        key: str,
        prediction: Prediction | DensePrediction,
        task: Task | None = None,
    ) -> None:
        """Put image `index`'s outcome under pipeline `key`: its prediction and input
        difference, or its error. `task` (default: the registered one named `self.task`) fills
        the prediction table."""
        if prediction.error is not None:
            self.errors[key][self.image_ids[index]] = prediction.error
            return
        (task or task_for(self.task)).record(self.predictions[key], index, prediction)
        if prediction.max_abs_diff is not None:
            self.max_abs_diff[key][index] = prediction.max_abs_diff
        if prediction.mse is not None:
            self.mse[key][index] = prediction.mse


# A reference crop (None: none), and a crop's max abs and mean squared difference from it.
_Difference = tuple[np.ndarray | None, int | None, float | None]


@dataclass
class Work:
    """What an image source prepared for one image: its content hash, the store's cached
    predictions, and per missing pipeline either a model input or an error."""

    index: int
    image_hash: str | None
    cached: dict[str, Prediction]
    inputs: dict[str, tuple[str, int | None, float | None]]  # key -> (input hash, max abs, mse)
    crops: dict[str, np.ndarray]  # input hash -> uint8 crop
    errors: dict[str, str]
    # crops that pipelines share (one object): hashed and compared with the reference once; each
    # entry holds its crop, so no other array can take its id while this Work is being filled
    _seen: dict[int, tuple[np.ndarray, str, int | None, float | None]] = field(default_factory=dict)
    # differences from the reference by crop content: equal crops of other pipelines (decoders
    # that agree) are compared once; each entry holds its reference, for the same reason
    _differences: dict[tuple[str, int], _Difference] = field(default_factory=dict)

    def __getstate__(self) -> dict:
        # a worker sends the crops once, in `crops`
        return {**self.__dict__, "_seen": {}, "_differences": {}}

    def add_input(
        self, key: str, pipeline: Pipeline, crop: np.ndarray, reference: np.ndarray | None
    ) -> None:
        """Queue `crop` as pipeline `key`'s model input, with its difference from `reference`."""
        if id(crop) not in self._seen:
            crop_hash = array_hash(crop)
            known = self._differences.get((crop_hash, id(reference)))
            if known is None:
                max_abs, mse = None, None
                if reference is not None and reference.shape == crop.shape:
                    max_abs, mse = input_difference(crop, reference)
                known = self._differences[crop_hash, id(reference)] = (reference, max_abs, mse)
            self._seen[id(crop)] = (crop, crop_hash, *known[1:])
        _, crop_hash, max_abs, mse = self._seen[id(crop)]
        input_hash = crop_hash + f"/{pipeline.mean}/{pipeline.std}"
        self.inputs[key] = (input_hash, max_abs, mse)
        self.crops[input_hash] = crop


class ImageSource(Protocol):
    """Where model inputs come from: the images (ids, labels) and, per image, the uint8 crops
    of the pipelines the store has no prediction for. Picklable: DataLoader workers use it."""

    records: tuple[ImageRecord, ...]

    def store_key(self, pipeline: Pipeline, key: str) -> str:
        """The store key of `pipeline`'s predictions from this source (`key`: the runner's)."""

    def needs_spawn(self, pipelines: list[Pipeline]) -> bool:
        """Whether workers must be spawned, not forked (CUDA in the workers)."""

    def prepare(self, index: int, pipelines: dict[str, Pipeline], store: PredictionStore) -> Work:
        """Image `index`: cached predictions from `store`, and inputs or errors for the rest
        (`pipelines`: store key -> pipeline, the reference first)."""


class FileSource:
    """Image files decoded on the fly, each read once and decoded once per decoder; `task`
    shapes the model inputs (default: classification's crop)."""

    def __init__(self, dataset: Dataset, task: Task | None = None) -> None:
        self.dataset = dataset
        self.records = dataset.records
        self.task = task if task is not None else ClassificationTask()

    def store_key(self, pipeline: Pipeline, key: str) -> str:
        return key

    def needs_spawn(self, pipelines: list[Pipeline]) -> bool:
        # A forked worker cannot use CUDA once the parent has: GPU decoders need spawned workers.
        return any(DECODERS.get(p.decoder).needs_gpu for p in pipelines)

    def prepare(self, index: int, pipelines: dict[str, Pipeline], store: PredictionStore) -> Work:
        record = self.records[index]
        keys = list(pipelines)
        try:
            data = read_regular_file(record.path)
        except OSError as exc:
            message = f"cannot read {record.path}: {exc.strerror or exc}"
            return Work(index, None, {}, {}, {}, dict.fromkeys(keys, message))
        image_hash = hashlib.sha256(data).hexdigest()
        cached = store.lookup(image_hash, keys)
        work = Work(index, image_hash, cached, {}, {}, {})
        missing = {k: p for k, p in pipelines.items() if k not in cached}
        if not missing:
            return work
        preparer = ImagePreparer(data, self.task.model_input)
        try:
            reference_input = preparer.model_input(next(iter(pipelines.values())))
        except PreprocessError:
            reference_input = None
        for key, pipeline in missing.items():
            try:
                crop = preparer.model_input(pipeline)
            except PreprocessError as exc:
                work.errors[key] = str(exc)
                continue
            work.add_input(key, pipeline, crop, reference_input)
        return work


class _PrepareImages:
    """Map-style dataset over a source's images, for the DataLoader: each worker opens its own
    store connection and asks the source for what is missing."""

    def __init__(
        self,
        source: ImageSource,
        pipelines: dict[str, Pipeline],
        store_path: Path,
        model_fingerprint: str,
        store_kind: str = "top5",
    ) -> None:
        self.source = source
        self.pipelines = pipelines  # store key -> pipeline, the reference first
        self.store_path = store_path
        self.model_fingerprint = model_fingerprint
        self.store_kind = store_kind
        self._store: PredictionStore | None = None

    def __len__(self) -> int:
        return len(self.source.records)

    def __getitem__(self, index: int) -> Work:
        if self._store is None:  # opened here: each worker process needs its own connection
            self._store = PredictionStore(
                self.store_path, self.model_fingerprint, kind=self.store_kind
            )
        return self.source.prepare(index, self.pipelines, self._store)


def _identity(item: Work) -> Work:
    return item


def _worker_init(_: int) -> None:
    import torch

    from sysnoise.lifetime import die_with_parent

    die_with_parent()
    torch.set_num_threads(1)


class Forwarder:
    """Queues distinct (model side, model input) pairs, runs them in batches per model side.

    The one place where model inputs are batched and run. The uint8 crops go to the task, which
    has the runner normalise them where its model runs (on a GPU: on the device) and reduces the
    outputs per image (classification: top-5). Only inputs of one batch group (the task's; by
    default equal shapes) share a batch."""

    def __init__(
        self, runner: ModelRunner, reference: Pipeline, batch_size: int, task: Task | None = None
    ) -> None:
        self.runner = runner
        self.reference = reference
        self.batch_size = batch_size
        self.task = task if task is not None else ClassificationTask()
        self.table = normalisation_table(reference.mean, reference.std)
        self.pending: dict[tuple[Hashable, Hashable], dict[str, np.ndarray]] = {}
        self.forwards = 0

    def add(self, model_side: Hashable, input_hash: str, crop: np.ndarray) -> None:
        group = (model_side, self.task.batch_group(crop))
        self.pending.setdefault(group, {}).setdefault(input_hash, crop)

    def largest(self) -> int:
        return max((len(p) for p in self.pending.values()), default=0)

    def queued(self) -> int:
        return sum(len(p) for p in self.pending.values())

    def run(self, final: bool) -> Iterator[dict[tuple[Hashable, str], Any]]:
        """Forward full batches (all if `final`); yields outputs by (model side, input hash)."""
        for (model_side, _), pending in self.pending.items():
            hashes = list(pending)
            if not final:
                hashes = hashes[: len(hashes) - len(hashes) % self.batch_size]
            if not hashes:
                continue
            step = self.task.max_batch(pending[hashes[0]].shape, self.batch_size)
            for start in range(0, len(hashes), step):
                chunk = hashes[start : start + step]
                crops = np.stack([pending[h] for h in chunk])
                check = functools.partial(_check_logits, model_side=model_side)
                outputs = self.task.forward(self.runner, model_side, crops, self.table, check)
                self.forwards += len(chunk)
                for input_hash in chunk:
                    del pending[input_hash]
                yield {(model_side, h): outputs[row] for row, h in enumerate(chunk)}


def _check_logits(logits: np.ndarray, model_side: Hashable) -> None:
    """Stop on outputs that would score as class 0 without meaning it: NaN or infinite logits
    (broken weights, an overflow) or a batch whose every row is one constant. Dense outputs
    (N, C, H, W) are checked per image over every class and pixel."""
    if logits.ndim > 2:
        logits = logits.reshape(len(logits), -1)
    finite = np.isfinite(logits).all(axis=1)
    label = getattr(model_side, "label", model_side)
    where = "" if model_side is None else f" under model side {label}"
    if not finite.all():
        raise SysnoiseError(
            f"the model gave non-finite logits (NaN or inf) for {int((~finite).sum())} of "
            f"{len(logits)} inputs{where}; the weights are broken or the computation overflows, "
            "so no accuracy can be measured; check the weights file"
        )
    if logits.shape[1] > 1 and (logits.max(axis=1) == logits.min(axis=1)).all():
        raise SysnoiseError(
            f"the model gave the same value for every class on all {len(logits)} inputs of a "
            f"batch{where}; its outputs do not depend on the image; check the weights file"
        )


def evaluate(
    source: Dataset | ImageSource,
    pipelines: list[Pipeline],
    runner: Backend | ModelRunner,
    store: PredictionStore,
    options: EngineOptions,
    task: Task | None = None,
) -> Evaluation:
    """Predictions of every pipeline on every image; `pipelines[0]` is the reference.

    `source` is a Dataset (its files decoded on the fly) or another `ImageSource`. `runner` is a
    prepared backend (every pipeline then keeps the default model side) or a `ModelRunner` such
    as `sysnoise.variants.ModelVariants`. `task` (default classification) shapes inputs and
    predictions; `store` must hold its kind of rows. Results are keyed by `pipeline.key`.
    """
    import torch.utils.data
    from tqdm import tqdm

    task = task if task is not None else ClassificationTask()
    if store.kind != task.store_kind:
        raise ValueError(f"a {task.name} evaluation needs a {task.store_kind!r} store")
    if isinstance(runner, Backend):
        runner = SingleBackend(runner)
    if isinstance(source, Dataset):
        source = FileSource(source, task)
    reference = pipelines[0]
    key_of = {p: p.key for p in pipelines}  # a key hashes every field: computed once here
    store_keys = {source.store_key(p, runner.store_key(p)): p for p in pipelines}
    model_sides = {key_of[p]: runner.model_side(p) for p in pipelines}
    pipeline_key = {k: key_of[p] for k, p in store_keys.items()}
    if any((p.mean, p.std) != (reference.mean, reference.std) for p in pipelines):
        raise ValueError("all pipelines of one evaluation must share the reference normalisation")
    records = source.records
    n = len(records)
    result = Evaluation(
        image_ids=[r.image_id for r in records],
        labels=np.array([r.label for r in records], dtype=np.int64),
        image_hashes=[None] * n,
        task=task.name,
    )
    for key in key_of.values():
        result.predictions[key] = task.allocate(n)
        result.errors[key] = {}
        result.max_abs_diff[key] = np.full(n, -1, dtype=np.int64)
        result.mse[key] = np.full(n, np.nan)
    needs_spawn = options.workers and source.needs_spawn(pipelines)
    loader = torch.utils.data.DataLoader(
        _PrepareImages(source, store_keys, store.path, store.model, store.kind),
        batch_size=None,
        num_workers=options.workers,
        collate_fn=_identity,
        worker_init_fn=_worker_init if options.workers else None,
        multiprocessing_context="spawn" if needs_spawn else None,
    )
    forwarder = Forwarder(runner, reference, options.batch_size, task)
    queue_limit = task.queue_limit(options.batch_size)
    waiting: list[tuple[int, str, str, int | None, float | None]] = []

    def flush(final: bool) -> None:
        for outputs in forwarder.run(final):  # store each batch at once: an interruption loses one
            unresolved = []
            for index, key, input_hash, max_abs, mse in waiting:
                output = outputs.get((model_sides[pipeline_key[key]], input_hash))
                if output is None:
                    unresolved.append((index, key, input_hash, max_abs, mse))
                    continue
                prediction = task.prediction(output, input_hash, max_abs, mse)
                store.put(result.image_hashes[index], key, prediction)
                result.record(index, pipeline_key[key], prediction, task)
            waiting[:] = unresolved
            store.commit()

    progress = tqdm(total=n, unit="img", desc="evaluating", disable=not options.progress)
    try:
        for work in loader:
            result.image_hashes[work.index] = work.image_hash
            for key, prediction in work.cached.items():
                result.record(work.index, pipeline_key[key], prediction, task)
                result.cached += 1
            for key, message in work.errors.items():
                if work.image_hash is not None:
                    store.put(work.image_hash, key, task.failure(message))
                result.errors[pipeline_key[key]][result.image_ids[work.index]] = message
            for key, (input_hash, max_abs, mse) in work.inputs.items():
                forwarder.add(model_sides[pipeline_key[key]], input_hash, work.crops[input_hash])
                waiting.append((work.index, key, input_hash, max_abs, mse))
            if forwarder.largest() >= options.batch_size:
                flush(final=False)
            elif queue_limit is not None and forwarder.queued() >= queue_limit:
                flush(final=True)  # inputs of many sizes: run the partial batches too
            progress.update(1)
            progress.set_postfix(forwards=forwarder.forwards + forwarder.queued(), refresh=False)
        flush(final=True)
    finally:
        store.commit()
        progress.close()
        result.forwards = forwarder.forwards
    return result
