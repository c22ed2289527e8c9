"""How an older Pillow or OpenCV release differs from today's, on the sample set.

Needs a side environment registered in $SYSNOISE_SIDE_ENVS (README, "Side environments"), e.g.

    make side-env NAME=opencv-4.5.5 PACKAGES='opencv-python-headless==4.5.5.64 numpy<2'
    SYSNOISE_SIDE_ENVS="opencv-4.5.5:opencv:$PWD/.venv-side-opencv-4.5.5/bin/python" \\
        python benchmarks/library_era.py opencv-4.5.5

For each image: decode with both releases (max abs difference), then resize today's decode with
each filter of both to the shorter side 256, and compare the 224 crops of the whole pipeline.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.noises.decoders import DECODERS, decode
from sysnoise.noises.resizers import RESIZERS, resize
from sysnoise.noises.sideenv import register_side_entries
from sysnoise.pipeline import Pipeline, resized_size
from sysnoise.preprocess import ImagePreparer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", help="the side environment's prefix in $SYSNOISE_SIDE_ENVS")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    register_side_entries()
    if args.prefix not in DECODERS:
        raise SystemExit(f"no side environment {args.prefix!r} in $SYSNOISE_SIDE_ENVS")
    entry = DECODERS.get(args.prefix)
    reason = entry.unavailable_reason()
    if reason is not None:
        raise SystemExit(f"{args.prefix} is not available: {reason}")
    today = "cv2" if entry.library.startswith("OpenCV") else "pil"
    filters = [
        name.removeprefix(f"{args.prefix}-")
        for name in RESIZERS.names()
        if name.startswith(f"{args.prefix}-")
    ]
    dataset = sample_dataset(default_cache_dir()).limit(args.limit)
    rows = {key: [] for key in ["decode", *filters, "crop 224"]}
    for record in dataset.records:
        data = record.path.read_bytes()
        plain = decode(today, data, 0)
        pairs = {"decode": (decode(args.prefix, data, 0), plain)}
        height, width = resized_size(*plain.shape[:2], 256, "shorter")
        for name in filters:
            pairs[name] = (
                resize(f"{args.prefix}-{name}", plain, height, width),
                resize(f"{today}-{name}", plain, height, width),
            )
        old = Pipeline(decoder=args.prefix, resizer=f"{args.prefix}-{filters[1]}")
        new = Pipeline(decoder=today, resizer=f"{today}-{filters[1]}")
        preparer = ImagePreparer(data)
        pairs["crop 224"] = (preparer.model_input(old), preparer.model_input(new))
        for key, (a, b) in pairs.items():
            diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
            rows[key].append((int(diff.max()), float((diff > 0).mean())))
    print(f"{entry.library} against today's {today} on {len(dataset)} sample images")
    table = pd.DataFrame(
        [
            {
                "step": key if key in ("decode", "crop 224") else f"resize {key}",
                "max abs diff": max(m for m, _ in values),
                "mean share of values that differ %": 100 * float(np.mean([s for _, s in values])),
                "images with any difference": sum(s > 0 for _, s in values),
            }
            for key, values in rows.items()
        ]
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
