"""`bench`: evaluate one model on one dataset under one suite and write the results."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.backends.base import BackendContext
from sysnoise.calibration import calibration_from_folder, split_calibration
from sysnoise.config import BenchConfig
from sysnoise.datasets import Dataset, ImageRecord, load_folder, sample_dataset
from sysnoise.distributed import current_shard
from sysnoise.document import ResultDocument
from sysnoise.engine import EngineOptions, Evaluation, FileSource, ImageSource, evaluate
from sysnoise.errors import SysnoiseError
from sysnoise.hashing import model_fingerprint
from sysnoise.noises.noise_names import resolve_suite
from sysnoise.noises.suites import Noise, Suite
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import pixel_side_unavailable
from sysnoise.results import RunInputs, SkippedNoise, result_stem, write_result
from sysnoise.sources.base import LoadedModel, ModelSource
from sysnoise.store import PredictionStore
from sysnoise.tasks import task_for
from sysnoise.variants import ModelVariants
from sysnoise.weights import load_model
from sysnoise.zoo import ModelSpec, open_model


@dataclass(frozen=True)
class BenchOutcome:
    """A finished run: the document, where it was written, and the raw evaluation."""

    document: dict[str, Any]
    json_path: Path
    evaluation: Evaluation


def load_dataset(config: BenchConfig, task: str = "classification") -> Dataset:
    """The dataset the config names (the sample set when no folder is given), limited; for
    segmentation a VOC-style folder (JPEGImages/, SegmentationClass/) gives its masks."""
    if config.data is None:
        dataset = sample_dataset(config.cache_dir)
    elif task == "segmentation" and (Path(config.data) / "JPEGImages").is_dir():
        from sysnoise.tasks.segmentation_data import load_segmentation_folder

        dataset = load_segmentation_folder(config.data, config.label_map)
    else:
        dataset = load_folder(config.data, config.labels)
    return dataset.limit(config.limit, config.seed)


@dataclass(frozen=True)
class RunImages:
    """What a run evaluates a model on: the images, where their model inputs come from (files
    decoded on the fly, or stored crops), the suite's noises, and those that cannot run on them."""

    dataset: Dataset
    suite: Suite
    noises: list[tuple[Noise, Pipeline]]
    skipped: list[SkippedNoise] = field(default_factory=list)
    source: Callable[[Dataset], ImageSource] = FileSource
    reference_crop: Callable[[ImageRecord], np.ndarray] | None = None  # None: decode the file
    # why a pipeline's pixels cannot be made here; stored pixels need no decoder
    pixels_unavailable: Callable[[Pipeline], str | None] = pixel_side_unavailable
    # sections added to the results document (fields of ResultDocument), computed from it
    extra: Callable[[ResultDocument], dict[str, Any]] | None = None


def open_source(config: BenchConfig, model: Any = None) -> ModelSource:
    """The model to evaluate: `model` when given (a ModelSource, a name or path, an nn.Module or
    a callable on normalised batches), else the config's model name; `config.reference`, when
    set, replaces the source's reference pipeline."""
    from sysnoise.references import parse_reference

    reference = None if config.reference is None else parse_reference(config.reference)
    if model is None:
        return open_model(config.model, reference)
    if isinstance(model, ModelSource):
        return model
    if isinstance(model, (str, Path)):
        return open_model(str(model), reference)
    from sysnoise.sources.module import ModuleSource

    return ModuleSource.from_object(model, reference)


def run_bench(config: BenchConfig, model: Any = None) -> BenchOutcome | None:
    """Run the benchmark the config describes; results go to ``config.out_dir`` (by rank 0 alone
    under torchrun: see `evaluate_model`).

    `model` overrides ``config.model``: a ModelSource, a model name or file, an nn.Module or a
    callable on normalised batches (see `open_source`).
    """
    started = time.perf_counter()
    source = open_source(config, model)
    spec = with_task(source.spec, config.task)
    suite = resolve_suite(config.suite, config.noises)
    dataset = load_dataset(config, spec.task)
    if config.annotations is not None:
        from sysnoise.detection.coco_dataset import check_annotations

        check_annotations(spec, dataset, config.annotations)
    loaded = load_source_model(source, config.weights)
    if loaded.num_classes is not None:
        spec = replace(spec, num_classes=loaded.num_classes)
    images = RunImages(dataset, suite, suite.resolve(spec.reference))
    return evaluate_model(
        config, spec, loaded.module, loaded.weights_sha256, images, started, limits=loaded
    )


