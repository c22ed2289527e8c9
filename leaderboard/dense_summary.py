"""What the board ranks dense entries (segmentation, detection) by.

A dense run is scored either against labels (masks, COCO annotations) or, without them, against
the reference pipeline's own outputs ("agreement"). The two are different measurements: an
agreement mAP of 90 and a true mAP of 90 say different things, so entries are only ever ranked
against entries of the same task scored the same way.

- Against labels, entries rank by the mean |Δ| (ΔmIoU or ΔmAP, reference minus noisy) over the
  suite's single noises: it cannot cancel. The mean Δ, which can, stands beside it.
- Against the reference, entries rank by the mean agreement (agreement mIoU or agreement mAP, 100
  when nothing moves): a noise can only lower it, so it cannot cancel either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sysnoise.leaderboard.summary import COMBINED, single_noise_rows

CLASSIFICATION = "classification"
SEGMENTATION = "segmentation"
DETECTION = "detection"
LABELS = "labels"
AGREEMENT = "agreement"


def board_kind(entry: dict[str, Any]) -> tuple[str, str | None]:
    """(task, scoring) of an entry: scoring is LABELS or AGREEMENT for dense tasks, None for
    classification (whose flip rate needs no labels and whose Δ needs them, side by side)."""
    task = entry.get("task", CLASSIFICATION)
    if task == SEGMENTATION:
        return task, LABELS if entry.get("category_value") == "delta_miou" else AGREEMENT
    if task == DETECTION:
        return task, LABELS if entry.get("scored_against") == "annotations" else AGREEMENT
    return CLASSIFICATION, None


@dataclass(frozen=True)
class DenseSummary:
    """One dense entry's board figures (fractions); None where nothing was measured."""

    task: str
    scoring: str
    headline: float | None  # what ranks: mean |Δ| (labels) or mean agreement (agreement)
    mean_delta: float | None  # labels only: mean Δ, which can cancel
    mean_abs_delta: float | None  # labels only
    mean_agreement: float | None  # agreement mIoU (both scorings) or agreement mAP
    mean_changed: float | None  # segmentation: pixels changed; detection: images changed
    mean_lost: float | None  # detection: detections lost / reference detections, per noise
    reference_score: float | None  # reference mIoU or mAP against the labels
    worst_noise: str | None  # largest |Δ| (labels) or lowest agreement, then most changed
    worst_noise_index: int | None  # its position in entry["rows"]
    worst_value: float | None  # its Δ (labels) or agreement
    n_single_noises: int


def row_delta(entry: dict[str, Any], row: dict[str, Any]) -> float | None:
    """The row's Δ against the labels (reference minus noisy): ΔmIoU or ΔmAP."""
    if entry.get("task") == SEGMENTATION:
        return row.get("delta_miou")
    return row.get("delta_map")


def row_agreement(entry: dict[str, Any], row: dict[str, Any]) -> float | None:
    """The row's agreement with the reference: agreement mIoU, or (scored against the
    reference's detections) mAP; None for a detection run scored against annotations."""
    if entry.get("task") == SEGMENTATION:
        return row.get("agreement_miou")
    if board_kind(entry)[1] != AGREEMENT:
        return None
    return (row.get("scores") or {}).get("map")


def row_lost(row: dict[str, Any]) -> float | None:
    """Share of the reference's detections (at the agreement threshold) this noise lost."""
    moved = row.get("detections")
    if not moved:
        return None
    total = moved["stayed"] + moved["lost"]
    return moved["lost"] / total if total else None


def dense_summary(entry: dict[str, Any]) -> DenseSummary:
    """The board's figures for one segmentation or detection entry."""
    task, scoring = board_kind(entry)
    rows = single_noise_rows(entry)
    deltas = [row_delta(entry, r) for _, r in rows]
    agreements = [row_agreement(entry, r) for _, r in rows]
    mean_abs = _mean([abs(d) for d in deltas if d is not None])
    mean_agreement = _mean(agreements)
    if scoring == LABELS:
        candidates = [
            (abs(d), r.get("flip_rate") or 0.0, -i, i)
            for (i, r), d in zip(rows, deltas, strict=True)
            if d is not None
        ]
    else:
        candidates = [
            (-a, r.get("flip_rate") or 0.0, -i, i)
            for (i, r), a in zip(rows, agreements, strict=True)
            if a is not None
        ]
    worst = max(candidates, default=None)
    worst_index = None if worst is None else worst[3]
    worst_row = None if worst_index is None else entry["rows"][worst_index]
    worst_value = None
    if worst_row is not None:
        read = row_delta if scoring == LABELS else row_agreement
        worst_value = read(entry, worst_row)
    reference = entry.get("reference", {})
    return DenseSummary(
        task=task,
        scoring=scoring or AGREEMENT,
        headline=mean_abs if scoring == LABELS else mean_agreement,
        mean_delta=_mean(deltas) if scoring == LABELS else None,
        mean_abs_delta=mean_abs if scoring == LABELS else None,
        mean_agreement=mean_agreement,
        mean_changed=_mean([r.get("flip_rate") for _, r in rows]),
        mean_lost=_mean([row_lost(r) for _, r in rows]) if task == DETECTION else None,
        reference_score=reference.get("miou") if task == SEGMENTATION else reference.get("map"),
        worst_noise=None if worst_row is None else worst_row["noise"],
        worst_noise_index=worst_index,
        worst_value=worst_value,
        n_single_noises=len(rows),
    )


def dense_category_mean(
    entry: dict[str, Any], category: str, figure: str, absolute: bool = False
) -> float | None:
    """Mean of one row figure ("delta", "agreement", "changed" or "lost") over a category's
    noises; the combined stack's figure is its final step's (its steps are cumulative)."""
    getters = {
        "delta": lambda r: row_delta(entry, r),
        "agreement": lambda r: row_agreement(entry, r),
        "changed": lambda r: r.get("flip_rate"),
        "lost": row_lost,
    }
    rows = [r for r in entry["rows"] if r.get("category") == category]
    if category == COMBINED:
        rows = rows[-1:]
    values = [getters[figure](r) for r in rows]
    values = [v for v in values if v is not None]
    return _mean([abs(v) for v in values] if absolute else values)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(known)) if known else None
