"""Two runs on the same images compared noise by noise, from their predictions files.

A and B are two models, or one model in two environments. For each noise both runs measured:
the difference in flip rate (each against its own reference) with Newcombe's paired interval,
since both flip rates are counted on the same images; the difference in Δtop-1 with the MOVER
combination of the two runs' paired intervals, which ignores the correlation between the two
runs and so errs wide; and the images whose outcome (flipped or not) differs between A and B.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.errors import SysnoiseError
from sysnoise.intervals import paired_difference_interval
from sysnoise.report import interval_text, pct

MAX_LISTED_IMAGES = 10


@dataclass(frozen=True)
class Run:
    """A results document and its per-image predictions."""

    document: dict[str, Any]
    predictions: Any  # pandas DataFrame, one row per image

    @property
    def label(self) -> str:
        """Model name, backend and torch version: what tells two runs apart."""
        model = self.document["model"]
        torch = self.document.get("environment", {}).get("packages", {}).get("torch", "?")
        return f"{model['name']} ({model.get('backend', '?')}, torch {torch})"


def load_run(path: Path) -> Run:
    """The validated document at `path` and the predictions file written beside it."""
    import pandas as pd

    from sysnoise.cli.submit import read_document
    from sysnoise.leaderboard.validate import check

    document = read_document(path)
    check(document)
    predictions_path = path.parent / document.get("predictions_file", "")
    if not document.get("predictions_file") or not predictions_path.is_file():
        raise SysnoiseError(
            f"{path}: its predictions file {predictions_path.name!r} is not beside it; "
            "compare needs the folder `sysnoise bench --out` wrote"
        )
    return Run(document, pd.read_csv(predictions_path))


def _mover(delta_a: float, ci_a: list[float], delta_b: float, ci_b: list[float]) -> list[float]:
    """Interval for delta_a - delta_b from the two intervals (Newcombe's square-and-add)."""
    diff = delta_a - delta_b
    low = diff - math.sqrt((delta_a - ci_a[0]) ** 2 + (ci_b[1] - delta_b) ** 2)
    high = diff + math.sqrt((ci_a[1] - delta_a) ** 2 + (delta_b - ci_b[0]) ** 2)
    return [max(low, -2.0), min(high, 2.0)]


def compare_runs(a: Run, b: Run) -> list[dict[str, Any]]:
    """One record per noise both runs evaluated, in A's order (a dense task's records:
    `sysnoise.dense_compare`)."""
    tasks = [run.document.get("task", "classification") for run in (a, b)]
    if tasks[0] != tasks[1]:
        raise SysnoiseError(
            f"compare reads two runs of one task; these are a {tasks[0]} and a {tasks[1]} run: "
            "read each with `sysnoise report`"
        )
    if a.document["dataset"]["fingerprint"] != b.document["dataset"]["fingerprint"]:
        raise SysnoiseError(
            "the two runs are on different images (dataset fingerprints differ); compare runs "
            "of the same --data, --limit and --seed"
        )
    if tasks[0] != "classification":
        from sysnoise.dense_compare import compare_dense

        return compare_dense(a.document, b.document)
    merged = a.predictions.merge(b.predictions, on="image_id", suffixes=(" A", " B"))
    rows_b = {row["noise"]: row for row in b.document["rows"]}
    records = []
    for row_a in a.document["rows"]:
        name = row_a["noise"]
        if name not in rows_b:
            continue
        row_b = rows_b[name]
        outcome: dict[str, np.ndarray] = {}
        valid = np.ones(len(merged), dtype=bool)
        for side in ("A", "B"):
            reference = merged[f"reference {side}"].to_numpy()
            noisy = merged[f"{name} {side}"].to_numpy()
            valid &= (reference >= 0) & (noisy >= 0)
            outcome[side] = reference != noisy
        flip_a, flip_b = outcome["A"][valid], outcome["B"][valid]
        differ = merged["image_id"].to_numpy()[valid][flip_a != flip_b]
        record: dict[str, Any] = {
            "noise": name,
            "n_images": int(valid.sum()),
            "flip_rate_a": float(flip_a.mean()) if valid.any() else None,
            "flip_rate_b": float(flip_b.mean()) if valid.any() else None,
            "flip_rate_diff": None,
            "flip_rate_diff_ci": None,
            "delta_top1_a": row_a["delta_top1"],
            "delta_top1_b": row_b["delta_top1"],
            "delta_top1_diff": None,
            "delta_top1_diff_ci": None,
            "n_outcomes_differ": int(len(differ)),
            "outcomes_differ": [str(i) for i in differ[:MAX_LISTED_IMAGES]],
        }
        if valid.any():
            record["flip_rate_diff"] = record["flip_rate_a"] - record["flip_rate_b"]
            record["flip_rate_diff_ci"] = list(
                paired_difference_interval(
                    int((flip_a & flip_b).sum()),
                    int((flip_a & ~flip_b).sum()),
                    int((~flip_a & flip_b).sum()),
                    int((~flip_a & ~flip_b).sum()),
                )
            )
        if row_a["delta_top1_ci"] is not None and row_b["delta_top1_ci"] is not None:
            record["delta_top1_diff"] = row_a["delta_top1"] - row_b["delta_top1"]
            record["delta_top1_diff_ci"] = _mover(
                row_a["delta_top1"],
                row_a["delta_top1_ci"],
                row_b["delta_top1"],
                row_b["delta_top1_ci"],
            )
        records.append(record)
    return records


def compare_table(records: list[dict[str, Any]]) -> Any:
    """The comparison as a terminal table, largest flip-rate difference first."""
    import pandas as pd

    if records and "task" in records[0]:
        from sysnoise.dense_compare import dense_table

        return dense_table(records)

    ordered = sorted(records, key=lambda r: -abs(r["flip_rate_diff"] or 0.0))
    return pd.DataFrame(
        [
            {
                "noise": r["noise"],
                "flip A %": pct(r["flip_rate_a"]),
                "flip B %": pct(r["flip_rate_b"]),
                "A-B pp": pct(r["flip_rate_diff"]),
                "95% CI": interval_text(r["flip_rate_diff_ci"]),
                "Δtop1 A pp": pct(r["delta_top1_a"]),
                "Δtop1 B pp": pct(r["delta_top1_b"]),
                "A-B pp ": pct(r["delta_top1_diff"]),
                "95% CI ": interval_text(r["delta_top1_diff_ci"]),
                "images differ": r["n_outcomes_differ"],
                "e.g.": ", ".join(r["outcomes_differ"][:3]),
            }
            for r in ordered
        ]
    )
