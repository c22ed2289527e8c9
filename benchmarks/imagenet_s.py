"""Speed of ImageNet-S generation with 1 and 2 workers, and the disk it takes, on the sample set.

Each timed run writes a fresh set. "images/s" counts the decode/resize/write phase up to the
last commit; "total s" adds the hashing and the manifest, a fixed cost that a 50,000-image run
hardly notices. A short warm-up run first imports the libraries and starts the worker server, so
the timings are of the work, not of one-off start-up. Bytes per image are the variant file's size
over the number of images (the 128-byte .npy header included).

    python benchmarks/imagenet_s.py [--variants imagenet-s] [--limit N] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import pandas as pd

from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.imagenet_s.dataset import StoredSet
from sysnoise.imagenet_s.generate import GenerateConfig, write_set
from sysnoise.imagenet_s.variants import base_pipeline, parse_variants

IMAGENET_VAL = 50_000


def _now(times: list[float], chunk: int) -> None:
    times.append(time.perf_counter())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="imagenet-s")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args()

    dataset = sample_dataset(default_cache_dir()).limit(args.limit)
    variants = parse_variants(args.variants, base_pipeline())
    worker_counts = [int(w) for w in args.workers.split(",")]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        config = GenerateConfig(out=Path(tmp), progress=False, workers=max(worker_counts))
        write_set(dataset.limit(2), Path(tmp) / "warm-up", variants, config)
        for workers in worker_counts:
            out = Path(tmp) / f"workers-{workers}"
            config = GenerateConfig(out=out, progress=False, workers=workers)
            committed: list[float] = []
            started = time.perf_counter()
            outcome = write_set(dataset, out, variants, config, partial(_now, committed))
            fill = committed[-1] - started
            n_variants = len(outcome.written)
            runs.append(
                {
                    "workers": workers,
                    "images": outcome.n_images,
                    "variants": n_variants,
                    "images/s": outcome.n_images / fill,
                    "crops/s": outcome.n_images * n_variants / fill,
                    "fill s": fill,
                    "total s": outcome.seconds,
                }
            )
        stored = StoredSet(out)
        sizes = pd.DataFrame(
            [
                {
                    "variant": entry["name"],
                    "bytes/image": entry["bytes"] / len(stored),
                    "failed": entry["n_failed"],
                    f"GB per {IMAGENET_VAL:,} images": entry["bytes"]
                    / len(stored)
                    * IMAGENET_VAL
                    / 1e9,
                }
                for entry in stored.manifest["variants"]
            ]
        )
    print(
        f"ImageNet-S generation on the sample set ({len(dataset)} images), "
        f"{len(variants)} variants ({args.variants}), crop 224"
    )
    print(pd.DataFrame(runs).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print()
    print(sizes.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    total = sizes[f"GB per {IMAGENET_VAL:,} images"].sum()
    print(f"\nall {len(sizes)} variants for {IMAGENET_VAL:,} images: {total:,.1f} GB")


if __name__ == "__main__":
    main()
