"""`bench`: evaluate one model on one dataset under one suite and write the results."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sysnoise.backends import BACKENDS
from sysnoise.config import BenchConfig
from sysnoise.datasets import Dataset, load_folder, sample_dataset
from sysnoise.engine import EngineOptions, Evaluation, evaluate
from sysnoise.noises.suites import SUITES
from sysnoise.results import RunInputs, build_result, predictions_frame, result_stem, write_result
from sysnoise.store import PredictionStore
from sysnoise.weights import load_model
from sysnoise.zoo import resolve_model

_BACKEND_LABEL = "torch-fp32"  # the reference backend; model-side noises will add others


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
    noises = suite.resolve(spec.reference)
    pipelines = [spec.reference] + [pipeline for _, pipeline in noises]
    backend = BACKENDS.get("torch")(device=config.device)
    fingerprint = model_fingerprint(spec.arch, weights_sha256, _BACKEND_LABEL)
    store = PredictionStore(config.cache_dir / "predictions.sqlite", fingerprint)
    options = EngineOptions(config.batch_size, config.workers, config.progress)
    try:
        backend.prepare(model, None)
        evaluation = evaluate(dataset, pipelines, backend, store, options)
    finally:
        backend.release()
        store.close()
    run = RunInputs(
        spec,
        weights_sha256,
        fingerprint,
        dataset,
        suite,
        noises,
        _BACKEND_LABEL,
        time.perf_counter() - started,
    )
    document = build_result(run, evaluation)
    json_path = write_result(
        document, predictions_frame(run, evaluation), config.out_dir, result_stem(run)
    )
    return BenchOutcome(document, json_path, evaluation)
