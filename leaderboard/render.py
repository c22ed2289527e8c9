"""The static leaderboard site, LEADERBOARD.md and leaderboard.csv from the board's entries."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader

from sysnoise.leaderboard.markdown import markdown_cell, markdown_table
from sysnoise.leaderboard.store import entry_stem
from sysnoise.leaderboard.table import BoardGroup, group_entries, spreadsheet_safe
from sysnoise.leaderboard.views import entry_context, entry_template, group_view

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
STATIC_FILES = ("list.min.js", "list.js.LICENSE.txt", "board.js", "VENDORED.md")


def build_site(entries: list[dict[str, Any]], out_dir: Path) -> Path:
    """Write index.html, one page per entry, the static scripts, LEADERBOARD.md and
    leaderboard.csv into one folder that works from disk or any static host; return index."""
    out_dir = Path(out_dir)
    (out_dir / "entries").mkdir(parents=True, exist_ok=True)
    (out_dir / "static").mkdir(exist_ok=True)
    for name in STATIC_FILES:
        shutil.copyfile(STATIC / name, out_dir / "static" / name)
    groups = group_entries(entries)
    env = _environment()
    index = out_dir / "index.html"
    views = [group_view(group) for group in groups]
    page = env.get_template("index.html").render(groups=groups, views=views, static="static")
    index.write_text(page, encoding="utf-8")
    for group in groups:
        template = env.get_template(entry_template(group))
        for entry in group.entries:
            page = template.render(**entry_context(entry, group), static="../static")
            (out_dir / "entries" / f"{entry_stem(entry)}.html").write_text(page, encoding="utf-8")
    (out_dir / "LEADERBOARD.md").write_text(leaderboard_markdown(groups), encoding="utf-8")
    spreadsheet_safe(leaderboard_csv(groups)).to_csv(out_dir / "leaderboard.csv", index=False)
    return index


def leaderboard_markdown(groups: list[BoardGroup]) -> str:
    """The board as Markdown: one table per (task, scoring, dataset, suite) group."""
    parts = [
        "# sysnoise leaderboard\n",
        "Classification entries are ranked by the mean flip rate over the suite's single noises "
        "(share of images whose top-1 changes; lower is more robust; it cannot cancel). Δ is "
        "reference minus noisy top-1 in percentage points (pp); mean |Δ| cannot cancel, mean Δ "
        "can. Segmentation and detection entries have tables of their own, one for runs scored "
        "against labels and one for runs scored against the reference pipeline's own outputs; "
        "each table says what it ranks by.\n",
    ]
    if not groups:
        parts.append("No entries yet.\n")
    for group in groups:
        parts.append(f"## {_markdown_heading(group.title)}\n")
        parts.append(f"_{_markdown_heading(group.scale_note)}_\n")
        if group.board is not None:
            parts.append(f"{_markdown_heading(group.ranking[:1].upper() + group.ranking[1:])}.\n")
        parts.append(markdown_table(group.frame))
    return "\n".join(parts)


def leaderboard_csv(groups: list[BoardGroup]) -> pd.DataFrame:
    """Every group's table in one frame, with dataset and suite columns in front, the task and
    what it was scored against at the end (a dense group's own columns are blank in the other
    groups' rows)."""
    frames = []
    for group in groups:
        frame = group.frame.reset_index(names="entry")
        frame["task"] = group.task
        frame["scored against"] = group.scoring or ""
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
    return env


def _format_number(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
