"""The static leaderboard site, LEADERBOARD.md and leaderboard.csv from the board's entries."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from sysnoise.leaderboard.consistency import is_web_url
from sysnoise.leaderboard.markdown import markdown_cell, markdown_table
from sysnoise.leaderboard.plots import category_bars_svg, decoder_resizer_heatmap_svg
from sysnoise.leaderboard.store import entry_stem
from sysnoise.leaderboard.table import (
    BoardGroup,
    display_name,
    environment_summary,
    group_entries,
    spreadsheet_safe,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"


def build_site(entries: list[dict[str, Any]], out_dir: Path) -> Path:
    """Write index.html, one page per entry, LEADERBOARD.md and leaderboard.csv; return index."""
    out_dir = Path(out_dir)
    (out_dir / "entries").mkdir(parents=True, exist_ok=True)
    groups = group_entries(entries)
    env = _environment()
    index = out_dir / "index.html"
    index.write_text(env.get_template("index.html").render(groups=groups), encoding="utf-8")
    for group in groups:
        for entry in group.entries:
            page = env.get_template("entry.html").render(**_entry_context(entry))
            (out_dir / "entries" / f"{entry_stem(entry)}.html").write_text(page, encoding="utf-8")
    (out_dir / "LEADERBOARD.md").write_text(leaderboard_markdown(groups), encoding="utf-8")
    spreadsheet_safe(leaderboard_csv(groups)).to_csv(out_dir / "leaderboard.csv", index=False)
    return index


def leaderboard_markdown(groups: list[BoardGroup]) -> str:
    """The board as Markdown: one table per (dataset, suite) group."""
    parts = [
        "# sysnoise leaderboard\n",
        "Δ is reference minus noisy top-1 in percentage points (pp); lower is more robust. "
        "Rows are sorted by the mean flip rate over every noise of the suite (it needs no labels "
        "and cannot cancel out), then by the mean Δ; mean |Δ| is shown beside it.\n",
    ]
    if not groups:
        parts.append("No entries yet.\n")
    for group in groups:
        parts.append(f"## {_markdown_heading(group.title)}\n")
        parts.append(markdown_table(group.frame))
    return "\n".join(parts)


def leaderboard_csv(groups: list[BoardGroup]) -> pd.DataFrame:
    """Every group's table in one frame, with dataset and suite columns in front."""
    frames = []
    for group in groups:
        frame = group.frame.reset_index(names="entry")
        frame.insert(0, "suite", group.suite)
        frame.insert(0, "dataset_fingerprint", group.dataset_fingerprint)
        frame.insert(0, "dataset", group.dataset_name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _markdown_heading(text: str) -> str:
    return markdown_cell(text)


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True)
    env.filters["num"] = _format_number
    env.filters["pp"] = lambda v: _format_number(None if v is None else 100.0 * v)
    env.globals["entry_stem"] = entry_stem
    env.globals["is_web_url"] = is_web_url  # only http(s) links: no javascript: or data: URLs
    return env


def _format_number(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _entry_context(entry: dict[str, Any]) -> dict[str, Any]:
    plots = [category_bars_svg(entry), decoder_resizer_heatmap_svg(entry)]
    return {
        "entry": entry,
        "name": display_name(entry),
        "environment": environment_summary(entry),
        "plots": [Markup(svg) for svg in plots if svg],  # matplotlib's own SVG, no user text
    }
