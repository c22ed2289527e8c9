"""Per-noise metrics against the reference pipeline: accuracy, deltas, flips, tests, intervals."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

_Z95 = 1.959963984540054


@dataclass(frozen=True)
class NoiseMetrics:
    """Metrics of one noise against the reference pipeline on the same images."""

    n_images: int
    n_failed: int
    n_labelled: int
    top1: float | None
    top5: float | None
    ref_top1: float | None
    ref_top5: float | None
    delta_top1: float | None
    delta_top1_ci: tuple[float, float] | None
    delta_top5: float | None
    mcnemar_p: float | None
    n_broken: int
    n_fixed: int
    flip_rate: float | None
    flip_rate_ci: tuple[float, float] | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (lists for intervals, plain Python numbers)."""
        return {key: _jsonable(value) for key, value in asdict(self).items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _correct(top5: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    return (top5[:, :k] == labels[:, None]).any(axis=1)


def topk_accuracy(top5: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of labelled rows (label >= 0) whose label is among the first k predictions."""
    top5, labels = np.asarray(top5), np.asarray(labels)
    labelled = labels >= 0
    if not labelled.any():
        raise ValueError("topk_accuracy needs at least one labelled row")
    return float(_correct(top5[labelled], labels[labelled], k).mean())


def flip_rate(ref_top1: np.ndarray, noisy_top1: np.ndarray) -> float:
    """Share of images whose noisy top-1 differs from the reference top-1."""
    ref_top1, noisy_top1 = np.asarray(ref_top1), np.asarray(noisy_top1)
    if ref_top1.shape != noisy_top1.shape or ref_top1.size == 0:
        raise ValueError("flip_rate needs two non-empty arrays of the same shape")
    return float((ref_top1 != noisy_top1).mean())


def wilson_interval(successes: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion successes / n."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval needs 0 <= successes <= n, n > 0; got {successes}/{n}")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # The bounds touch 0 and 1 exactly at the edges; rounding would leave 0.9999999999999999.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return float(low), float(high)


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: binomial test of b discordant pairs out of b + c at 0.5."""
    if b < 0 or c < 0:
        raise ValueError("mcnemar_exact needs non-negative counts")
    if b + c == 0:
        return 1.0
    return float(binomtest(int(b), int(b + c), 0.5).pvalue)


def paired_bootstrap_ci(
    ref_correct: np.ndarray,
    noisy_correct: np.ndarray,
    *,
    seed: int,
    n_boot: int,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(ref_correct) - mean(noisy_correct), images paired."""
    ref = np.asarray(ref_correct, dtype=bool)
    noisy = np.asarray(noisy_correct, dtype=bool)
    if ref.shape != noisy.shape or ref.ndim != 1 or ref.size == 0:
        raise ValueError("paired_bootstrap_ci needs two non-empty 1-D arrays of the same shape")
    n = ref.size
    broken = int((ref & ~noisy).sum())
    fixed = int((~ref & noisy).sum())
    # Each image contributes +1, -1 or 0 to the delta, so resampling n images with replacement
    # is exactly a multinomial draw of those three counts: same distribution, O(n_boot) memory.
    probs = np.array([broken, fixed, n - broken - fixed], dtype=float) / n
    counts = np.random.default_rng(seed).multinomial(n, probs, size=n_boot)
    deltas = (counts[:, 0] - counts[:, 1]) / n
    alpha = (1.0 - level) / 2
    low, high = np.quantile(deltas, [alpha, 1.0 - alpha])
    return float(low), float(high)


def psnr(mse: float, peak: float = 255.0) -> float | None:
    """Peak signal-to-noise ratio in dB; None for identical inputs (mse == 0) to keep JSON valid."""
    if mse < 0:
        raise ValueError(f"mse must be non-negative, got {mse}")
    if mse == 0:
        return None
    return float(10.0 * math.log10(peak * peak / mse))


def noise_metrics(
    ref_top5: np.ndarray,
    noisy_top5: np.ndarray,
    labels: np.ndarray,
    valid: np.ndarray,
    *,
    seed: int = 0,
    n_boot: int = 2000,
) -> NoiseMetrics:
    """Compare noisy predictions with reference predictions over the valid images."""
    ref_top5, noisy_top5 = np.asarray(ref_top5), np.asarray(noisy_top5)
    labels, valid = np.asarray(labels), np.asarray(valid, dtype=bool)
    n = labels.shape[0]
    if ref_top5.ndim != 2 or ref_top5.shape != noisy_top5.shape or ref_top5.shape[0] != n:
        raise ValueError("ref_top5 and noisy_top5 must both be (N, k) with N == len(labels)")
    if valid.shape != (n,):
        raise ValueError("valid must be a boolean array of shape (N,)")
    ref, noisy, lab = ref_top5[valid], noisy_top5[valid], labels[valid]
    n_images = int(valid.sum())
    labelled = lab >= 0
    n_labelled = int(labelled.sum())

    flips: float | None = None
    flips_ci: tuple[float, float] | None = None
    if n_images:
        n_flipped = int((ref[:, 0] != noisy[:, 0]).sum())
        flips, flips_ci = n_flipped / n_images, wilson_interval(n_flipped, n_images)

    top1 = top5 = ref1 = ref5 = d1 = d5 = p = None
    d1_ci: tuple[float, float] | None = None
    broken = fixed = 0
    if n_labelled:
        ref, noisy, lab = ref[labelled], noisy[labelled], lab[labelled]
        ref_ok1, noisy_ok1 = _correct(ref, lab, 1), _correct(noisy, lab, 1)
        noisy_ok5, ref_ok5 = _correct(noisy, lab, 5), _correct(ref, lab, 5)
        top1, ref1 = float(noisy_ok1.mean()), float(ref_ok1.mean())
        top5, ref5 = float(noisy_ok5.mean()), float(ref_ok5.mean())
        # From counts, so a delta of 1/7 is exactly 1/7 rather than 5/7 - 4/7.
        d1 = (int(ref_ok1.sum()) - int(noisy_ok1.sum())) / n_labelled
        d5 = (int(ref_ok5.sum()) - int(noisy_ok5.sum())) / n_labelled
        broken = int((ref_ok1 & ~noisy_ok1).sum())
        fixed = int((~ref_ok1 & noisy_ok1).sum())
        p = mcnemar_exact(broken, fixed)
        d1_ci = paired_bootstrap_ci(ref_ok1, noisy_ok1, seed=seed, n_boot=n_boot)

    return NoiseMetrics(
        n_images=n_images,
        n_failed=n - n_images,
        n_labelled=n_labelled,
        top1=top1,
        top5=top5,
        ref_top1=ref1,
        ref_top5=ref5,
        delta_top1=d1,
        delta_top1_ci=d1_ci,
        delta_top5=d5,
        mcnemar_p=p,
        n_broken=broken,
        n_fixed=fixed,
        flip_rate=flips,
        flip_rate_ci=flips_ci,
    )


def _stats(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.max()), float(arr.std(ddof=0))


def category_summary(rows: list[dict], value: str = "delta_top1") -> dict[str, dict]:
    """Per category: number of noises, mean/max/std (ddof=0) of `value`, mean/max of flip rate."""
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["category"], []).append(row)
    summary: dict[str, dict] = {}
    for category, members in grouped.items():
        mean, high, std = _stats([r[value] for r in members if r.get(value) is not None])
        flip_mean, flip_max, _ = _stats(
            [r["flip_rate"] for r in members if r.get("flip_rate") is not None]
        )
        summary[category] = {
            "n_noises": len(members),
            "mean": mean,
            "max": high,
            "std": std,
            "flip_mean": flip_mean,
            "flip_max": flip_max,
        }
    return summary
