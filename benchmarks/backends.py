"""Throughput and agreement of every available backend x precision on mobilenet_v2.

The sample set's images go through the model's reference preprocessing; the first --calibration
of them calibrate INT8, the rest are the evaluation batch. For each backend and precision the
table gives images/s (best of up to --repeats timed passes over a --batch-sized batch, after
--warmup passes, stopping early once --budget seconds are spent), the time to prepare (export,
quantize, build), and against torch FP32 eager on the evaluation images: the largest absolute
logit difference and the top-1 agreement.

    python benchmarks/backends.py [--batch 16] [--warmup 1] [--repeats 3] [--calibration 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sysnoise.backends import BACKENDS, BackendContext
from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.errors import SysnoiseError
from sysnoise.preprocess import model_input, normalise
from sysnoise.weights import load_model
from sysnoise.zoo import resolve_model


def sample_inputs(pipeline) -> np.ndarray:
    """The sample set as one normalised (N, 3, H, W) batch under `pipeline`."""
    records = sample_dataset(default_cache_dir()).records
    crops = np.stack([model_input(record.path.read_bytes(), pipeline) for record in records])
    return normalise(crops, pipeline)


def images_per_second(
    backend, batch: np.ndarray, warmup: int, repeats: int, budget: float
) -> float:
    """Best throughput of `backend.infer` on `batch` over up to `repeats` passes in `budget` s."""
    for _ in range(warmup):
        backend.infer(batch)
    best, spent = float("inf"), 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        backend.infer(batch)
        seconds = time.perf_counter() - started
        best, spent = min(best, seconds), spent + seconds
        if spent > budget:  # slow paths (bf16 on a CPU without bf16 units) need no more passes
            break
    return len(batch) / best


def measure(name, precision, model, inputs, context, args, reference) -> dict:
    """One table row; `reference` is None for the reference itself."""
    row = {"backend": name, "precision": precision}
    reason = BACKENDS.get(name).availability(precision)
    if reason is not None:
        return {**row, "note": reason}
    backend = BACKENDS.get(name)(precision=precision, context=context)
    started = time.perf_counter()
    try:
        backend.prepare(model, inputs[:2])
    except SysnoiseError as exc:
        return {**row, "note": str(exc)}
    row["prepare s"] = time.perf_counter() - started
    try:
        logits = backend.infer(inputs)
        timed = np.resize(inputs, (args.batch, *inputs.shape[1:]))  # repeat images to fill
        row["images/s"] = images_per_second(backend, timed, args.warmup, args.repeats, args.budget)
        row["device"] = backend.describe()["device"]
    finally:
        backend.release()
    reference = logits if reference is None else reference
    row["max |dlogit|"] = float(np.abs(logits - reference).max())
    row["top-1 agree"] = float((logits.argmax(1) == reference.argmax(1)).mean())
    row["logits"] = logits
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=10.0, help="timing seconds per row")
    parser.add_argument("--calibration", type=int, default=8, help="images that calibrate INT8")
    parser.add_argument("--method", default="minmax", help="minmax, entropy or percentile")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: a temp folder")
    args = parser.parse_args()

    spec = resolve_model("mobilenet_v2")
    model, weights_sha256 = load_model(spec)
    everything = sample_inputs(spec.reference)
    calibration, inputs = everything[: args.calibration], everything[args.calibration :]
    with tempfile.TemporaryDirectory() as scratch:
        context = BackendContext(
            device=args.device,
            cache_dir=args.cache_dir or Path(scratch),
            model_id=f"mobilenet_v2-{weights_sha256[:16]}",
            calibration=calibration,
            calibration_method=args.method,
        )
        reference = None
        rows = []
        for name in BACKENDS.names():
            for precision in BACKENDS.get(name).precisions:
                row = measure(name, precision, model, inputs, context, args, reference)
                if reference is None:
                    reference = row["logits"]
                rows.append(row)
    table = pd.DataFrame(rows).drop(columns="logits")
    print(
        f"mobilenet_v2, {len(inputs)} sample images (+{len(calibration)} calibrating INT8, "
        f"{args.method}), timed batch {args.batch}, warmup {args.warmup}, "
        f"best of <= {args.repeats}; "
        "differences against torch fp32 on the same images"
    )
    print(table.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
