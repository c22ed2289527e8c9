"""Two dense runs (segmentation or detection) of the same task on the same images compared noise
by noise, from their documents: each run's delta (mIoU or mAP, reference minus noisy, with its
paired bootstrap interval), the difference A - B with the square-and-add combination of the two
intervals (which ignores the correlation between the runs and so errs wide), and each run's share
of pixels (segmentation) or images (detection) whose prediction changed.
"""

from __future__ import annotations

from typing import Any

from sysnoise.errors import SysnoiseError
from sysnoise.report import interval_text, pct

# What a run's rows are compared on, by task and category value (the column label).
_FIGURES = {
    ("segmentation", "delta_miou"): "ΔmIoU",
    ("segmentation", "agreement_gap"): "1 - agreement mIoU",
    ("detection", "delta_map"): "ΔmAP",
}


def compare_dense(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per noise both documents evaluated, in A's order."""
    task = a["task"]
    value = a["category_value"]
    if value != b["category_value"]:
        raise SysnoiseError(
            f"run A reports {value} and run B {b['category_value']}: one was scored against "
            "annotations and the other against its reference; run both the same way"
        )
    label = _FIGURES[(task, value)]
    rows_b = {row["noise"]: row for row in b["rows"]}
    records = []
    for row_a in a["rows"]:
        row_b = rows_b.get(row_a["noise"])
        if row_b is None:
            continue
        value_a, ci_a = _value(task, value, row_a)
        value_b, ci_b = _value(task, value, row_b)
        record: dict[str, Any] = {
            "noise": row_a["noise"],
            "task": task,
            "value": value,
            "label": label,
            "n_images_a": row_a["n_images"],
            "n_images_b": row_b["n_images"],
            "value_a": value_a,
            "value_a_ci": ci_a,
            "value_b": value_b,
            "value_b_ci": ci_b,
            "diff": None if None in (value_a, value_b) else value_a - value_b,
            "diff_ci": None,
            "changed_a": row_a["flip_rate"],
            "changed_b": row_b["flip_rate"],
        }
        if ci_a is not None and ci_b is not None:
            from sysnoise.compare import _mover

            record["diff_ci"] = _mover(value_a, ci_a, value_b, ci_b)
        records.append(record)
    return records


def dense_table(records: list[dict[str, Any]]) -> Any:
    """The comparison as a terminal table, largest difference first."""
    import pandas as pd

    label = records[0]["label"] if records else "Δ"
    ordered = sorted(records, key=lambda r: -abs(r["diff"] or 0.0))
    return pd.DataFrame(
        [
            {
                "noise": r["noise"],
                f"{label} A pp": pct(r["value_a"]),
                "95% CI A": interval_text(r["value_a_ci"]),
                f"{label} B pp": pct(r["value_b"]),
                "95% CI B": interval_text(r["value_b_ci"]),
                "A-B pp": pct(r["diff"]),
                "95% CI": interval_text(r["diff_ci"]),
                "changed A %": pct(r["changed_a"]),
                "changed B %": pct(r["changed_b"]),
            }
            for r in ordered
        ]
    )


def _value(task: str, value: str, row: dict[str, Any]) -> tuple[float | None, list | None]:
    if task == "detection":
        delta = (row["deltas"] or {}).get("map") or {}
        return delta.get("delta"), delta.get("ci")
    if value == "delta_miou":
        return row["delta_miou"], row["delta_miou_ci"]
    return row["agreement_gap"], row["agreement_gap_ci"]
