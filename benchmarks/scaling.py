"""How the engine scales with decoding workers and with torch.distributed ranks.

A model that costs nothing (`workload.FreeModel`) isolates the preparation work, which is what
workers and ranks share out. The suite is evaluated on the sample set and on the sample set
repeated `--repeat` times under new names (each copy with its own bytes, as benchmarks/memory.py
does), from an empty cache, each run a fresh command as a user starts it: one process with 0, 1,
2, ... DataLoader workers, then torchrun with 2, ... ranks (each rank evaluates its share with its
own store and rank 0 gathers). Each run's wall time is split into
- start-up: from the launch until every rank is ready (interpreter, imports, process group, the
  model, and one image through every pipeline so that every decoder library is loaded);
- work: from there to the gathered evaluation on rank 0 (choosing the shares, evaluating them,
  gathering and merging); the speed-ups are judged on it;
- total: from the launch to the end of the command.
Beside them: bare decode + resize of every crop in this process (one thread), and, for ranks,
each rank's own evaluation time (how balanced the shares are) and rank 0's gather + merge. On a
machine with C cores, C workers or ranks can at best reach C times. The load average is printed:
on a shared machine every figure depends on it.

    python benchmarks/scaling.py [--suite decoders-x-resizers] [--repeat 10] [--workers 0,1,2]
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
import torch
from workload import bare_preparation_seconds, free_model, repeated_dataset, suite_pipelines

from sysnoise.config import default_cache_dir
from sysnoise.datasets import Dataset, ImageRecord, sample_dataset
from sysnoise.distributed import current_shard
from sysnoise.engine import EngineOptions, evaluate
from sysnoise.store import PredictionStore
from sysnoise.zoo import resolve_model

BATCH = 32


def run_main(args: argparse.Namespace) -> None:
    """One run (one process, or one rank under torchrun): rank 0 prints its timings as JSON."""
    shard = current_shard()
    dataset = _folder_dataset(Path(args.images))
    pipelines = _pipelines(args.suite)
    model = free_model()
    with tempfile.TemporaryDirectory() as tmp:  # loads every decoder library: start-up
        store = PredictionStore(shard.store_path(Path(tmp) / "warm.sqlite"), "benchmark")
        evaluate(dataset.limit(1), pipelines, model, store, EngineOptions(BATCH, 0, False))
        store.close()
    with tempfile.TemporaryDirectory() as tmp:
        store = PredictionStore(shard.store_path(Path(tmp) / "predictions.sqlite"), "benchmark")
        shard.barrier()
        ready, started = time.time(), time.perf_counter()
        part = evaluate(shard.select(dataset), pipelines, model, store,
                        EngineOptions(BATCH, int(args.workers), False))  # fmt: skip
        evaluated = shard.everyone(time.perf_counter() - started)
        gathering = time.perf_counter()
        merged = shard.gather(part)
        done = time.perf_counter()
        store.close()
    if merged is not None:
        timings = {"ready": ready, "work": done - started, "gather": done - gathering}
        print(json.dumps({**timings, "ranks": evaluated, "images": len(merged.image_ids)}))


def launch(args: argparse.Namespace, images: Path, workers: int, ranks: int) -> dict:
    """One run as a fresh command: its start-up, work and total seconds, and rank timings."""
    command = [sys.executable]
    if ranks > 1:
        command += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
    command += [__file__, "--one-run", "--suite", args.suite, "--images", str(images),
                "--workers", str(workers)]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "WORLD_SIZE"}
    env["OMP_NUM_THREADS"] = "1"
    launched = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    ended = time.time()
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    run = json.loads(done.stdout.strip().splitlines()[-1])
    return {**run, "start-up": run["ready"] - launched, "total": ended - launched}


def measure(args: argparse.Namespace, dataset: Dataset, images: Path) -> pd.DataFrame:
    """The table of one dataset size, with the balance of each torchrun run printed below."""
    pipelines = _pipelines(args.suite)
    crops = len(dataset.records) * len(pipelines)
    rows = [
        {"run": "bare decode + resize, in process", "start-up s": 0.0,
         "work s": bare_preparation_seconds(dataset.records, pipelines)},
    ]  # fmt: skip
    notes = []
    for workers in (int(w) for w in args.workers.split(",") if w):
        run = launch(args, images, workers, 1)
        rows.append({"run": f"1 process, {workers} workers", **_columns(run)})
    for ranks in (int(r) for r in args.ranks.split(",") if r):
        run = launch(args, images, 0, ranks)
        rows.append({"run": f"torchrun {ranks} ranks x 0 workers", **_columns(run)})
        each = ", ".join(f"{seconds:.2f}" for seconds in run["ranks"])
        notes.append(
            f"torchrun {ranks} ranks: each rank's evaluation {each} s; rank 0's gather + merge "
            f"{run['gather']:.2f} s"
        )
    table = pd.DataFrame(rows)
    table["work crops/s"] = crops / table["work s"]
    for base in ("1 process, 0 workers", "1 process, 1 workers"):
        found = table.loc[table["run"] == base]
        if len(found):
            label = base.removeprefix("1 process, ").replace(" workers", "w")
            table[f"work x vs {label}"] = found["work s"].iloc[0] / table["work s"]
            table[f"total x vs {label}"] = found["total s"].iloc[0] / table["total s"]
    print(
        f"\n{len(dataset.records)} images x {len(pipelines)} pipelines ({crops} crops), "
        f"suite {args.suite}, free model, {os.cpu_count()} CPU cores, {_load()}"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}", na_rep="-"))
    for note in notes:
        print(note)
    return table


def _columns(run: dict) -> dict:
    return {"start-up s": run["start-up"], "work s": run["work"], "total s": run["total"]}


def _pipelines(suite: str):
    return suite_pipelines(suite, resolve_model("mobilenet_v2").reference)


def _folder_dataset(folder: Path) -> Dataset:
    """The images `repeated_dataset` wrote into `folder` (unlabelled: the free model ignores it)."""
    records = tuple(ImageRecord(p.name, p, -1) for p in sorted(folder.iterdir()))
    return Dataset(name=folder.name, root=folder, records=records, description=folder.name)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="decoders-x-resizers")
    parser.add_argument("--repeat", type=int, default=10, help="the larger size: sample set x N")
    parser.add_argument("--workers", default="0,1,2", help="comma-separated worker counts")
    parser.add_argument("--ranks", default="2", help="comma-separated torchrun rank counts")
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--images", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        run_main(args)
        return
    torch.set_num_threads(1)  # the bare work single-threaded, as the runs (OMP_NUM_THREADS=1)
    sample = sample_dataset(default_cache_dir())
    sizes = [len(sample.records)] + ([len(sample.records) * args.repeat] if args.repeat > 1 else [])
    print(f"started with {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            folder = Path(tmp) / f"sample-x{size}"
            dataset = repeated_dataset(sample, size, folder)
            measure(args, dataset, folder)
    print(f"\nended with {_load()}")


if __name__ == "__main__":
    main()
