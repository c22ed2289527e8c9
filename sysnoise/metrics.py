"""Per-noise metrics against the reference pipeline: accuracy, deltas, flips, tests, intervals."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

from sysnoise.intervals import min_detectable_delta, paired_difference_interval, wilson_interval

# The combined category is a stack of cumulative steps: its summary is the last step's figures.
STACKED_CATEGORIES = ("combined",)


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
    delta_top5_ci: tuple[float, float] | None
    mcnemar_p: float | None
    n_broken: int
    n_fixed: int
    n_broken_top5: int
    n_fixed_top5: int
    min_detectable_delta_top1: float | None
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


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: binomial test of b discordant pairs out of b + c at 0.5."""
    if b < 0 or c < 0:
        raise ValueError("mcnemar_exact needs non-negative counts")
    if b + c == 0:
        return 1.0
    return float(binomtest(int(b), int(b + c), 0.5).pvalue)


def paired_interval(ref_correct: np.ndarray, noisy_correct: np.ndarray) -> tuple[float, float]:
    """95% interval of mean(ref_correct) - mean(noisy_correct) over paired images (Newcombe's
    hybrid score interval; see `sysnoise.intervals`)."""
    ref = np.asarray(ref_correct, dtype=bool)
    noisy = np.asarray(noisy_correct, dtype=bool)
    if ref.shape != noisy.shape or ref.ndim != 1 or ref.size == 0:
        raise ValueError("paired_interval needs two non-empty 1-D arrays of the same shape")
    return paired_difference_interval(
        int((ref & noisy).sum()),
        int((ref & ~noisy).sum()),
        int((~ref & noisy).sum()),
        int((~ref & ~noisy).sum()),
    )


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

    top1 = top5 = ref1 = ref5 = d1 = d5 = p = detectable = None
    d1_ci: tuple[float, float] | None = None
    d5_ci: tuple[float, float] | None = None
    broken = fixed = broken5 = fixed5 = 0
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
        broken5 = int((ref_ok5 & ~noisy_ok5).sum())
        fixed5 = int((~ref_ok5 & noisy_ok5).sum())
        p = mcnemar_exact(broken, fixed)
        d1_ci = paired_interval(ref_ok1, noisy_ok1)
        d5_ci = paired_interval(ref_ok5, noisy_ok5)
        detectable = min_detectable_delta(n_labelled, (broken + fixed) / n_labelled)

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
        delta_top5_ci=d5_ci,
        mcnemar_p=p,
        n_broken=broken,
        n_fixed=fixed,
        n_broken_top5=broken5,
        n_fixed_top5=fixed5,
        min_detectable_delta_top1=detectable,
        flip_rate=flips,
        flip_rate_ci=flips_ci,
    )


def _stats(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.max()), float(arr.std(ddof=0))


def category_summary(rows: list[dict], value: str = "delta_top1") -> dict[str, dict]:
    """Per category: number of noises; mean, mean absolute, max and std (ddof=0) of `value`;
    mean and max flip rate. Means of signed deltas can cancel (one noise -5 pp, another +5 pp);
    the mean |delta| and the flip rates cannot. A stacked category (the combined deployment
    stack) is summarised by its last step alone, since its rows are cumulative."""
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["category"], []).append(row)
    summary: dict[str, dict] = {}
    for category, members in grouped.items():
        summarised = members[-1:] if category in STACKED_CATEGORIES else members
        values = [r[value] for r in summarised if r.get(value) is not None]
        mean, high, std = _stats(values)
        mean_abs, _, _ = _stats([abs(v) for v in values])
        flip_mean, flip_max, _ = _stats(
            [r["flip_rate"] for r in summarised if r.get("flip_rate") is not None]
        )
        summary[category] = {
            "n_noises": len(members),
            "mean": mean,
            "mean_abs": mean_abs,
            "max": high,
            "std": std if len(summarised) == len(members) else None,
            "flip_mean": flip_mean,
            "flip_max": flip_max,
        }
    return summary
