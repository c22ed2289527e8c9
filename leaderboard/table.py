"""Leaderboard tables: one DataFrame per (dataset fingerprint, suite), most robust model first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from sysnoise.leaderboard.store import entry_stem

MEAN_DELTA = "all Δ mean pp"


@dataclass(frozen=True)
class BoardGroup:
    """Entries measured on the same dataset with the same suite, and their table."""

    dataset_name: str
    dataset_fingerprint: str
    suite: str
    n_images: int
    entries: list[dict[str, Any]]
    frame: pd.DataFrame  # indexed by entry stem

    @property
    def title(self) -> str:
        """A heading naming the dataset, its fingerprint and the suite."""
        return (
            f"{self.dataset_name} ({self.n_images} images, fingerprint "
            f"{self.dataset_fingerprint[:12]}), suite {self.suite}"
        )


def display_name(entry: dict[str, Any]) -> str:
    """The submitted display name, or the model name."""
    return entry.get("submission", {}).get("name") or entry["model"]["name"]


def environment_summary(entry: dict[str, Any]) -> str:
    """Torch version and the device: ``torch 2.4.1, NVIDIA H100`` or ``torch 2.4.1, cpu AMD``."""
    env = entry.get("environment", {})
    torch = env.get("packages", {}).get("torch") or "?"
    device = env.get("gpu") or f"cpu {env.get('cpu') or '?'}"
    return f"torch {torch}, {device}"


def group_entries(entries: list[dict[str, Any]]) -> list[BoardGroup]:
    """Entries split by (dataset fingerprint, suite name), each group with its sorted table."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in entries:
        key = (entry["dataset"]["fingerprint"], entry["suite"]["name"])
        grouped.setdefault(key, []).append(entry)
    groups = []
    for (fingerprint, suite), members in sorted(grouped.items(), key=lambda kv: kv[0][::-1]):
        frame = board_frame(members)
        by_stem = {entry_stem(e): e for e in members}
        groups.append(
            BoardGroup(
                dataset_name=members[0]["dataset"]["name"],
                dataset_fingerprint=fingerprint,
                suite=suite,
                n_images=members[0]["dataset"]["n_images"],
                entries=[by_stem[stem] for stem in frame.index],
                frame=frame,
            )
        )
    return groups


def board_frame(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per entry (index: entry stem), sorted by mean Δ top-1 over all noises."""
    categories = sorted({c for e in entries for c in e["categories"]})
    records = [_record(entry, categories) for entry in entries]
    frame = pd.DataFrame.from_records(records, index=[entry_stem(e) for e in entries])
    return frame.sort_values(MEAN_DELTA, na_position="last", kind="stable")


def _record(entry: dict[str, Any], categories: list[str]) -> dict[str, Any]:
    rows = entry["rows"]
    deltas = [r["delta_top1"] for r in rows if r.get("delta_top1") is not None]
    flips = [r["flip_rate"] for r in rows if r.get("flip_rate") is not None]
    top1 = entry["reference"].get("top1")
    record: dict[str, Any] = {
        "model": display_name(entry),
        "reference top-1 %": _percent(top1),
        MEAN_DELTA: _percent(sum(deltas) / len(deltas) if deltas else None),
    }
    for category in categories:
        summary = entry["categories"].get(category, {})
        record[f"{category} Δ mean pp"] = _percent(summary.get("mean"))
        record[f"{category} Δ max pp"] = _percent(summary.get("max"))
    record["mean flip %"] = _percent(sum(flips) / len(flips) if flips else None)
    record["max flip %"] = _percent(max(flips) if flips else None)
    record["n images"] = entry["dataset"]["n_images"]
    record["date"] = str(entry.get("created", ""))[:10]
    record["environment"] = environment_summary(entry)
    return record


def _percent(fraction: float | None) -> float:
    return float("nan") if fraction is None else round(100.0 * fraction, 3)
