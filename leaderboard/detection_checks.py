"""Validation of a detection results document (``"task": "detection"``).

The shared fields (tool, model, dataset, suite, reference pipeline) are checked by
`sysnoise.leaderboard.validate`; here the detection rows: scores and flip rates are fractions,
deltas and their intervals lie in [-1, 1], moved detections are counts, and the categories are
recomputed from the rows.
"""

from __future__ import annotations

import math
from typing import Any

_METRICS = ("map", "ap50", "ap75")
_TOLERANCE = 1e-9


def detection_problems(document: dict[str, Any]) -> list[str]:
    """Every problem with the detection-specific parts of `document`."""
    from sysnoise.metrics import category_summary

    problems = []
    reference = document.get("reference")
    if not isinstance(reference, dict):
        problems.append("reference: must be an object")
    else:
        problems += [_fraction(f"reference.{m}", reference.get(m)) for m in _METRICS]
    rows = document.get("rows")
    if not isinstance(rows, list):
        return [*filter(None, problems), "rows: must be a list"]
    for index, row in enumerate(rows):
        problems += _row_problems(row, f"rows[{index}]")
    problems = [p for p in problems if p]
    if problems:
        return problems
    if document.get("category_value") != "delta_map":
        return ["category_value: must be delta_map"]
    expected = category_summary(rows, "delta_map")
    actual = document.get("categories")
    if not isinstance(actual, dict) or set(actual) != set(expected):
        return ["categories: do not match the rows' categories"]
    for category, figures in expected.items():
        for key, want in figures.items():
            if not _close(actual[category].get(key), want):
                problems.append(f"categories.{category}.{key}: does not match the rows ({want!r})")
    return problems


def _row_problems(row: Any, where: str) -> list[str | None]:
    if not isinstance(row, dict):
        return [f"{where}: must be an object"]
    problems: list[str | None] = [
        None if isinstance(row.get("noise"), str) else f"{where}.noise: must be a string",
        _fraction(f"{where}.flip_rate", row.get("flip_rate")),
    ]
    scores, deltas = row.get("scores"), row.get("deltas")
    if scores is None or deltas is None:
        return problems
    if not isinstance(scores, dict) or not isinstance(deltas, dict):
        return [*problems, f"{where}: scores and deltas must be objects"]
    for metric in _METRICS:
        problems.append(_fraction(f"{where}.scores.{metric}", scores.get(metric)))
        problems += _delta_problems(deltas.get(metric), f"{where}.deltas.{metric}")
    if not _close(row.get("delta_map"), (deltas.get("map") or {}).get("delta")):
        problems.append(f"{where}.delta_map: differs from deltas.map.delta")
    moved = row.get("detections")
    if not isinstance(moved, dict) or not all(
        isinstance(moved.get(k), int) and moved[k] >= 0 for k in ("stayed", "lost", "new")
    ):
        problems.append(f"{where}.detections: stayed, lost and new must be counts")
    return problems


def _delta_problems(delta: Any, where: str) -> list[str | None]:
    if not isinstance(delta, dict):
        return [f"{where}: must be an object"]
    value, interval = delta.get("delta"), delta.get("ci")
    if value is None:
        return []
    if not _number(value) or not -1 <= value <= 1:
        return [f"{where}.delta: must be a number in [-1, 1]"]
    if interval is None:
        return []
    if (
        not isinstance(interval, list)
        or len(interval) != 2
        or not all(_number(v) for v in interval)
        or not -1 <= interval[0] <= interval[1] <= 1
    ):
        # a percentile interval need not hold the observed delta: only its order is checked
        return [f"{where}.ci: must be [low, high] within [-1, 1]"]
    return []


def _fraction(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not _number(value) or not 0 <= value <= 1 + _TOLERANCE:
        return f"{where}: must be a fraction in [0, 1]"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return _number(a) and _number(b) and abs(a - b) <= _TOLERANCE
