"""How the engine scales with decoding workers and with torch.distributed ranks.

A model that costs nothing (`workload.FreeModel`) isolates the preparation work, which is what
workers and ranks share out. Each row evaluates the suite on the sample set from an empty cache:
the engine with 0, 1, 2, ... DataLoader workers in one process, then with 2, ... ranks under
torchrun (each rank evaluates its slice with its own store and rank 0 gathers, timed inside rank 0
from a barrier to the gathered result, so process start-up is left out). Speed-up is against the
engine with one worker. On a machine with C cores, C workers or ranks can at best reach C times.

    python benchmarks/scaling.py [--suite decoders-x-resizers] [--limit N] [--workers 0,1,2]
        [--ranks 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from workload import bare_preparation_seconds, free_model, suite_pipelines

from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.distributed import current_shard
from sysnoise.engine import EngineOptions, evaluate
from sysnoise.store import PredictionStore
from sysnoise.zoo import resolve_model

BATCH = 32


def engine_seconds(dataset, pipelines, workers: int) -> float:
    """Wall time of the engine with the free model and `workers` workers, from an empty cache."""
    with tempfile.TemporaryDirectory() as tmp:
        store = PredictionStore(Path(tmp) / "predictions.sqlite", "benchmark")
        started = time.perf_counter()
        evaluate(dataset, pipelines, free_model(), store, EngineOptions(BATCH, workers, False))
        seconds = time.perf_counter() - started
        store.close()
    return seconds


def rank_main(args: argparse.Namespace) -> None:
    """One rank of the torchrun rows: evaluate this rank's slice, gather, rank 0 prints a JSON."""
    import torch.distributed as dist

    dataset, pipelines = _workload(args)
    shard = current_shard()
    with tempfile.TemporaryDirectory() as tmp:
        store = PredictionStore(shard.store_path(Path(tmp) / "predictions.sqlite"), "benchmark")
        evaluate(dataset.limit(2), pipelines, free_model(), store, EngineOptions(BATCH, 0, False))
        store.close()
    with tempfile.TemporaryDirectory() as tmp:
        store = PredictionStore(shard.store_path(Path(tmp) / "predictions.sqlite"), "benchmark")
        dist.barrier()
        started = time.perf_counter()
        part = evaluate(shard.select(dataset), pipelines, free_model(), store,
                        EngineOptions(BATCH, 0, False))  # fmt: skip
        merged = shard.gather(part)
        seconds = time.perf_counter() - started
        store.close()
    if merged is not None:
        print(json.dumps({"seconds": seconds, "images": len(merged.image_ids)}))


def ranks_seconds(args: argparse.Namespace, ranks: int) -> float:
    """Wall time of the torchrun rows, as rank 0 measured it."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command = [
        *launcher,
        f"--nproc-per-node={ranks}",
        __file__,
        "--rank-run",
        "--suite",
        args.suite,
    ]
    if args.limit is not None:
        command += ["--limit", str(args.limit)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def _workload(args: argparse.Namespace):
    dataset = sample_dataset(default_cache_dir()).limit(args.limit)
    return dataset, suite_pipelines(args.suite, resolve_model("mobilenet_v2").reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="decoders-x-resizers")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--workers", default="0,1,2", help="comma-separated worker counts")
    parser.add_argument("--ranks", default="2", help="comma-separated torchrun rank counts")
    parser.add_argument("--rank-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_run:
        rank_main(args)
        return

    dataset, pipelines = _workload(args)
    engine_seconds(dataset.limit(2), pipelines, 1)  # warm-up: imports, first decodes
    rows = [
        ("bare decode + resize, one process", bare_preparation_seconds(dataset.records, pipelines))
    ]
    for workers in (int(w) for w in args.workers.split(",")):
        rows.append((f"engine, {workers} workers", engine_seconds(dataset, pipelines, workers)))
    for ranks in (int(r) for r in args.ranks.split(",") if r):
        rows.append((f"engine, torchrun {ranks} ranks x 0 workers", ranks_seconds(args, ranks)))
    table = pd.DataFrame(rows, columns=["run", "seconds"])
    crops = len(dataset.records) * len(pipelines)
    table["crops / s"] = crops / table["seconds"]
    one_worker = table.loc[table["run"] == "engine, 1 workers", "seconds"]
    if len(one_worker):
        table["speed-up vs 1 worker"] = one_worker.iloc[0] / table["seconds"]
    print(
        f"free model, sample set ({len(dataset.records)} images), suite {args.suite} "
        f"({len(pipelines)} pipelines, {crops} crops), {os.cpu_count()} CPU cores"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
