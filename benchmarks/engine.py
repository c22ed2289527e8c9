"""Wall time of the shared-work engine against a naive loop, on the sample set.

The naive loop is what a hand-written benchmark does: for every noise, decode, resize and run the
model afresh on every image. The engine decodes once per decoder, resizes once per distinct resize
and runs each distinct input once. Both start with an empty prediction cache.

    python benchmarks/engine.py [--suite imagenet-s] [--limit N] [--batch 16] [--workers 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sysnoise.backends.torch_eager import TorchEagerBackend
from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.engine import EngineOptions, evaluate
from sysnoise.noises.suites import SUITES
from sysnoise.preprocess import PreprocessError, model_input, normalise
from sysnoise.store import PredictionStore
from sysnoise.weights import load_model
from sysnoise.zoo import resolve_model


def naive_loop(records, pipelines, backend, batch_size: int) -> tuple[dict, int]:
    """Top-1 per pipeline and image, everything recomputed per pipeline; and the forward count."""
    top1, forwards = {}, 0
    for pipeline in pipelines:
        crops, rows = [], []
        for index, record in enumerate(records):
            try:
                crops.append(model_input(record.path.read_bytes(), pipeline))
                rows.append(index)
            except PreprocessError:
                pass
        predictions = np.full(len(records), -1)
        for start in range(0, len(crops), batch_size):
            batch = normalise(np.stack(crops[start : start + batch_size]), pipeline)
            predictions[rows[start : start + batch_size]] = backend.infer(batch).argmax(1)
            forwards += len(batch)
        top1[pipeline.key] = predictions
    return top1, forwards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="imagenet-s")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    spec = resolve_model("mobilenet_v2")
    model, _ = load_model(spec)
    dataset = sample_dataset(default_cache_dir()).limit(args.limit)
    pipelines = [spec.reference] + [p for _, p in SUITES.get(args.suite).resolve(spec.reference)]
    backend = TorchEagerBackend(device="cpu")
    backend.prepare(model)

    with tempfile.TemporaryDirectory() as tmp:
        store = PredictionStore(Path(tmp) / "predictions.sqlite", "benchmark")
        started = time.perf_counter()
        options = EngineOptions(args.batch, args.workers, progress=False)
        shared = evaluate(dataset, pipelines, backend, store, options)
        engine_seconds = time.perf_counter() - started
        store.close()

    started = time.perf_counter()
    naive_top1, naive_forwards = naive_loop(dataset.records, pipelines, backend, args.batch)
    naive_seconds = time.perf_counter() - started

    agree = all(np.array_equal(shared.top5[key][:, 0], naive_top1[key]) for key in naive_top1)
    n_work = len(dataset.records) * len(pipelines)
    table = pd.DataFrame(
        [
            {
                "method": "naive loop",
                "seconds": naive_seconds,
                "forward passes": naive_forwards,
                "images x pipelines / s": n_work / naive_seconds,
            },
            {
                "method": "shared-work engine",
                "seconds": engine_seconds,
                "forward passes": shared.forwards,
                "images x pipelines / s": n_work / engine_seconds,
            },
        ]
    )
    print(
        f"mobilenet_v2, sample set ({len(dataset.records)} images), suite {args.suite} "
        f"({len(pipelines)} pipelines incl. reference), batch {args.batch}, "
        f"engine workers {args.workers}"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"speed-up: {naive_seconds / engine_seconds:.2f}x; same top-1 predictions: {agree}")


if __name__ == "__main__":
    main()
