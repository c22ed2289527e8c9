"""`bench`: evaluate one model on one dataset under one suite and write the results."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.backends.base import BackendContext
from sysnoise.calibration import calibration_from_folder, split_calibration
from sysnoise.config import BenchConfig
from sysnoise.datasets import Dataset, load_folder, sample_dataset
from sysnoise.engine import EngineOptions, Evaluation, evaluate
from sysnoise.errors import SysnoiseError
from sysnoise.noises.suites import SUITES, Noise
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import pixel_side_unavailable
from sysnoise.results import (
    RunInputs,
    SkippedNoise,
    build_result,
    predictions_frame,
    result_stem,
    write_result,
)
from sysnoise.store import PredictionStore
from sysnoise.variants import ModelVariants
from sysnoise.weights import load_model
from sysnoise.zoo import resolve_model


@dataclass(frozen=True)
class BenchOutcome:
    """A finished run: the document, where it was written, and the raw evaluation."""

    document: dict[str, Any]
    json_path: Path
    evaluation: Evaluation


def load_dataset(config: BenchConfig) -> Dataset:
    """The dataset the config names (the sample set when no folder is given), limited."""
    if config.data is None:
        dataset = sample_dataset(config.cache_dir)
    else:
        dataset = load_folder(config.data, config.labels)
    return dataset.limit(config.limit)


def model_fingerprint(arch: str, weights_sha256: str, backend: str) -> str:
    """What identifies a model's predictions: architecture, exact weights, backend."""
    return hashlib.sha256(f"{arch}\n{weights_sha256}\n{backend}".encode()).hexdigest()[:16]


def run_bench(config: BenchConfig) -> BenchOutcome:
    """Run the benchmark the config describes; results go to ``config.out_dir``."""
    started = time.perf_counter()
    spec = resolve_model(config.model)
    suite = SUITES.get(config.suite)
    dataset = load_dataset(config)
    model, weights_sha256 = load_model(spec, config.weights)
    reference = spec.reference
    noises = suite.resolve(reference)
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
                dataset, reference, config.calibration_size, config.calibration_method
            )
    backend_label = reference_backend_label(config.device)
    fingerprint = model_fingerprint(spec.arch, weights_sha256, backend_label)
    context = BackendContext(
        device=config.device,
        cache_dir=config.cache_dir / "artefacts",
        model_id=fingerprint,
        calibration=None if calibration is None else calibration.batch,
        calibration_method=config.calibration_method,
    )
    example = np.zeros((1, 3, reference.crop_size, reference.crop_size), dtype=np.float32)
    variants = ModelVariants(model, example, context)
    store = PredictionStore(config.cache_dir / "predictions.sqlite", fingerprint)
    options = EngineOptions(config.batch_size, config.workers, config.progress)
    try:
        unavailable = variants.prepare([reference])
        if unavailable:
            raise SysnoiseError(f"the reference cannot run: {unavailable[reference.key]}")
        evaluated, skipped = _triage(noises, reference, variants)
        pipelines = list(dict.fromkeys([reference, *(p for _, p in evaluated)]))
        evaluation = evaluate(dataset, pipelines, variants, store, options)
        model_sides = {p.key: variants.variant(p) for p in pipelines}
        backends = {v.label: variants.describe(v) for v in dict.fromkeys(model_sides.values())}
    finally:
        variants.close()
        store.close()
    run = RunInputs(
        spec,
        weights_sha256,
        fingerprint,
        dataset,
        suite,
        evaluated,
        backend_label,
        time.perf_counter() - started,
        skipped=skipped,
        backends=backends,
        calibration=None if calibration is None else calibration.describe(),
        model_sides={key: variant.label for key, variant in model_sides.items()},
    )
    document = build_result(run, evaluation)
    json_path = write_result(
        document, predictions_frame(run, evaluation), config.out_dir, result_stem(run)
    )
    return BenchOutcome(document, json_path, evaluation)


def reference_backend_label(device: str) -> str:
    """The reference backend as the model fingerprint names it: torch FP32 on the CPU or GPU."""
    import torch

    on_gpu = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    return "torch-fp32-cuda" if on_gpu else "torch-fp32"


def _triage(
    noises: list[tuple[Noise, Pipeline]], reference: Pipeline, variants: ModelVariants
) -> tuple[list[tuple[Noise, Pipeline]], list[SkippedNoise]]:
    """Split the suite into noises to evaluate and noises that are not applicable to this model
    or cannot run on this machine (each with its reason)."""
    skipped = []
    candidates = []
    for noise, pipeline in noises:
        reason = pixel_side_unavailable(pipeline)
        if reason is not None:
            skipped.append(SkippedNoise(noise, "unavailable", reason))
            continue
        reason = variants.not_applicable(pipeline, reference)
        if reason is not None:
            skipped.append(SkippedNoise(noise, "not applicable", reason))
            continue
        candidates.append((noise, pipeline))
    unavailable = variants.prepare([p for _, p in candidates])
    evaluated = []
    for noise, pipeline in candidates:
        if pipeline.key in unavailable:
            skipped.append(SkippedNoise(noise, "unavailable", unavailable[pipeline.key]))
        else:
            evaluated.append((noise, pipeline))
    return evaluated, skipped
