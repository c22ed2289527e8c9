"""Per-crop costs measured on this machine, and the cost model they give for a full run.

Measured on the sample set in CPU time (user + system, this process and the decoders' child
processes), which a busy machine inflates far less than wall time, on one torch thread as in a
decoding worker:
- decode: each file decoded once per distinct decoder (and colour path), core-ms per image;
- resize: the rest of the bare preparation (each distinct resize and crop once), per image;
- forward passes per image: the distinct (model side, model input) pairs of the suite, which is
  what the engine runs (identical inputs share one pass);
- forward: core-ms per crop of each `--models` model in FP32 on this CPU, batch 16
  (the weights do not change the cost, so untrained weights stand in for the real ones); the
  projection uses the first.

Projected for `--images` images (default 50,000, ImageNet val) on `--nodes` nodes of `--cores`
preparation cores and, if `--gpu-rate` (forward passes/s of one GPU, as benchmarks/gpu.py
prints it) is given, `--gpus` GPUs per node: preparation and forward passes overlap, so the wall
time is the larger of the two; the smaller one is hidden. "CPU fwd h" is the forward passes on
the same cores instead of a GPU.

    python benchmarks/costs.py [--models resnet50,mobilenet_v2]
        [--suites decoders-x-resizers,sysnoise] [--limit N] [--cores 16] [--gpu-rate R]
        [--gpus 1] [--nodes 1] [--images 50000]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time

import numpy as np
import pandas as pd
import torch
import torchvision
from workload import bare_preparation_seconds, suite_pipelines

from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.noises.colour import apply_colour
from sysnoise.noises.decoders import DECODERS, DecodeError, decode
from sysnoise.preprocess import ImagePreparer, PreprocessError, array_hash, normalise
from sysnoise.zoo import resolve_model

SYSNOISE_GPU_MINUTES_PER_NOISE = (10, 40)


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished child processes so far."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def decode_seconds(records, pipelines) -> float:
    """CPU time of decoding each file once per distinct decoder, size hint and colour path."""
    started = cpu_seconds()
    for record in records:
        data = record.path.read_bytes()
        done = set()
        for pipeline in pipelines:
            decoder = DECODERS.get(pipeline.decoder)
            key = (decoder.name, pipeline.resize_size if decoder.uses_min_side else None)
            if key + (pipeline.colour,) in done:
                continue
            try:
                image = decode(decoder.name, data, pipeline.resize_size)
                if pipeline.colour != "rgb":
                    apply_colour(pipeline.colour, image)
            except DecodeError:
                pass
            done.add(key + (pipeline.colour,))
    return cpu_seconds() - started


def forwards_per_image(records, pipelines) -> float:
    """Distinct (model side, model input) pairs per image: the forward passes the engine runs."""
    total = 0
    for record in records:
        preparer = ImagePreparer(record.path.read_bytes())
        distinct = set()
        for pipeline in pipelines:
            try:
                distinct.add((pipeline.model_side, array_hash(preparer.model_input(pipeline))))
            except PreprocessError:
                pass
        total += len(distinct)
    return total / len(records)


def forward_seconds(arch: str, pipeline, records) -> float:
    """CPU seconds per crop of `arch` in FP32 on one thread of this CPU, batch 16 (untrained
    weights)."""
    model = getattr(torchvision.models, arch)(weights=None).eval()
    crops = [ImagePreparer(r.path.read_bytes()).model_input(pipeline) for r in records[:16]]
    batch = torch.from_numpy(normalise(np.stack(crops), pipeline))
    with torch.inference_mode():
        model(batch[:2])
        started = time.process_time()
        model(batch)
        return (time.process_time() - started) / len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,mobilenet_v2", help="the first is projected")
    parser.add_argument("--suites", default="decoders-x-resizers,sysnoise")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--cores", type=int, default=16, help="preparation cores per node")
    parser.add_argument("--gpu-rate", type=float, default=None, help="forward passes/s per GPU")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per node")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--images", type=int, default=50_000)
    args = parser.parse_args()

    load = os.getloadavg()
    torch.set_num_threads(1)  # as in a decoding worker; idle threads spinning would count as CPU
    specs = [resolve_model(name) for name in args.models.split(",")]
    spec = specs[0]
    records = sample_dataset(default_cache_dir()).limit(args.limit).records
    forwards_ms = {s.name: 1000 * forward_seconds(s.arch, s.reference, records) for s in specs}
    cpu_forward = forwards_ms[spec.name] / 1000
    rows = []
    for suite in args.suites.split(","):
        pipelines = suite_pipelines(suite, spec.reference)
        started = cpu_seconds()
        bare_preparation_seconds(records, pipelines)
        bare = (cpu_seconds() - started) / len(records)
        decoding = decode_seconds(records, pipelines) / len(records)
        forwards = forwards_per_image(records, pipelines)
        prepare_hours = args.images * bare / (args.cores * args.nodes) / 3600
        row = {
            "suite": suite,
            "noises": len(pipelines) - 1,
            "decode core-ms/img": 1000 * decoding,
            "resize core-ms/img": 1000 * (bare - decoding),
            "forwards/img": forwards,
            "prep h": prepare_hours,
            "CPU fwd h": args.images * forwards * cpu_forward / (args.cores * args.nodes) / 3600,
        }
        if args.gpu_rate:
            gpu_hours = args.images * forwards / (args.gpu_rate * args.gpus * args.nodes) / 3600
            row["GPU fwd h"] = gpu_hours
            row["wall h"] = max(prepare_hours, gpu_hours)
            row["bound by"] = "CPU preparation" if prepare_hours > gpu_hours else "GPU forward"
            row["workers per GPU"] = math.ceil(args.gpu_rate * bare / forwards)
            row["GPU min/noise"] = 60 * gpu_hours * args.gpus * args.nodes / (len(pipelines) - 1)
        rows.append(row)
    low, high = SYSNOISE_GPU_MINUTES_PER_NOISE
    each = ", ".join(f"{name} {ms:.1f}" for name, ms in forwards_ms.items())
    print(
        f"core-ms per crop forward in FP32 on this CPU (one thread): {each}; "
        f"sample set {len(records)} images; {spec.name} projected for {args.images} images, "
        f"{args.nodes} node(s) x {args.cores} preparation cores"
        + (f" x {args.gpus} GPU(s) at {args.gpu_rate:.0f} forwards/s" if args.gpu_rate else "")
    )
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"SysNoise reported {low}-{high} GPU-minutes per noise per model.")
    end = os.getloadavg()
    print(f"load average at start {load[0]:.2f}, at end {end[0]:.2f} ({os.cpu_count()} CPU cores)")


if __name__ == "__main__":
    main()
