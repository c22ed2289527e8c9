"""What the board ranks and compares entries by: per-entry figures that cannot cancel.

The ranking measure is the mean flip rate over the suite's single noises (the combined stack is a
composite of them and is shown on its own): it needs no labels, and a noise that breaks some
predictions and fixes others still counts every change. The mean Δ top-1 (which can cancel) and
the mean |Δ| (which cannot) stand beside it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

from sysnoise.leaderboard.consistency import is_web_url

COMBINED = "combined"
ALPHA = 0.05
# Holm-adjusted p as the results may carry it (first name found wins); computed otherwise.
_HOLM_FIELDS = ("mcnemar_p_holm", "p_holm", "holm_p")
_ABS_MEAN_FIELDS = ("abs_mean", "mean_abs")
Interval = tuple[float, float]


@dataclass(frozen=True)
class EntrySummary:
    """One entry's board figures (fractions, not percentages); None where nothing was measured."""

    mean_flip: float | None
    mean_flip_interval: Interval | None  # the mean of the per-noise Wilson bounds
    mean_delta: float | None
    mean_abs_delta: float | None
    worst_noise: str | None  # highest flip rate, then largest |Δ|
    worst_noise_index: int | None  # its position in entry["rows"]
    worst_flip: float | None
    reference_top1: float | None
    reference_top1_interval: Interval | None  # Wilson, on the labelled images
    n_single_noises: int


def single_noise_rows(entry: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(position, row) of every row that is one noise, not a step of the combined stack."""
    return [(i, row) for i, row in enumerate(entry["rows"]) if row.get("category") != COMBINED]


def entry_summary(entry: dict[str, Any]) -> EntrySummary:
    """The board's figures for one entry."""
    rows = single_noise_rows(entry)
    flips = [r["flip_rate"] for _, r in rows if r.get("flip_rate") is not None]
    deltas = [r["delta_top1"] for _, r in rows if r.get("delta_top1") is not None]
    bounds = [r["flip_rate_ci"] for _, r in rows if r.get("flip_rate_ci")]
    worst = max(
        (
            (r["flip_rate"], abs(r.get("delta_top1") or 0.0), -i, i)
            for i, r in rows
            if r.get("flip_rate") is not None
        ),
        default=None,
    )
    reference = entry.get("reference", {})
    return EntrySummary(
        mean_flip=_mean(flips),
        mean_flip_interval=_mean_interval(bounds),
        mean_delta=_mean(deltas),
        mean_abs_delta=_mean([abs(d) for d in deltas]),
        worst_noise=None if worst is None else entry["rows"][worst[3]]["noise"],
        worst_noise_index=None if worst is None else worst[3],
        worst_flip=None if worst is None else worst[0],
        reference_top1=reference.get("top1"),
        reference_top1_interval=wilson_interval(
            reference.get("top1"), reference.get("n_labelled") or 0
        ),
        n_single_noises=len(rows),
    )


def category_flip_mean(entry: dict[str, Any], category: str) -> float | None:
    """Mean flip rate of a category (the combined stack: its final step's)."""
    return _category_mean(entry, category, "flip_mean", "flip_rate", abs_value=False)


def category_delta_mean(entry: dict[str, Any], category: str) -> float | None:
    """Mean Δ top-1 of a category (the combined stack: its final step's)."""
    return _category_mean(entry, category, "mean", "delta_top1", abs_value=False)


def category_abs_mean(entry: dict[str, Any], category: str) -> float | None:
    """Mean |Δ top-1| of a category (the combined stack: its final step's)."""
    summary = entry.get("categories", {}).get(category, {})
    for field in _ABS_MEAN_FIELDS:
        if category != COMBINED and summary.get(field) is not None:
            return float(summary[field])
    return _category_mean(entry, category, None, "delta_top1", abs_value=True)


def _category_mean(
    entry: dict[str, Any], category: str, summary_field: str | None, row_field: str, abs_value: bool
) -> float | None:
    """From the category summary where the results carry it, else from the rows. The combined
    stack's steps are cumulative, so its figure is the last step's, never a mean over steps."""
    rows = [r for r in entry["rows"] if r.get("category") == category]
    if category == COMBINED:
        value = rows[-1].get(row_field) if rows else None
        return None if value is None else (abs(value) if abs_value else float(value))
    summary = entry.get("categories", {}).get(category, {})
    if summary_field is not None and summary.get(summary_field) is not None:
        return float(summary[summary_field])
    values = [r[row_field] for r in rows if r.get(row_field) is not None]
    return _mean([abs(v) for v in values] if abs_value else values)


def holm_adjusted(entry: dict[str, Any]) -> list[float | None]:
    """Each row's Holm-adjusted McNemar p across the run: the stored one, else computed here."""
    rows = entry["rows"]
    for field in _HOLM_FIELDS:
        if any(field in row for row in rows):
            return [row.get(field) for row in rows]
    raw = [(i, row.get("mcnemar_p")) for i, row in enumerate(rows)]
    known = [(i, p) for i, p in raw if p is not None]
    adjusted: list[float | None] = [None] * len(rows)
    if not known:
        return adjusted
    order = np.argsort([p for _, p in known], kind="stable")
    m = len(known)
    running = 0.0
    for rank, position in enumerate(order):
        index, p = known[position]
        running = max(running, min(1.0, (m - rank) * p))  # Holm's step-down, kept monotone
        adjusted[index] = running
    return adjusted


def architecture_family(entry: dict[str, Any]) -> str:
    """The model's family: the results' own field if present, else the leading word of its
    architecture name (``mobilenet_v2`` -> ``mobilenet``, ``efficientnet_lite0`` ->
    ``efficientnet``, ``resnet50`` -> ``resnet``)."""
    model = entry.get("model", {})
    if model.get("family"):
        return str(model["family"])
    match = re.match(r"[A-Za-z]+", str(model.get("arch") or model.get("name") or ""))
    return match.group(0).lower() if match else "?"


def safe_url(value: Any) -> str | None:
    """`value` (trimmed) when it is an http(s) URL the board may link to, else None: never a
    javascript: or data: link (the validation's own test, is_web_url)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if is_web_url(text) else None


def wilson_interval(proportion: float | None, n: int) -> Interval | None:
    """95% Wilson interval of a proportion observed on `n` items (scipy), or None."""
    if proportion is None or n <= 0:
        return None
    k = int(round(proportion * n))
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else None


def _mean_interval(bounds: list[list[float]]) -> Interval | None:
    if not bounds:
        return None
    array = np.asarray(bounds, dtype=float)
    return (float(array[:, 0].mean()), float(array[:, 1].mean()))
