"""Markdown tables written by hand (pandas' to_markdown needs tabulate)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def markdown_cell(value: Any) -> str:
    """One cell: blank for missing numbers, and no character that breaks the table or adds HTML."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Brackets and backticks would make links, images and code spans out of submitted names.
    text = text.replace("[", "\\[").replace("]", "\\]").replace("`", "\\`")
    return " ".join(text.split())


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of `frame`'s columns (not its index)."""
    header = [markdown_cell(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if n else ":---" for n in numeric) + "|",
    ]
    for values in frame.itertuples(index=False):
        lines.append("| " + " | ".join(markdown_cell(v) for v in values) + " |")
    return "\n".join(lines) + "\n"
