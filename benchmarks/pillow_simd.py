"""How Pillow-SIMD's pixels differ from Pillow's, on the sample set (needs `make pillow-simd-env`).

For each image: decode with both (max abs difference), then resize the Pillow-decoded image with
each filter of both to the reference's shorter side 256 (max abs difference, share of differing
values), and compare the full 224 crops of pillow-simd/pillow-simd-bilinear and pil/pil-bilinear.

    python benchmarks/pillow_simd.py [--limit N]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.noises.decoders import decode
from sysnoise.noises.resizers import resize
from sysnoise.noises.sideenv import register_side_entries, side_environment
from sysnoise.pipeline import Pipeline, resized_size
from sysnoise.preprocess import ImagePreparer

FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    register_side_entries()
    environment = side_environment("pillow-simd")
    reason = environment.availability()
    if reason is not None:
        raise SystemExit(f"Pillow-SIMD is not available: {reason}")
    dataset = sample_dataset(default_cache_dir()).limit(args.limit)
    reference = Pipeline()
    simd = reference.with_changes(decoder="pillow-simd", resizer="pillow-simd-bilinear")
    max_diff = {"decode": 0, "crop 224 (bilinear)": 0, **dict.fromkeys(FILTERS, 0)}
    differing = {key: [] for key in max_diff}
    for record in dataset.records:
        data = record.path.read_bytes()
        plain = decode("pil", data, 0)
        pairs = {"decode": (decode("pillow-simd", data, 0), plain)}
        height, width = resized_size(*plain.shape[:2], 256, "shorter")
        for name in FILTERS:
            pairs[name] = (
                resize(f"pillow-simd-{name}", plain, height, width),
                resize(f"pil-{name}", plain, height, width),
            )
        preparer = ImagePreparer(data)
        pairs["crop 224 (bilinear)"] = (preparer.model_input(simd), preparer.model_input(reference))
        for key, (a, b) in pairs.items():
            diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
            max_diff[key] = max(max_diff[key], int(diff.max()))
            differing[key].append(float((diff > 0).mean()))
    versions = environment.versions()
    print(
        f"Pillow-SIMD {versions.get('pillow-simd')} (libjpeg-turbo {versions.get('libjpeg_turbo')})"
        f" against the main Pillow, on {len(dataset)} sample images"
    )
    table = pd.DataFrame(
        [
            {
                "step": key,
                "max abs diff": max_diff[key],
                "mean share of values that differ %": 100 * float(np.mean(differing[key])),
                "images with any difference": sum(share > 0 for share in differing[key]),
            }
            for key in max_diff
        ]
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