def with_task(spec: ModelSpec, task: str | None) -> ModelSpec:
    """`spec` evaluated as `task` (None: its own). A model file or object takes any task; a zoo
    model has its own, and another one is a user error."""
    from sysnoise.tasks import TASKS

    if task is None or task == spec.task:
        return spec
    TASKS.get(task)  # an unknown task fails here with the valid names
    if spec.source not in ("file", "module"):
        raise SysnoiseError(
            f"{spec.name} is a {spec.task} model; drop --task {task} or pick a {task} model"
        )
    return replace(spec, task=task)


def load_source_model(source: ModelSource, weights: Path | None) -> LoadedModel:
    """The source's model. Zoo models (named, fixed limits) load through `load_model`, the one
    loader bench, diff and the stored evaluation share; files and objects carry their limits."""
    if source.spec.source in ("file", "module") or source.spec.task != "classification":
        return source.load(weights)
    model, digest = load_model(source.spec, weights)
    return LoadedModel(model, digest)


def evaluate_model(
    config: BenchConfig,
    spec: ModelSpec,
    model: Any,
    weights_sha256: str,
    images: RunImages,
    started: float,
    limits: LoadedModel | None = None,
) -> BenchOutcome | None:
    """Evaluate `model` under every noise of `images` through the engine, write the results.

    `limits`, from the model's source, says which model sides cannot apply to it. Under torchrun
    each rank evaluates its slice of the images and rank 0 writes the results of the whole run
    (`sysnoise.distributed`); the other ranks return None.
    """
    shard = current_shard()
    reference = spec.reference
    task = task_for(spec.task)
    if task.name != "classification" and images.source is not FileSource:
        raise SysnoiseError(
            f"{spec.name} is a {task.name} model; stored ImageNet-S sets hold classification "
            "crops: evaluate it on image files (--data) instead"
        )
    dataset, noises = images.dataset, images.noises
    task_skipped = []
    if task.store_kind == "dense":  # INT8 calibration batches are classification crops
        task_skipped = [
            SkippedNoise(noise, "unavailable", _DENSE_INT8)
            for noise, pipeline in noises
            if pipeline.precision == "int8"
        ]
        noises = [(n, p) for n, p in noises if p.precision != "int8"]
    calibration = None
    if any(pipeline.precision == "int8" for _, pipeline in noises):
        if config.calibration_data is not None:
            calibration = calibration_from_folder(
                load_folder(config.calibration_data),
                reference,
                config.calibration_size,
                config.calibration_method,
            )
        else:
            calibration, dataset = split_calibration(
                dataset,
                reference,
                config.calibration_size,
                config.calibration_method,
                images.reference_crop,
            )
    backend_label = reference_backend_label(config.device, reference)
    fingerprint = model_fingerprint(_model_identity(config, spec), weights_sha256, backend_label)
    context = BackendContext(
        device=config.device,
        cache_dir=config.cache_dir / "artefacts",
        model_id=fingerprint,
        calibration=None if calibration is None else calibration.batch,
        calibration_method=config.calibration_method,
        dynamic_size=task.store_kind == "dense",
    )
    example = np.zeros(task.example_shape(reference), dtype=np.float32)
    variants = ModelVariants(model, example, context, limits)
    store = PredictionStore(
        shard.store_path(config.cache_dir / "predictions.sqlite"), fingerprint, kind=task.store_kind
    )
    options = EngineOptions(config.batch_size, config.workers, config.progress and shard.writes)
    try:
        not_prepared = variants.prepare([reference])
        if reference.key in not_prepared:
            error = variants.error(reference)
            if error is not None:  # a failure of the reference stops the run with its traceback
                raise error
            raise SysnoiseError(f"the reference cannot run: {not_prepared[reference.key].reason}")
        evaluated, skipped = _triage(noises, reference, variants, images.pixels_unavailable)
        pipelines = list(dict.fromkeys([reference, *(p for _, p in evaluated)]))
        selected = shard.select(dataset)
        source = (
            FileSource(selected, task) if images.source is FileSource else images.source(selected)
        )
        evaluation = evaluate(source, pipelines, variants, store, options, task)
        model_sides = {p.key: variants.model_side(p) for p in pipelines}
        backends = {v.label: variants.describe(v) for v in dict.fromkeys(model_sides.values())}
    finally:
        variants.close()
        store.close()
    evaluation = shard.gather(evaluation)
    if evaluation is None:
        return None
    run = RunInputs(
        spec,
        weights_sha256,
        fingerprint,
        dataset,
        images.suite,
        evaluated,
        backend_label,
        time.perf_counter() - started,
        skipped=[*images.skipped, *task_skipped, *skipped],
        backends=backends,
        calibration=None if calibration is None else calibration.describe(),
        model_sides={key: variant.label for key, variant in model_sides.items()},
        annotations=config.annotations,
    )
    document = task.document(run, evaluation)
    if images.extra is not None:
        document = document.model_copy(update=images.extra(document))
    stem = result_stem(run, document.created)
    json_path = write_result(
        document, task.predictions_frame(run, evaluation), config.out_dir, stem
    )
    return BenchOutcome(document.to_dict(), json_path, evaluation)


