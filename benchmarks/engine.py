"""The engine's cost against the work itself, and against a naive loop, on the sample set.

Measured in one run:
1. with a model that costs nothing (`workload.FreeModel`), the engine's wall time against bare
   decode + resize of every crop in one process (each file read once, each decode and resize
   done once): the engine's own overhead (hashing, input differences, normalisation, top-k,
   the store, moving crops between processes);
2. with the real mobilenet_v2, the engine against a naive loop that, for every noise, decodes,
   resizes and runs the model afresh on every image, and computes top-5 and the input
   difference with plain numpy (a full stable argsort, int16 differences). Every prediction,
   failure and input difference of the engine must equal the naive loop's: every row is then
   identical.

Both engine runs start with an empty prediction cache; the bare work and the free-model run
prepare on one torch thread, as a decoding worker does (idle threads spinning would count as
work on a busy machine). Beside wall time, each run's CPU time
(this process and its finished workers) is printed: on a shared machine the wall-time ratio of a
run with a worker against the one-process bare work depends on the load, the CPU ratio much less.

    python benchmarks/engine.py [--suite decoders-x-resizers] [--limit N] [--batch 16]
                                [--workers 1] [--free-only]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from workload import bare_preparation_seconds, free_model, suite_pipelines

from sysnoise.backends.torch_eager import TorchEagerBackend
from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.engine import EngineOptions, Evaluation, evaluate
from sysnoise.preprocess import ImagePreparer, PreprocessError, normalise
from sysnoise.store import TOP_K, PredictionStore
from sysnoise.weights import load_model
from sysnoise.zoo import resolve_model


def naive_loop(records, pipelines, backend, batch_size: int) -> tuple[dict, int]:
    """Per pipeline: (top-5, max abs diff, MSE) per image, everything recomputed per pipeline
    with plain numpy; and the forward count. Failed images have top-5 -1."""
    reference_crops = []
    for record in records:
        try:
            reference_crops.append(
                ImagePreparer(record.path.read_bytes()).model_input(pipelines[0])
            )
        except PreprocessError:
            reference_crops.append(None)
    outcomes, forwards = {}, 0
    for pipeline in pipelines:
        n = len(records)
        top5 = np.full((n, TOP_K), -1, dtype=np.int64)
        max_abs, mse = np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
        crops, rows = [], []
        for index, record in enumerate(records):
            try:
                crop = ImagePreparer(record.path.read_bytes()).model_input(pipeline)
            except PreprocessError:
                continue
            reference = reference_crops[index]
            if reference is not None and reference.shape == crop.shape:
                diff = crop.astype(np.int16) - reference.astype(np.int16)
                max_abs[index] = np.abs(diff).max()
                mse[index] = np.mean(diff.astype(np.float64) ** 2)
            crops.append(crop)
            rows.append(index)
        for start in range(0, len(crops), batch_size):
            batch = normalise(np.stack(crops[start : start + batch_size]), pipeline)
            logits = backend.infer(batch)
            top = np.argsort(-logits, axis=1, kind="stable")[:, :TOP_K]
            top5[rows[start : start + batch_size]] = top
            forwards += len(batch)
        outcomes[pipeline.key] = (top5, max_abs, mse)
    return outcomes, forwards


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished child processes so far."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_engine(
    dataset, pipelines, backend, batch: int, workers: int
) -> tuple[Evaluation, float, float]:
    """The engine's evaluation, wall time and CPU time, from an empty cache."""
    with tempfile.TemporaryDirectory() as tmp:
        store = PredictionStore(Path(tmp) / "predictions.sqlite", "benchmark")
        cpu, started = cpu_seconds(), time.perf_counter()
        evaluation = evaluate(
            dataset, pipelines, backend, store, EngineOptions(batch, workers, False)
        )
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        store.close()
    return evaluation, seconds, cpu


def differences(evaluation: Evaluation, naive: dict) -> list[str]:
    """Pipelines where the engine's outcome differs from the naive loop's in any image."""
    differing = []
    for key, (top5, max_abs, mse) in naive.items():
        same = (
            np.array_equal(evaluation.top5[key], top5)
            and np.array_equal(evaluation.max_abs_diff[key], max_abs)
            and np.array_equal(evaluation.mse[key], mse, equal_nan=True)
        )
        if not same:
            differing.append(key)
    return differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="decoders-x-resizers")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--free-only", action="store_true", help="only the free-model overhead")
    args = parser.parse_args()

    spec = resolve_model("mobilenet_v2")
    dataset = sample_dataset(default_cache_dir()).limit(args.limit)
    pipelines = suite_pipelines(args.suite, spec.reference)
    records = dataset.records

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # preparation on one thread, as in a decoding worker
    run_engine(dataset.limit(2), pipelines, free_model(), args.batch, args.workers)  # warm-up
    bare_cpu = cpu_seconds()
    bare_seconds = bare_preparation_seconds(records, pipelines)
    bare_cpu = cpu_seconds() - bare_cpu
    free, free_seconds, free_cpu = run_engine(
        dataset, pipelines, free_model(), args.batch, args.workers
    )
    rows = [
        ("bare decode + resize, one process", "-", bare_seconds, bare_cpu, 0),
        (f"engine, free model, {args.workers} workers", "free", free_seconds, free_cpu,
         free.forwards),
    ]  # fmt: skip
    torch.set_num_threads(threads)
    if not args.free_only:
        model, _ = load_model(spec)
        backend = TorchEagerBackend(device="cpu")
        backend.prepare(model)
        run_engine(dataset.limit(2), pipelines[:2], backend, args.batch, args.workers)  # warm-up
        shared, engine_seconds, engine_cpu = run_engine(
            dataset, pipelines, backend, args.batch, args.workers
        )
        naive_cpu, started = cpu_seconds(), time.perf_counter()
        naive, naive_forwards = naive_loop(records, pipelines, backend, args.batch)
        naive_seconds, naive_cpu = time.perf_counter() - started, cpu_seconds() - naive_cpu
        differing = differences(shared, naive)
        rows += [
            ("naive loop", "mobilenet_v2", naive_seconds, naive_cpu, naive_forwards),
            (f"engine, {args.workers} workers", "mobilenet_v2", engine_seconds, engine_cpu,
             shared.forwards),
        ]  # fmt: skip

    n_work = len(records) * len(pipelines)
    table = pd.DataFrame(
        rows, columns=["method", "model", "seconds", "CPU seconds", "forward passes"]
    )
    table["crops / s"] = n_work / table["seconds"]
    print(
        f"sample set ({len(records)} images), suite {args.suite} ({len(pipelines)} pipelines "
        f"incl. reference: {n_work} crops), batch {args.batch}"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(
        f"engine overhead (free model / bare work): {free_seconds / bare_seconds:.2f}x wall, "
        f"{free_cpu / bare_cpu:.2f}x CPU"
    )
    if args.free_only:
        return
    print(
        f"engine speed-up over the naive loop (mobilenet_v2): {naive_seconds / engine_seconds:.2f}x"
    )
    print(
        "every prediction, failure and input difference identical to the naive loop: "
        + ("yes" if not differing else f"NO, {len(differing)} pipelines differ: {differing[:5]}")
    )


if __name__ == "__main__":
    main()
