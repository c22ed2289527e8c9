"""Peak memory of an evaluation at 33, 330 and 3,300 images: it must not grow with the dataset.

The sample set is repeated under new names (each copy with its own bytes, so nothing is taken
from another copy's cached predictions) and evaluated by the engine with a model that costs
nothing, from an empty cache, each size in a fresh process, and its predictions side file is
written as bench writes it (a block of rows at a time). Peak resident memory is reported for the
main process and for the largest decoding worker (getrusage), with the size of the outcome arrays
the evaluation keeps (compact top-5 and input differences per image and pipeline).

    python benchmarks/memory.py [--suite quick] [--sizes 33,330,3300] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from workload import free_model, repeated_dataset, suite_pipelines

from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.engine import EngineOptions, evaluate
from sysnoise.predictions import predictions_table, write_predictions
from sysnoise.store import PredictionStore
from sysnoise.zoo import resolve_model


def measure(suite: str, size: int, workers: int) -> dict:
    """One size, in this process: seconds, peak RSS of this process and its workers (MiB)."""
    pipelines = suite_pipelines(suite, resolve_model("mobilenet_v2").reference)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = repeated_dataset(sample_dataset(default_cache_dir()), size, Path(tmp) / "images")
        store = PredictionStore(Path(tmp) / "predictions.sqlite", "benchmark")
        started = time.perf_counter()
        result = evaluate(
            dataset, pipelines, free_model(), store, EngineOptions(32, workers, False)
        )
        named = [(f"pipeline{k}", pipeline) for k, pipeline in enumerate(pipelines)]
        write_predictions(predictions_table(result, named), Path(tmp) / "p.csv.gz")
        seconds = time.perf_counter() - started
        store.close()
    outcome_bytes = sum(
        table[key].nbytes
        for table in (result.top5, result.max_abs_diff, result.mse)
        for key in table
    )
    return {
        "images": size,
        "crops": size * len(pipelines),
        "seconds": seconds,
        "main peak MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker peak MiB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "outcome arrays MiB": outcome_bytes / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--sizes", default="33,330,3300")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.suite, args.one, args.workers)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        command = [sys.executable, __file__, "--suite", args.suite, "--workers", str(args.workers)]
        done = subprocess.run([*command, "--one", str(size)], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"size {size} failed:\n{done.stderr[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows)
    print(f"free model, suite {args.suite}, {args.workers} workers, each size in a fresh process")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