_DENSE_INT8 = (
    "INT8 needs a calibration batch, which sysnoise takes from classification crops; dense "
    "tasks run in fp32, fp16 and bf16"
)


def _model_identity(config: BenchConfig, spec: ModelSpec) -> str:
    """The architecture, and the reference pipeline where the user chose it: cached input
    differences are measured against the reference, so two references must not share them."""
    if config.reference is None and spec.source not in ("file", "module"):
        return spec.arch  # a zoo model's reference is fixed by its weights
    return f"{spec.arch}\nreference={spec.reference.key}"


def reference_backend_label(device: str, reference: Pipeline | None = None) -> str:
    """The reference backend as the model fingerprint names it: torch FP32 on the CPU or GPU,
    or the reference's own backend (a model file's ONNX Runtime or TensorRT)."""
    import torch

    if reference is not None and reference.backend != "torch":
        return f"{reference.backend}-{reference.precision}"
    on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "torch-fp32-cuda" if on_gpu else "torch-fp32"


def _triage(
    noises: list[tuple[Noise, Pipeline]],
    reference: Pipeline,
    variants: ModelVariants,
    pixels_unavailable: Callable[[Pipeline], str | None],
) -> tuple[list[tuple[Noise, Pipeline]], list[SkippedNoise]]:
    """Split the suite into noises to evaluate and noises that are not applicable to this model,
    cannot run on this machine, or failed to prepare (each with its reason or error)."""
    skipped = []
    candidates = []
    previous_step = reference
    for noise, pipeline in noises:
        reason = pixels_unavailable(pipeline)
        if reason is not None:
            skipped.append(SkippedNoise(noise, "unavailable", reason))
            continue
        base = reference
        if noise.category == "combined":
            # A step of the stack applies when it changes something on top of the step before.
            base, previous_step = _effective(previous_step, variants), pipeline
        reason = variants.not_applicable(pipeline, base)
        if reason is not None:
            skipped.append(SkippedNoise(noise, "not applicable", reason))
            continue
        candidates.append((noise, pipeline))
    not_prepared = variants.prepare([p for _, p in candidates])
    evaluated = []
    for noise, pipeline in candidates:
        if pipeline.key in not_prepared:
            why = not_prepared[pipeline.key]
            skipped.append(SkippedNoise(noise, why.status, why.reason))
        else:
            evaluated.append((noise, pipeline))
    return evaluated, skipped


def _effective(pipeline: Pipeline, variants: ModelVariants) -> Pipeline:
    """`pipeline` without the model patches that change nothing in this model."""
    variant = variants.model_side(pipeline)
    return pipeline.with_changes(ceil_mode=variant.ceil_mode, upsample=variant.upsample)
