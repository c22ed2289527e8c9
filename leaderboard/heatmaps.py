"""Heatmaps as HTML tables: readable labels, values on hover, missing and non-significant cells
marked. Two of them: one entry's decoder x resizer grid, and a group's model x category grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib import colormaps  # noqa: E402
from matplotlib.colors import Normalize, to_hex  # noqa: E402

from sysnoise.leaderboard.summary import (
    ALPHA,
    COMBINED,
    category_abs_mean,
    category_delta_mean,
    category_flip_mean,
    holm_adjusted,
)
from sysnoise.leaderboard.table import display_name

VALUE, NOT_SIGNIFICANT, MISSING, REFERENCE = "value", "ns", "missing", "reference"
# Suites whose rows are a decoder x resizer grid.
GRID_SUITES = ("imagenet-s", "decoders-x-resizers")
MAX_NOISE_COLUMNS = 40  # above this, the model x noise grid is too wide to read


@dataclass(frozen=True)
class HeatCell:
    """One cell: the text shown, the hover text, its colour and what kind of cell it is."""

    text: str
    title: str
    state: str = VALUE
    colour: str = "#ffffff"
    dark: bool = False  # a dark background (white text)


@dataclass(frozen=True)
class HeatRow:
    """A labelled row of cells; `href` links the label, `note` follows it."""

    label: str
    cells: list[HeatCell]
    href: str | None = None
    note: str | None = None
    note_href: str | None = None


@dataclass(frozen=True)
class Heatmap:
    """A grid ready for the template."""

    caption: str
    corner: str
    columns: list[str]
    rows: list[HeatRow]
    legend: str
    column_groups: list[tuple[str, int]] = field(default_factory=list)  # (library, span)
    column_labels: list[str] = field(default_factory=list)  # short labels under the groups
    vertical_labels: bool = False  # column labels written bottom to top (many narrow columns)

    def labelled_columns(self) -> list[tuple[str, str]]:
        """(full name, label shown) per column."""
        return list(zip(self.columns, self.column_labels or self.columns, strict=True))


def decoder_resizer_heatmap(entry: dict[str, Any]) -> Heatmap | None:
    """Δ top-1 by decoder (rows) and resizer (columns) of a decoder x resizer grid entry,
    reference first, libraries grouped; cells whose Holm-adjusted McNemar p is at least 0.05 are
    hatched; None for other suites or without such rows."""
    if entry.get("suite", {}).get("name") not in GRID_SUITES:
        return None  # other suites vary one thing at a time: their rows are not a grid
    reference = entry.get("reference_pipeline", {})
    ref_cell = (reference.get("decoder"), reference.get("resizer"))
    holm = holm_adjusted(entry)
    measured: dict[tuple[str, str], tuple[dict[str, Any], float | None]] = {}
    for row, p_holm in zip(entry["rows"], holm, strict=True):
        pair = _pair(row, ref_cell)
        if pair is not None:
            measured[pair] = (row, p_holm)
    if not measured:
        return None
    skipped = {
        pair: s for s in entry.get("not_evaluated", []) if (pair := _pair(s, ref_cell)) is not None
    }
    pairs = list(measured) + list(skipped)
    decoders = _grouped([d for d, _ in pairs], ref_cell[0])
    resizers = _grouped([r for _, r in pairs], ref_cell[1])
    values = [
        100.0 * r["delta_top1"] for r, _ in measured.values() if r.get("delta_top1") is not None
    ]
    limit = max([abs(v) for v in values] + [0.1])
    norm, cmap = Normalize(-limit, limit), colormaps["RdBu_r"]
    rows = []
    for decoder in decoders:
        cells = []
        for resizer in resizers:
            where = f"{decoder} / {resizer}"
            if (decoder, resizer) == ref_cell:
                cells.append(HeatCell("ref", f"{where}: the reference pipeline", REFERENCE))
            elif (decoder, resizer) in measured:
                row, p_holm = measured[(decoder, resizer)]
                cells.append(_delta_cell(where, row, p_holm, norm, cmap))
            elif (decoder, resizer) in skipped:
                skip = skipped[(decoder, resizer)]
                cells.append(
                    HeatCell("n/e", f"{where}: {skip['status']}: {skip['reason']}", MISSING)
                )
            else:
                cells.append(HeatCell("", f"{where}: not in this run", MISSING))
        rows.append(HeatRow(decoder, cells))
    return Heatmap(
        caption="Δ top-1 (pp, reference − noisy) by decoder (rows) and resizer (columns)",
        corner="decoder \\ resizer",
        columns=resizers,
        rows=rows,
        column_groups=_column_groups(resizers),
        column_labels=[r.split("-", 1)[1] if "-" in r else r for r in resizers],
        legend=(
            "Red: the noise costs accuracy; blue: it gains. Hatched: not significant "
            f"(Holm-adjusted McNemar p ≥ {ALPHA}). n/e: not evaluated (hover for the reason). "
            "Hover a cell for its interval, flip rate and p-values."
        ),
    )


def model_category_heatmap(
    entries: list[dict[str, Any]],
    categories: list[str],
    links: list[str],
    worst: list[tuple[str | None, str | None]],
) -> Heatmap | None:
    """Mean flip rate (%) by model (rows, in rank order) and category (columns); each model
    links to its entry page and to its worst noise. None without entries."""
    if not entries or not categories:
        return None
    flips = [[category_flip_mean(e, c) for c in categories] for e in entries]
    known = [100.0 * v for row in flips for v in row if v is not None]
    norm, cmap = Normalize(0.0, max(known + [1.0])), colormaps["Oranges"]
    rows = []
    for entry, row_flips, href, (worst_noise, worst_href) in zip(
        entries, flips, links, worst, strict=True
    ):
        name = display_name(entry)
        cells = []
        for category, flip in zip(categories, row_flips, strict=True):
            where = f"{name} · {category}"
            if flip is None:
                cells.append(HeatCell("n/e", f"{where}: not evaluated", MISSING))
                continue
            delta = category_delta_mean(entry, category)
            abs_delta = category_abs_mean(entry, category)
            title = (
                f"{where}: mean flip {100 * flip:.2f} %, mean Δ {_pp(delta)} pp, "
                f"mean |Δ| {_pp(abs_delta)} pp"
            )
            cells.append(_coloured(f"{100 * flip:.1f}", title, VALUE, 100 * flip, norm, cmap))
        note = None if worst_noise is None else f"worst: {worst_noise}"
        rows.append(HeatRow(name, cells, href=href, note=note, note_href=worst_href))
    return Heatmap(
        caption="mean flip rate (%) by model and noise category",
        corner="model \\ category",
        columns=categories,
        rows=rows,
        legend=(
            "Darker: more predictions flip. The combined column is the whole stack's final step. "
            "n/e: the category was not evaluated for that model. Hover a cell for mean Δ and "
            "mean |Δ|."
        ),
    )


def _inapplicable_to_all(entries: list[dict[str, Any]]) -> set[str]:
    """Noises that every entry lists as not applicable to its model (a detector's post-processing
    on classifiers): no machine could fill their column."""
    per_entry = [
        {s["noise"] for s in e.get("not_evaluated") or [] if s.get("status") == "not applicable"}
        for e in entries
    ]
    return set.intersection(*per_entry) if per_entry else set()


def model_noise_heatmap(
    entries: list[dict[str, Any]], links: list[str], max_noises: int = MAX_NOISE_COLUMNS
) -> Heatmap | None:
    """Flip rate (%) by model (rows, in rank order) and single noise (columns, grouped by
    category); None without entries or when the suite has more than `max_noises` noises (the
    category heatmap covers those)."""
    category: dict[str, str] = {}
    for entry in entries:
        for item in [*entry["rows"], *(entry.get("not_evaluated") or [])]:
            if item.get("category") and item["category"] != COMBINED:
                category.setdefault(item["noise"], item["category"])
    for noise in _inapplicable_to_all(entries):
        category.pop(noise, None)  # no model here can have it measured; each entry page lists it
    if not entries or not category or len(category) > max_noises:
        return None
    order = [n for e in entries for n in e.get("suite", {}).get("noises", []) if n in category]
    noises = list(dict.fromkeys(order + list(category)))
    groups = list(dict.fromkeys(category[n] for n in noises))
    position = {n: i for i, n in enumerate(noises)}
    noises = sorted(noises, key=lambda n: (groups.index(category[n]), position[n]))
    measured = [{r["noise"]: r for r in e["rows"]} for e in entries]
    skipped = [{s["noise"]: s for s in e.get("not_evaluated") or []} for e in entries]
    known = [
        100.0 * r["flip_rate"]
        for rows in measured
        for n, r in rows.items()
        if n in category and r.get("flip_rate") is not None
    ]
    norm, cmap = Normalize(0.0, max(known + [1.0])), colormaps["Oranges"]
    rows = []
    for entry, href, by_noise, skips in zip(entries, links, measured, skipped, strict=True):
        name = display_name(entry)
        cells = []
        for noise in noises:
            where = f"{name} · {noise}"
            row = by_noise.get(noise)
            if row is None or row.get("flip_rate") is None:
                reason = skips[noise]["reason"] if noise in skips else "not in this run"
                cells.append(HeatCell("n/e", f"{where}: {reason}", MISSING))
                continue
            flip = 100 * row["flip_rate"]
            title = f"{where}: flip {flip:.1f} %, Δ top-1 {_pp(row.get('delta_top1'))} pp"
            cells.append(_coloured(f"{flip:.0f}", title, VALUE, flip, norm, cmap))
        rows.append(HeatRow(name, cells, href=href))
    return Heatmap(
        caption="flip rate (%) by model and noise",
        corner="model \\ noise",
        columns=noises,
        rows=rows,
        column_groups=[(g, sum(category[n] == g for n in noises)) for g in groups],
        column_labels=[n.split("=", 1)[-1] for n in noises],
        vertical_labels=True,
        legend=(
            "Darker: more predictions flip. n/e: not evaluated for that model (hover for the "
            "reason). Hover a cell for the flip rate and Δ top-1."
        ),
    )


def _pair(row: dict[str, Any], reference: tuple[str | None, str | None]) -> tuple[str, str] | None:
    """The (decoder, resizer) cell of a row or skipped noise: what it changed, not how its noise
    is named; None for anything else it changes, and for the combined stack's steps."""
    changes = row.get("changes") or {}
    if row.get("category") == COMBINED or not changes or set(changes) - {"decoder", "resizer"}:
        return None
    decoder = changes.get("decoder", reference[0])
    resizer = changes.get("resizer", reference[1])
    return None if decoder is None or resizer is None else (decoder, resizer)


