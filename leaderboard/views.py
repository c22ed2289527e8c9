"""What the templates show: a group's ranked table and cross-model views, and one entry's page."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import pandas as pd
from markupsafe import Markup

from sysnoise.leaderboard.dense_rows import dense_page
from sysnoise.leaderboard.heatmaps import (
    Heatmap,
    decoder_resizer_heatmap,
    model_category_heatmap,
    model_noise_heatmap,
)
from sysnoise.leaderboard.plots import category_bars_svg, robustness_scatter_svg, waterfall_svg
from sysnoise.leaderboard.store import entry_stem
from sysnoise.leaderboard.summary import (
    ALPHA,
    architecture_family,
    entry_summary,
    holm_adjusted,
    safe_url,
)
from sysnoise.leaderboard.table import (
    MEAN_ABS_DELTA,
    MEAN_DELTA,
    MEAN_FLIP,
    RANK,
    WORST_NOISE,
    BoardGroup,
    display_name,
    environment_summary,
)

_COLUMN_TITLES = {
    RANK: "rank by mean flip rate (ties share a rank)",
    MEAN_FLIP: "share of images whose top-1 changes, mean over the suite's single noises",
    MEAN_DELTA: "reference minus noisy top-1, mean over the single noises (can cancel)",
    MEAN_ABS_DELTA: "mean of |Δ top-1| over the single noises (cannot cancel)",
}
ROW_COLUMNS = (
    ("noise", "noise"),
    ("category", "category"),
    ("model_side", "model side"),
    ("top1", "top-1 %"),
    ("delta", "Δ top-1 pp"),
    ("delta_ci", "Δ top-1 95% CI pp"),
    ("delta5", "Δ top-5 pp"),
    ("p", "McNemar p"),
    ("holm", "Holm p"),
    ("flip", "flip %"),
    ("flip_ci", "flip 95% CI %"),
    ("maxdiff", "input max |diff|"),
    ("psnr", "input PSNR dB"),
    ("identical", "identical inputs %"),
    ("errors", "errors"),
)


@dataclass(frozen=True)
class Column:
    """One index column: its sort key, header, hover text and whether it is collapsed."""

    key: str
    name: str
    title: str | None
    extra: bool


@dataclass(frozen=True)
class Cell:
    """One index cell: shown text, the value it sorts by, and an optional link."""

    key: str
    text: str
    value: str
    numeric: bool
    extra: bool
    href: str | None = None
    wrap: bool = False


@dataclass(frozen=True)
class IndexRow:
    """One entry's row with what the search box and the filters match."""

    name: str
    text: str
    family: str
    backend: str
    cells: list[Cell]


@dataclass(frozen=True)
class GroupView:
    """Everything the index shows for one (dataset, suite) group."""

    columns: list[Column]
    rows: list[IndexRow]
    families: list[str]
    backends: list[str]
    heatmap: Heatmap | None
    noise_heatmap: Heatmap | None
    scatter: Markup | None


def group_view(group: BoardGroup) -> GroupView:
    """The index table (compact columns first, per-category ones collapsed), the model x
    category heatmap and the accuracy/robustness scatter of one group."""
    extra = set(group.category_columns()) | {"environment"}
    board = group.board
    columns = [
        Column(
            f"c{i}",
            name,
            _COLUMN_TITLES.get(name) if board is None else board.column_title(name),
            name in extra,
        )
        for i, name in enumerate(group.frame.columns)
    ]
    rows = []
    links, worst_links = [], []
    for stem, record in group.frame.iterrows():
        summary = group.summaries[stem]
        page = f"entries/{stem}.html"
        worst = (
            None if summary.worst_noise_index is None else f"{page}#row-{summary.worst_noise_index}"
        )
        links.append(page)
        worst_links.append((summary.worst_noise, worst))
        cells = [
            _cell(
                column,
                record[column.name],
                page if column.name == "model" else worst if column.name == WORST_NOISE else None,
            )
            for column in columns
        ]
        searchable = [record["model"], record["family"], record["backend"], record[WORST_NOISE]]
        rows.append(
            IndexRow(
                name=str(record["model"]),
                text=" ".join(str(v) for v in searchable).lower(),
                family=str(record["family"]),
                backend=str(record["backend"]),
                cells=cells,
            )
        )
    families, backends = sorted({r.family for r in rows}), sorted({r.backend for r in rows})
    if board is not None:  # the cross-model maps and the scatter read classification figures
        return GroupView(columns, rows, families, backends, None, None, None)
    scatter = robustness_scatter_svg([group.summaries[stem] for stem in group.frame.index])
    return GroupView(
        columns=columns,
        rows=rows,
        families=families,
        backends=backends,
        heatmap=model_category_heatmap(group.entries, group.categories, links, worst_links),
        noise_heatmap=model_noise_heatmap(group.entries, links),
        scatter=None if scatter is None else Markup(scatter),  # matplotlib's SVG, text as paths
    )


def entry_context(entry: dict[str, Any], group: BoardGroup) -> dict[str, Any]:
    """The template variables of one entry's page (`entry_template` says which page)."""
    submission = entry.get("submission") or {}
    links = []
    for label in ("paper", "code"):
        if submission.get(label):
            links.append((label, {"url": safe_url(submission[label]), "text": submission[label]}))
    if group.board is not None:
        return {
            "entry": entry,
            "name": display_name(entry),
            "family": architecture_family(entry),
            "environment": environment_summary(entry),
            "demonstration": group.demonstration,
            "scale_note": group.scale_note,
            "links": links,
            "not_evaluated": entry.get("not_evaluated") or [],
            "stem": entry_stem(entry),
            **dense_page(entry, group.board),
        }
    plots = {
        "category_plot": category_bars_svg(entry),
        "waterfall": waterfall_svg(entry),
    }
    return {
        "entry": entry,
        "name": display_name(entry),
        "family": architecture_family(entry),
        "environment": environment_summary(entry),
        "summary": entry_summary(entry),
        "demonstration": group.demonstration,
        "scale_note": group.scale_note,
        "links": links,
        "grid": decoder_resizer_heatmap(entry),
        "not_evaluated": entry.get("not_evaluated") or [],
        "holm_p": holm_adjusted(entry),
        "alpha": ALPHA,
        "row_columns": ROW_COLUMNS,
        "stem": entry_stem(entry),
        # matplotlib's own SVG, with text drawn as paths: no submitted string becomes markup
        **{key: None if svg is None else Markup(svg) for key, svg in plots.items()},
    }


def entry_template(group: BoardGroup) -> str:
    """The template of the group's entry pages."""
    return "entry.html" if group.board is None else "entry_dense.html"


def _cell(column: Column, value: Any, href: str | None) -> Cell:
    numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        text, sort_value = "", ""
    elif isinstance(value, numbers.Integral):
        text = sort_value = str(int(value))
    elif numeric:
        text, sort_value = f"{float(value):.2f}", f"{float(value):.6f}"
    else:
        text = sort_value = str(value)
    return Cell(
        key=column.key,
        text=text,
        value=sort_value,
        numeric=numeric,
        extra=column.extra,
        href=href,
        wrap=column.name in (WORST_NOISE, "environment"),
    )
