"""Simulated coverage of the paired interval sysnoise reports for Δtop-1 and Δtop-5.

For each number of labelled images n, share of discordant images (the noise changes whether the
image is classified correctly) and direction of the discordance (share of discordant images the
noise breaks rather than fixes), draw --reps paired 2x2 tables from the multinomial, compute
Newcombe's hybrid score interval (`sysnoise.intervals.paired_difference_interval`) for each and
print the share of intervals that contain the true difference. The target is 93-97% at a
nominal 95%. The reference accuracy is --accuracy (ImageNet-like, 0.7).

Where fewer than about five discordant images are expected (n x discordance < 5), most draws
have no or one discordant image, and any interval that contains 0 for a table without
discordance covers every small true difference: coverage there is necessarily above target
(conservative). The summary line reports those cells apart.

    python benchmarks/paired_interval_coverage.py [--reps 20000] [--seed 0] [--accuracy 0.7]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from sysnoise.intervals import paired_difference_intervals

SIZES = (20, 100, 1_000, 10_000)
DISCORDANCES = (0.005, 0.02, 0.05, 0.1, 0.3)
BROKEN_SHARES = (0.5, 0.75, 1.0)  # 0.5: no true difference; 1.0: the noise only breaks images


def coverage(
    n: int, discordance: float, broken_share: float, accuracy: float, reps: int, seed: int
) -> tuple[float, float]:
    """Share of simulated intervals that contain the true delta, and their mean width."""
    broken = discordance * broken_share
    fixed = discordance - broken
    both = accuracy - broken
    probs = np.array([both, broken, fixed, 1.0 - both - broken - fixed])
    if (probs < 0).any():
        raise ValueError(f"impossible cell: accuracy {accuracy}, discordance {discordance}")
    tables = np.random.default_rng(seed).multinomial(n, probs, size=reps)
    low, high = paired_difference_intervals(*tables.T)
    truth = broken - fixed
    return float(((low <= truth) & (truth <= high)).mean()), float((high - low).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--accuracy", type=float, default=0.7)
    args = parser.parse_args()
    records = []
    for n in SIZES:
        for discordance in DISCORDANCES:
            for share in BROKEN_SHARES:
                covered, width = coverage(
                    n, discordance, share, args.accuracy, args.reps, args.seed
                )
                records.append(
                    {
                        "n": n,
                        "discordance": discordance,
                        "broken share": share,
                        "true Δ": round(discordance * (2 * share - 1), 4),
                        "expected discordant": round(n * discordance, 1),
                        "coverage %": round(100 * covered, 2),
                        "mean width pp": round(100 * width, 2),
                    }
                )
    table = pd.DataFrame(records)
    print(table.to_string(index=False))
    mc_error = 100 * 1.96 * np.sqrt(0.95 * 0.05 / args.reps)
    print(f"\nnominal 95%; Monte Carlo error ±{mc_error:.2f} pp at {args.reps} draws per cell")
    informative = table["expected discordant"] >= 5
    for label, cells in (
        ("n x discordance >= 5", table[informative]),
        ("n x discordance < 5", table[~informative]),
    ):
        covered = cells["coverage %"]
        outside = int(((covered < 93) | (covered > 97)).sum())
        print(
            f"{label}: {len(cells)} cells, coverage {covered.min():.2f}-{covered.max():.2f}%, "
            f"{outside} outside 93-97%"
        )


if __name__ == "__main__":
    main()
