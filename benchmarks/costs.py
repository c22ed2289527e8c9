"""Per-crop costs measured on this machine, and the cost model they give for a full run.

Measured on the sample set, one process, one core for preparation:
- decode: each file decoded once per distinct decoder (and colour path), per image;
- resize: the rest of the bare preparation (each distinct resize and crop once), per image;
- forward passes per image: the distinct (model side, model input) pairs of the suite, which is
  what the engine runs (identical inputs share one pass);
- forward: seconds per crop of the model in FP32 on this CPU (batch 16, all cores; the weights
  do not change the cost, so untrained weights stand in where the real ones are not at hand).

Projected for `--images` images (default 50,000, ImageNet val) on a machine with `--cores`
preparation cores and, if `--gpu-rate` (forward passes/s of one GPU, as benchmarks/gpu.py
prints it) is given, `--gpus` GPUs per node, on `--nodes` nodes: preparation and forward passes
overlap, so the wall time is the larger of the two; the smaller one is hidden.

    python benchmarks/costs.py [--model resnet50] [--suites decoders-x-resizers,sysnoise]
        [--limit N] [--cores 16] [--gpu-rate R] [--gpus 1] [--nodes 1] [--images 50000]
"""

from __future__ import annotations

import argparse
import math
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


def decode_seconds(records, pipelines) -> float:
    """Wall time of decoding each file once per distinct decoder, size hint and colour path."""
    started = time.perf_counter()
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
    return time.perf_counter() - started


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
    """Seconds per crop of `arch` in FP32 on this CPU, batch 16 (untrained weights)."""
    model = getattr(torchvision.models, arch)(weights=None).eval()
    crops = [ImagePreparer(r.path.read_bytes()).model_input(pipeline) for r in records[:16]]
    batch = torch.from_numpy(normalise(np.stack(crops), pipeline))
    with torch.inference_mode():
        model(batch[:2])
        started = time.perf_counter()
        model(batch)
        return (time.perf_counter() - started) / len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--suites", default="decoders-x-resizers,sysnoise")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--cores", type=int, default=16, help="preparation cores per node")
    parser.add_argument("--gpu-rate", type=float, default=None, help="forward passes/s per GPU")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per node")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--images", type=int, default=50_000)
    args = parser.parse_args()

    spec = resolve_model(args.model)
    records = sample_dataset(default_cache_dir()).limit(args.limit).records
    cpu_forward = forward_seconds(spec.arch, spec.reference, records)
    rows = []
    for suite in args.suites.split(","):
        pipelines = suite_pipelines(suite, spec.reference)
        bare = bare_preparation_seconds(records, pipelines) / len(records)
        decoding = decode_seconds(records, pipelines) / len(records)
        forwards = forwards_per_image(records, pipelines)
        prepare_hours = args.images * bare / (args.cores * args.nodes) / 3600
        row = {
            "suite": suite,
            "noises": len(pipelines) - 1,
            "decode ms/img": 1000 * decoding,
            "resize ms/img": 1000 * (bare - decoding),
            "forwards/img": forwards,
            "prep h": prepare_hours,
            "CPU fwd h": args.images * forwards * cpu_forward / args.nodes / 3600,
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
    print(
        f"{args.model}: {1000 * cpu_forward:.1f} ms per crop forward in FP32 on this CPU "
        f"({torch.get_num_threads()} threads); sample set {len(records)} images; projected for "
        f"{args.images} images, {args.nodes} node(s) x {args.cores} preparation cores"
        + (f" x {args.gpus} GPU(s) at {args.gpu_rate:.0f} forwards/s" if args.gpu_rate else "")
    )
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"SysNoise reported {low}-{high} GPU-minutes per noise per model.")


if __name__ == "__main__":
    main()
