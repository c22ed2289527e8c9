"""Throughput of the engine on a GPU: crops/s, forward passes/s and the share of wall time the
GPU is busy, for a model (default resnet50) on a suite (default decoders-x-resizers), with N
workers.

Uint8 crops go to the device from pinned memory, normalisation and top-k run there (see
`TorchEagerBackend.predict`); DataLoader workers prepare the next images meanwhile. GPU busy time
is the sum of CUDA-event times of each batch (transfer, normalisation, forward, top-k) over the
wall time. Without a CUDA GPU, or without the model's weights, it says so and exits 0.

    python benchmarks/gpu.py [--model resnet50] [--suite decoders-x-resizers] [--workers 2,4,8]
        [--limit N] [--batch 64] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from workload import suite_pipelines

from sysnoise.backends.torch_eager import TorchEagerBackend
from sysnoise.config import default_cache_dir
from sysnoise.datasets import load_folder, sample_dataset
from sysnoise.engine import EngineOptions, evaluate
from sysnoise.errors import SysnoiseError
from sysnoise.store import PredictionStore
from sysnoise.weights import load_model
from sysnoise.zoo import resolve_model


class TimedCudaBackend(TorchEagerBackend):
    """The torch CUDA backend that adds up the GPU time of every batch with CUDA events."""

    def __init__(self) -> None:
        super().__init__(device="cuda")
        self.busy_seconds = 0.0

    def predict(
        self, crops: np.ndarray, table: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        result = super().predict(crops, table, k)  # returns after the device is done
        end.record()
        end.synchronize()
        self.busy_seconds += start.elapsed_time(end) / 1000
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--suite", default="decoders-x-resizers")
    parser.add_argument("--workers", default="2,4,8")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--data", type=Path, default=None, help="image folder (default: sample)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("skipped: torch sees no CUDA GPU on this machine")
        return
    spec = resolve_model(args.model)
    try:
        model, _ = load_model(spec)
    except SysnoiseError as exc:
        print(f"skipped: {exc}")
        return
    if args.data is None:
        dataset = sample_dataset(default_cache_dir())
    else:
        dataset = load_folder(args.data, None)
    dataset = dataset.limit(args.limit)
    pipelines = suite_pipelines(args.suite, spec.reference)
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        backend = TimedCudaBackend()
        backend.prepare(model)
        options = EngineOptions(args.batch, workers, progress=False)
        with tempfile.TemporaryDirectory() as tmp:  # warm-up: CUDA context, kernels, workers
            store = PredictionStore(Path(tmp) / "predictions.sqlite", "warm-up")
            evaluate(dataset.limit(2), pipelines[:2], backend, store, options)
            store.close()
        backend.busy_seconds = 0.0
        with tempfile.TemporaryDirectory() as tmp:
            store = PredictionStore(Path(tmp) / "predictions.sqlite", "benchmark")
            started = time.perf_counter()
            result = evaluate(dataset, pipelines, backend, store, options)
            seconds = time.perf_counter() - started
            store.close()
        backend.release()
        rows.append(
            {
                "workers": workers,
                "seconds": seconds,
                "crops / s": len(dataset.records) * len(pipelines) / seconds,
                "forward passes / s": result.forwards / seconds,
                "GPU busy": backend.busy_seconds / seconds,
            }
        )
    print(
        f"{args.model} on {torch.cuda.get_device_name()}, {len(dataset.records)} images, suite "
        f"{args.suite} ({len(pipelines)} pipelines), batch {args.batch}"
    )
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    sys.exit(main())