def _grouped(names: list[str], reference: str | None) -> list[str]:
    """Unique names, the reference first, then by library (the part before the first '-') in
    order of first appearance, keeping each library's members together."""
    unique = list(dict.fromkeys(([reference] if reference else []) + names))
    libraries = list(dict.fromkeys(_library(n) for n in unique))
    return sorted(
        unique, key=lambda n: (n != reference, libraries.index(_library(n)), unique.index(n))
    )


def _library(name: str) -> str:
    return name.split("-", 1)[0]


def _column_groups(columns: list[str]) -> list[tuple[str, int]]:
    groups: list[tuple[str, int]] = []
    for name in columns:
        library = _library(name)
        if groups and groups[-1][0] == library:
            groups[-1] = (library, groups[-1][1] + 1)
        else:
            groups.append((library, 1))
    return groups


def _delta_cell(
    where: str, row: dict[str, Any], p_holm: float | None, norm: Normalize, cmap: Any
) -> HeatCell:
    delta = row.get("delta_top1")
    flip = row.get("flip_rate")
    ci = row.get("delta_top1_ci")
    parts = [f"{where}: Δ top-1 {_pp(delta)} pp"]
    if ci:
        parts.append(f"95% CI [{_pp(ci[0])}, {_pp(ci[1])}]")
    if flip is not None:
        parts.append(f"flip {100 * flip:.1f} %")
    if row.get("mcnemar_p") is not None:
        parts.append(f"McNemar p {row['mcnemar_p']:.3g}")
    if p_holm is not None:
        parts.append(f"Holm p {p_holm:.3g}")
    title = ", ".join(parts)
    if delta is None:
        return HeatCell("–", f"{title} (no labelled images)", MISSING)
    state = VALUE if p_holm is not None and p_holm < ALPHA else NOT_SIGNIFICANT
    return _coloured(f"{100 * delta:.1f}", title, state, 100 * delta, norm, cmap)


def _coloured(
    text: str, title: str, state: str, value: float, norm: Normalize, cmap: Any
) -> HeatCell:
    rgba = cmap(norm(value))
    luminance = 0.2126 * rgba[0] + 0.7152 * rgba[1] + 0.0722 * rgba[2]
    return HeatCell(text, title, state, to_hex(rgba), luminance < 0.5)


def _pp(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"
