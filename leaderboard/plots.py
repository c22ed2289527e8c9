"""Plots as inline SVG strings (matplotlib, Agg): an entry's category bars and combined-stack
waterfall, and a group's reference top-1 against mean flip rate.

Text reaches the SVG as glyph paths (matplotlib's default), and its comments are escaped by
matplotlib, so no submitted string becomes markup.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sysnoise.leaderboard.summary import COMBINED, EntrySummary  # noqa: E402

COST, GAIN, NEUTRAL, MISSING_TEXT = "#cc4444", "#4477aa", "#777777", "n/e"


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype for inline use


def category_bars_svg(entry: dict[str, Any]) -> str | None:
    """Per category: mean flip rate and mean Δ top-1 with whiskers (the mean of the per-noise 95%
    bounds; the combined stack: its final step's); a zero bar is drawn as a tick and labelled
    0.0, a category that was not evaluated is labelled n/e. None when nothing was measured."""
    values = category_values(entry)
    if not any(v is not None for _, v in values):
        return None
    categories = [c for c, _ in values]
    stats = [v for _, v in values]
    figure, (flip_axes, delta_axes) = plt.subplots(
        1, 2, figsize=(max(10.0, 2.0 + 1.5 * len(categories)), 3.6)
    )
    _bars(flip_axes, categories, [None if s is None else s[0] for s in stats], "mean flip %")
    _bars(delta_axes, categories, [None if s is None else s[1] for s in stats], "mean Δ top-1 pp")
    flip_axes.set_title("flip rate")
    delta_axes.set_title("Δ top-1 (reference − noisy)")
    figure.tight_layout()
    return _svg(figure)


def waterfall_svg(entry: dict[str, Any]) -> str | None:
    """The combined stack step by step: a waterfall of Δ top-1 (each step's change from the
    previous step, and the total), and each step's flips beside the cumulative flip rate.
    None when the run has no combined stack."""
    steps = entry.get("combined") or []
    if not steps:
        return None
    labels = [str(s["noise"]).removeprefix(f"{COMBINED}/") for s in steps]
    figure, (delta_axes, flip_axes) = plt.subplots(
        1, 2, figsize=(3.0 + 2.2 * len(steps), 4.0), gridspec_kw={"width_ratios": [1.15, 1]}
    )
    previous = 0.0
    positions = np.arange(len(steps) + 1)
    for i, step in enumerate(steps):
        cumulative, change = step.get("cumulative_delta_top1"), step.get("step_delta_top1")
        if cumulative is None or change is None:
            delta_axes.text(i, previous * 100, "n/a", ha="center", va="bottom", fontsize=9)
            continue
        _waterfall_bar(delta_axes, i, 100 * (cumulative - change), 100 * change)
        if step.get("step_delta_top1_ci"):  # the step's own paired interval, where recorded
            low, high = (100 * (cumulative - change + b) for b in step["step_delta_top1_ci"])
            delta_axes.plot([i, i], [low, high], color="black", linewidth=1)
        previous = cumulative
    total = steps[-1].get("cumulative_delta_top1")
    if total is not None:
        _waterfall_bar(delta_axes, len(steps), 0.0, 100 * total, colour=NEUTRAL, label="total")
    delta_axes.axhline(0.0, color="black", linewidth=0.8)
    delta_axes.set_xticks(positions, [*labels, "total"], rotation=30, ha="right", fontsize=9)
    delta_axes.set_ylabel("Δ top-1 pp (reference − noisy)")
    delta_axes.set_title("Δ top-1: each step's change, then the total")
    step_flips = [s.get("step_flip_rate") for s in steps]
    cumulative_flips = [s.get("cumulative_flip_rate") for s in steps]
    heights = [0.0 if f is None else 100 * f for f in step_flips]
    flip_axes.bar(positions[:-1], heights, color="#ee9944", label="this step")
    for i, step in enumerate(steps):
        if step.get("step_flip_rate_ci"):
            low, high = (100 * b for b in step["step_flip_rate_ci"])
            flip_axes.plot([i, i], [low, high], color="black", linewidth=1)
    for i, flip in enumerate(step_flips):
        text = "n/a" if flip is None else f"{100 * flip:.1f}"
        flip_axes.text(i, heights[i], text, ha="center", va="bottom", fontsize=9)
    known = [(i, 100 * f) for i, f in enumerate(cumulative_flips) if f is not None]
    if known:
        flip_axes.plot(*zip(*known, strict=True), "o-", color="black", label="cumulative")
    flip_axes.set_xticks(positions[:-1], labels, rotation=30, ha="right", fontsize=9)
    flip_axes.set_ylabel("flip %")
    flip_axes.set_title("flips per step and cumulative")
    flip_axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return _svg(figure)


def robustness_scatter_svg(summaries: list[EntrySummary]) -> str | None:
    """Reference top-1 (x, Wilson interval) against mean flip rate (y, mean of the per-noise
    Wilson bounds), one point per entry labelled by its rank (1 = first in the table); None
    with no entry that has both."""
    points = [
        (rank, s)
        for rank, s in enumerate(summaries, start=1)
        if s.reference_top1 is not None and s.mean_flip is not None
    ]
    if not points:
        return None
    figure, axes = plt.subplots(figsize=(5.2, 3.6))
    for rank, summary in points:
        x, y = 100 * summary.reference_top1, 100 * summary.mean_flip
        x_err = _errors(x, summary.reference_top1_interval)
        y_err = _errors(y, summary.mean_flip_interval)
        axes.errorbar(x, y, xerr=x_err, yerr=y_err, fmt="o", color=GAIN, ecolor="#99aacc")
        axes.annotate(str(rank), (x, y), textcoords="offset points", xytext=(5, 5), fontsize=10)
    axes.set_xlabel("reference top-1 % (95% Wilson interval)")
    axes.set_ylabel("mean flip % (lower is more robust)")
    axes.set_title("accuracy against robustness; points labelled by rank")
    axes.grid(alpha=0.3)
    return _svg(figure)


Bar = tuple[float, float, float]  # value, low, high (percent)


def category_values(
    entry: dict[str, Any],
) -> list[tuple[str, tuple[Bar | None, Bar | None] | None]]:
    """Per category, in the suite's order: ((flip, low, high), (Δ, low, high)) in percent; None
    for a category whose noises were all left out (not evaluated), which is not a zero."""
    categories = dict.fromkeys(
        [r["category"] for r in entry["rows"] if r.get("category")]
        + [s["category"] for s in entry.get("not_evaluated", []) if s.get("category")]
    )
    return [(c, _category_stats(entry, c)) for c in categories]


def _category_stats(entry: dict[str, Any], category: str) -> tuple[Bar | None, Bar | None] | None:
    rows = [r for r in entry["rows"] if r.get("category") == category]
    if category == COMBINED:
        rows = rows[-1:]  # cumulative steps: the stack's figure is its last step's
    if not rows:
        return None
    return (
        _mean_with_bounds(rows, "flip_rate", "flip_rate_ci"),
        _mean_with_bounds(rows, "delta_top1", "delta_top1_ci"),
    )


def _mean_with_bounds(
    rows: list[dict[str, Any]], field: str, interval: str
) -> tuple[float, float, float] | None:
    known = [r for r in rows if r.get(field) is not None]
    if not known:
        return None
    mean = 100 * float(np.mean([r[field] for r in known]))
    bounds = [r[interval] for r in known if r.get(interval)]
    if not bounds:
        return mean, mean, mean
    array = 100 * np.asarray(bounds, dtype=float)
    return mean, float(array[:, 0].mean()), float(array[:, 1].mean())


def _bars(
    axes: Any, names: list[str], values: list[tuple[float, float, float] | None], label: str
) -> None:
    positions = np.arange(len(names))
    for i, value in enumerate(values):
        if value is None:
            axes.text(i, 0.0, MISSING_TEXT, ha="center", va="bottom", fontsize=9, color=NEUTRAL)
            continue
        mean, low, high = value
        if mean == 0.0:
            axes.plot([i - 0.35, i + 0.35], [0.0, 0.0], color="black", linewidth=2.5)
        else:
            axes.bar(i, mean, color=COST if mean > 0 else GAIN, width=0.7)
        axes.errorbar(i, mean, yerr=[[mean - low], [high - mean]], color="black", capsize=3)
        axes.text(i + 0.38, mean, f"{mean:.1f}", ha="left", va="center", fontsize=8)
    axes.axhline(0.0, color="black", linewidth=0.6)
    axes.set_xticks(positions, names, rotation=25, ha="right", fontsize=9)
    axes.set_xlim(-0.6, len(names) - 0.2)
    axes.set_ylabel(label)


def _waterfall_bar(
    axes: Any, x: int, start: float, change: float, colour: str | None = None, label: str = ""
) -> None:
    if change == 0.0:
        axes.plot([x - 0.35, x + 0.35], [start, start], color="black", linewidth=2.5)
    else:
        axes.bar(x, change, bottom=start, color=colour or (COST if change > 0 else GAIN))
    end = start + change
    axes.annotate(
        f"{change:+.1f}",
        (x, max(start, end)),
        xytext=(0, 3),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=9,
    )


def _errors(centre: float, interval: tuple[float, float] | None) -> Any:
    if interval is None:
        return None
    low, high = 100 * interval[0], 100 * interval[1]
    return [[max(centre - low, 0.0)], [max(high - centre, 0.0)]]
