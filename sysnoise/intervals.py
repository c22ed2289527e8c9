"""Intervals, multiplicity and power for the paired comparisons a benchmark run makes.

Every noise is compared with the reference on the same images, so its accuracy and the
reference's are correlated proportions: the interval for their difference must use the pairing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import brentq
from scipy.stats import binomtest, norm

LEVEL = 0.95
ALPHA = 0.05
POWER = 0.80


def wilson_interval(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval for the binomial proportion successes / n (scipy)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval needs 0 <= successes <= n, n > 0; got {successes}/{n}")
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def paired_difference_interval(
    both: int, first_only: int, second_only: int, neither: int, level: float = LEVEL
) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for p1 - p2 from a paired 2x2 table.

    `both`: pairs where both outcomes succeed; `first_only`: only the first succeeds (p1 counts
    it, p2 does not); `second_only`: only the second; `neither`: both fail. Here p1 is the
    reference's accuracy and p2 the noisy pipeline's, so p1 - p2 is SysNoise's delta.
    """
    counts = np.array([both, first_only, second_only, neither])
    if (counts < 0).any() or counts.sum() == 0:
        raise ValueError(f"paired_difference_interval needs non-negative counts, n > 0: {counts}")
    low, high = paired_difference_intervals(*(counts[i : i + 1] for i in range(4)), level=level)
    return float(low[0]), float(high[0])


def paired_difference_intervals(
    both: np.ndarray,
    first_only: np.ndarray,
    second_only: np.ndarray,
    neither: np.ndarray,
    level: float = LEVEL,
) -> tuple[np.ndarray, np.ndarray]:
    """`paired_difference_interval` over arrays of 2x2 tables (for simulation)."""
    from statsmodels.stats.proportion import proportion_confint

    a, b, c, d = (np.asarray(x, dtype=float) for x in (both, first_only, second_only, neither))
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = proportion_confint(a + b, n, alpha=1 - level, method="wilson")
    l2, u2 = proportion_confint(a + c, n, alpha=1 - level, method="wilson")
    # Newcombe's continuity-corrected phi: the cross-product less n/2, and 0 between 0 and n/2.
    product = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    corrected = np.where(cross > n / 2, cross - n / 2, np.where(cross < 0, cross, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(product > 0, corrected / np.sqrt(product), 0.0)
    delta = p1 - p2
    below = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    above = (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2
    low = np.maximum(delta - np.sqrt(np.maximum(below, 0.0)), -1.0)
    high = np.minimum(delta + np.sqrt(np.maximum(above, 0.0)), 1.0)
    return low, high


def holm_adjusted(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (family-wise error) over the non-null entries."""
    from statsmodels.stats.multitest import multipletests

    known = [i for i, p in enumerate(pvalues) if p is not None]
    adjusted: list[float | None] = [None] * len(pvalues)
    if known:
        _, corrected, _, _ = multipletests([pvalues[i] for i in known], method="holm")
        for i, p in zip(known, corrected, strict=True):
            adjusted[i] = float(p)
    return adjusted


def mcnemar_sample_size(
    delta: float, discordance: float, alpha: float = ALPHA, power: float = POWER
) -> float:
    """Pairs a two-sided McNemar test needs to detect a paired difference `delta` when a share
    `discordance` of pairs disagree (Connor 1987; normal approximation)."""
    if not 0 < delta <= discordance <= 1:
        raise ValueError(f"need 0 < delta <= discordance <= 1, got {delta}, {discordance}")
    z_alpha, z_beta = norm.ppf(1 - alpha / 2), norm.ppf(power)
    root = z_alpha * math.sqrt(discordance) + z_beta * math.sqrt(discordance - delta * delta)
    return root * root / (delta * delta)


def min_detectable_delta(
    n: int, discordance: float, alpha: float = ALPHA, power: float = POWER
) -> float | None:
    """Smallest |delta| a two-sided McNemar test on `n` pairs detects with `power` at level
    `alpha`, when a share `discordance` of pairs disagree. A delta larger than the observed
    discordance needs at least that much discordance, so the discordance used is
    max(discordance, delta). None when even delta = 1 is out of reach (tiny n)."""
    if n <= 0:
        return None

    def excess(delta: float) -> float:
        return mcnemar_sample_size(delta, max(discordance, delta), alpha, power) - n

    if excess(1.0) > 0:
        return None
    return float(brentq(excess, 1e-9, 1.0, xtol=1e-12))
