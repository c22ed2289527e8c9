"""The columns of a dense board (segmentation or detection, against labels or the reference):
what each one ranks by, its headline figures and its per-category columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sysnoise.leaderboard.dense_summary import (
    AGREEMENT,
    DETECTION,
    LABELS,
    SEGMENTATION,
    DenseSummary,
    dense_category_mean,
    dense_summary,
)

WORST_NOISE = "worst noise"  # the same column as the classification board's
PIXELS_CHANGED = "mean pixels changed %"
IMAGES_CHANGED = "mean images changed %"
LOST = "mean detections lost %"


@dataclass(frozen=True)
class DenseBoard:
    """How a board of one task, scored one way, ranks its entries and names its columns."""

    task: str
    scoring: str
    rank_column: str  # the figure the rank follows
    ascending: bool  # lower is more robust
    tie_column: str  # what orders entries of equal rank (lowest first)
    metric: str  # "mIoU" or "mAP"
    headline: tuple[str, ...]  # figure columns between the model and its worst noise
    worst_column: str
    titles: dict[str, str]  # header hover texts
    ranking: str  # one sentence: what ranks, what stands beside it

    def column_title(self, column: str) -> str | None:
        """The hover text of one header, where it has one."""
        return self.titles.get(column) or _CHANGED_TITLES.get(column)

    @property
    def core_columns(self) -> tuple[str, ...]:
        """The compact columns, in the order a narrow terminal keeps them."""
        return (
            "rank",
            "model",
            *self.headline,
            WORST_NOISE,
            self.worst_column,
            "family",
            "backend",
            "n images",
            "date",
        )


def _labelled(task: str, metric: str, changed: str, extra: tuple[str, ...]) -> DenseBoard:
    mean_abs, mean = f"mean |Δ{metric}| pp", f"mean Δ{metric} pp"
    against = "masks" if task == SEGMENTATION else "annotations"
    return DenseBoard(
        task=task,
        scoring=LABELS,
        rank_column=mean_abs,
        ascending=True,
        tie_column=changed,
        metric=metric,
        headline=(mean_abs, mean, changed, *extra, f"reference {metric} %"),
        worst_column=f"worst Δ{metric} pp",
        titles={
            "rank": f"rank by mean |Δ{metric}| over the single noises, lowest first (ties share "
            "a rank)",
            mean_abs: f"mean of |reference − noisy {metric}| against the {against} over the "
            "single noises (cannot cancel)",
            mean: f"reference minus noisy {metric}, mean over the single noises (can cancel)",
            f"reference {metric} %": f"the reference pipeline's {metric} against the {against}",
        },
        ranking=f"scored against the {against}; ranked by the mean |Δ{metric}| over the suite's "
        f"single noises (reference minus noisy {metric} in pp, lower is more robust, cannot "
        f"cancel); the mean Δ{metric} beside it can cancel",
    )


def _agreement(task: str, metric: str, changed: str, extra: tuple[str, ...]) -> DenseBoard:
    mean = f"mean agreement {metric} %"
    outputs = "masks" if task == SEGMENTATION else "detections"
    return DenseBoard(
        task=task,
        scoring=AGREEMENT,
        rank_column=mean,
        ascending=False,
        tie_column=changed,
        metric=metric,
        headline=(mean, changed, *extra),
        worst_column=f"worst agreement {metric} %",
        titles={
            "rank": f"rank by mean agreement {metric} over the single noises, highest first "
            "(ties share a rank)",
            mean: f"{metric} of each noise against the reference pipeline's own {outputs} (no "
            "labels; 100 when nothing moves), mean over the single noises",
        },
        ranking=f"no labels: scored against the reference pipeline's own {outputs}; ranked by "
        f"the mean agreement {metric} over the suite's single noises (100 when nothing moves, "
        "higher is more robust; a noise can only lower it, so it cannot cancel)",
    )


_CHANGED_TITLES = {
    PIXELS_CHANGED: "share of pixels whose class changes against the reference, mean over the "
    "single noises",
    IMAGES_CHANGED: "share of images where a reference detection was lost or a new one appeared, "
    "mean over the single noises",
    LOST: "reference detections (score ≥ the agreement threshold) with no same-label match at "
    "IoU ≥ 0.5 under the noise, mean share over the single noises",
}
BOARDS: dict[tuple[str, str], DenseBoard] = {
    (SEGMENTATION, LABELS): _labelled(SEGMENTATION, "mIoU", PIXELS_CHANGED, ()),
    (SEGMENTATION, AGREEMENT): _agreement(SEGMENTATION, "mIoU", PIXELS_CHANGED, ()),
    (DETECTION, LABELS): _labelled(DETECTION, "mAP", IMAGES_CHANGED, (LOST,)),
    (DETECTION, AGREEMENT): _agreement(DETECTION, "mAP", LOST, (IMAGES_CHANGED,)),
}


def dense_figures(
    board: DenseBoard, entry: dict[str, Any], categories: list[str]
) -> tuple[DenseSummary, dict[str, Any], dict[str, Any]]:
    """(summary, headline and worst-noise figures, per-category figures) of one entry, in
    percent or pp, NaN where nothing was measured."""
    summary = dense_summary(entry)
    values = {
        f"mean |Δ{board.metric}| pp": summary.mean_abs_delta,
        f"mean Δ{board.metric} pp": summary.mean_delta,
        f"mean agreement {board.metric} %": summary.mean_agreement,
        f"reference {board.metric} %": summary.reference_score,
        PIXELS_CHANGED: summary.mean_changed,
        IMAGES_CHANGED: summary.mean_changed,
        LOST: summary.mean_lost,
    }
    headline = {column: _percent(values[column]) for column in board.headline}
    worst = {
        WORST_NOISE: summary.worst_noise or "",
        board.worst_column: _percent(summary.worst_value),
    }
    per_category: dict[str, Any] = {}
    for category in categories:
        if board.scoring == LABELS:
            figures = [
                (f"|Δ{board.metric}| pp", "delta", True),
                (f"Δ{board.metric} pp", "delta", False),
            ]
        else:
            figures = [(f"agreement {board.metric} %", "agreement", False)]
        if board.task == SEGMENTATION:
            figures.append(("pixels changed %", "changed", False))
        else:
            figures.append(("detections lost %", "lost", False))
        for label, figure, absolute in figures:
            value = dense_category_mean(entry, category, figure, absolute)
            per_category[f"{category} {label}"] = _percent(value)
    return summary, {**headline, **worst}, per_category


def _percent(fraction: float | None) -> float:
    return float("nan") if fraction is None else round(100.0 * fraction, 3)
