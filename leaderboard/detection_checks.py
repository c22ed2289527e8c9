"""Cross checks of a detection results document (``"task": "detection"``).

Types and ranges (shared blocks and detection rows alike) are checked first against the shipped
schema, generated from `sysnoise.detection.document.DetectionDocument`; here what the figures
must agree on: every delta is the reference's score minus the row's on the same images, every
interval is ordered, ``delta_map`` is the mAP delta, and the categories are recomputed from the
rows.
"""

from __future__ import annotations

from typing import Any

_METRICS = ("map", "ap50", "ap75")
_TOLERANCE = 1e-9


def detection_problems(document: dict[str, Any]) -> list[str]:
    """Every disagreement between the detection figures of a schema-valid `document`."""
    from sysnoise.metrics import category_summary

    problems = []
    for index, row in enumerate(document["rows"]):
        problems += _row_problems(row, f"rows[{index}]")
    if problems:
        return problems
    expected = category_summary(document["rows"], "delta_map")
    actual = document["categories"]
    if set(actual) != set(expected):
        return ["categories: do not match the rows' categories"]
    for category, figures in expected.items():
        for key, want in figures.items():
            if not _close(actual[category].get(key), want):
                problems.append(f"categories.{category}.{key}: does not match the rows ({want!r})")
    return problems


def _row_problems(row: dict[str, Any], where: str) -> list[str]:
    deltas = row["deltas"]
    if deltas is None:
        if row["delta_map"] is not None:
            return [f"{where}.delta_map: stated without deltas"]
        return []
    problems = []
    if not _close(row["delta_map"], deltas["map"]["delta"]):
        problems.append(f"{where}.delta_map: differs from deltas.map.delta")
    problems += _delta_problems(row, where)
    if row.get("masks") is not None:  # instance masks: the same checks on their scores
        problems += _delta_problems(row["masks"], f"{where}.masks")
    return problems


def _delta_problems(block: dict[str, Any], where: str) -> list[str]:
    problems = []
    deltas = block["deltas"]
    scores, reference = block["scores"] or {}, block["ref_scores"] or {}
    for metric in _METRICS:
        delta, interval = deltas[metric]["delta"], deltas[metric]["ci"]
        ref, noisy = reference.get(metric), scores.get(metric)
        if None not in (delta, ref, noisy) and not _close(delta, ref - noisy):
            problems.append(
                f"{where}.deltas.{metric}.delta: {delta!r} is not ref_scores.{metric} minus "
                f"scores.{metric} ({ref - noisy!r})"
            )
        # a percentile interval need not hold the observed delta: only its order is checked
        if interval is not None and interval[0] > interval[1]:
            problems.append(f"{where}.deltas.{metric}.ci: {interval} is not [low, high]")
    return problems


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= _TOLERANCE
