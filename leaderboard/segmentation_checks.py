"""Validation of a segmentation results document (``"task": "segmentation"``).

Types and ranges are checked first against the shipped schema (generated from
`sysnoise.tasks.segmentation_document.SegmentationDocument`); then the segmentation rows: every
figure a fraction (delta-mIoU and its interval in [-1, 1], the interval holding the delta), mIoU
equal to the reference's minus the delta, the pixels changed equal to one minus the pixel
agreement, and the categories recomputed from the rows.
"""

from __future__ import annotations

import math
from typing import Any

_FRACTIONS = (
    "miou",
    "ref_miou",
    "pixel_accuracy",
    "agreement_miou",
    "pixel_agreement",
    "flip_rate",
    "agreement_gap",
    "identical_input_rate",
)
_TOLERANCE = 1e-9


def segmentation_problems(document: dict[str, Any]) -> list[str]:
    """Every problem with the segmentation-specific parts of `document`."""
    from sysnoise.metrics import category_summary

    problems = _reference_problems(document.get("reference"))
    rows = document.get("rows")
    if not isinstance(rows, list):
        return [*problems, "rows: must be a list"]
    for index, row in enumerate(rows):
        problems += _row_problems(row, f"rows[{index}]")
    if problems:
        return problems
    value = document.get("category_value")
    if value not in ("delta_miou", "agreement_gap"):
        return [f"category_value: {value!r} is not delta_miou or agreement_gap"]
    expected = category_summary(rows, value)
    actual = document.get("categories")
    if not isinstance(actual, dict) or set(actual) != set(expected):
        return ["categories: do not match the rows' categories"]
    for category, figures in expected.items():
        for key, want in figures.items():
            if not _close(actual[category].get(key), want):
                problems.append(f"categories.{category}.{key}: does not match the rows ({want!r})")
    return problems


def _reference_problems(reference: Any) -> list[str]:
    if not isinstance(reference, dict):
        return ["reference: must be an object"]
    problems = [
        _fraction(f"reference.{key}", reference.get(key)) for key in ("miou", "pixel_accuracy")
    ]
    if "miou" not in reference:
        problems.append("reference.miou: missing")
    return [p for p in problems if p]


def _row_problems(row: Any, path: str) -> list[str]:
    if not isinstance(row, dict):
        return [f"{path}: must be an object"]
    problems = [_fraction(f"{path}.{key}", row.get(key)) for key in _FRACTIONS]
    delta = row.get("delta_miou")
    if delta is not None and not (_is_number(delta) and -1 <= delta <= 1):
        problems.append(f"{path}.delta_miou: must be a number in [-1, 1] or null")
    interval = row.get("delta_miou_ci")
    if interval is not None:
        if not (
            isinstance(interval, list)
            and len(interval) == 2
            and all(_is_number(v) for v in interval)
            and -1 <= interval[0] <= interval[1] <= 1
        ):
            problems.append(f"{path}.delta_miou_ci: must be [low, high] within [-1, 1]")
        elif (
            _is_number(delta) and not interval[0] - _TOLERANCE <= delta <= interval[1] + _TOLERANCE
        ):
            problems.append(f"{path}.delta_miou_ci: {interval} does not hold the delta {delta}")
    problems = [p for p in problems if p]
    if problems:
        return problems
    if None not in (row.get("miou"), row.get("ref_miou"), delta) and not _close(
        row["ref_miou"] - delta, row["miou"]
    ):
        problems.append(f"{path}.miou: is not ref_miou minus delta_miou")
    if None not in (row.get("flip_rate"), row.get("pixel_agreement")) and not _close(
        1 - row["pixel_agreement"], row["flip_rate"]
    ):
        problems.append(f"{path}.flip_rate: is not one minus pixel_agreement")
    return problems


def _fraction(path: str, value: Any) -> str | None:
    if value is None:
        return None
    if not _is_number(value) or not 0 <= value <= 1:
        return f"{path}: must be a number in [0, 1] or null, got {value!r}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _close(got: Any, want: Any) -> bool:
    if want is None or got is None:
        return got is want
    return _is_number(got) and abs(got - want) <= _TOLERANCE * max(1.0, abs(want))
