"""Leaderboard tables: one DataFrame per (dataset fingerprint, suite), most robust model first."""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sysnoise.leaderboard.store import entry_stem

MEAN_DELTA = "all Δ mean pp"
MEAN_ABS_DELTA = "all |Δ| mean pp"
MEAN_FLIP = "mean flip %"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as a formula
_SHOWN_CHARS = 128


@dataclass(frozen=True)
class BoardGroup:
    """Entries measured on the same dataset with the same suite, and their table."""

    dataset_name: str
    dataset_fingerprint: str
    suite: str
    n_images: int | None  # None when the entries disagree
    entries: list[dict[str, Any]]
    frame: pd.DataFrame  # indexed by entry stem
    disagreeing: tuple[str, ...] = ()  # stems of entries whose dataset name or size differs

    @property
    def title(self) -> str:
        """A heading naming the dataset, its fingerprint and the suite (plain text, one line)."""
        size = "size disputed" if self.n_images is None else f"{self.n_images} images"
        flag = (
            f"; {len(self.disagreeing)} entries disagree on the dataset's name or size"
            if self.disagreeing
            else ""
        )
        return plain_text(
            f"{self.dataset_name} ({size}, fingerprint {self.dataset_fingerprint[:12]}{flag}), "
            f"suite {self.suite}",
            limit=4 * _SHOWN_CHARS,
        )


def plain_text(text: Any, limit: int = _SHOWN_CHARS) -> str:
    """`text` on one line without control characters, cut to `limit` characters: safe to put in a
    heading, a table cell or a terminal."""
    cleaned = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in str(text)
    )
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas: a cell that starts with
    = + - @ or a tab gets a leading apostrophe (OWASP's advice for CSV files)."""

    def cell(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
            return "'" + value
        return value

    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(cell)
    return safe


def display_name(entry: dict[str, Any]) -> str:
    """The submitted display name, or the model name, as plain one-line text."""
    return plain_text(entry.get("submission", {}).get("name") or entry["model"]["name"])


def environment_summary(entry: dict[str, Any]) -> str:
    """Torch version and the device: ``torch 2.4.1, NVIDIA H100`` or ``torch 2.4.1, cpu AMD``."""
    env = entry.get("environment", {})
    torch = env.get("packages", {}).get("torch") or "?"
    device = env.get("gpu") or f"cpu {env.get('cpu') or '?'}"
    return plain_text(f"torch {torch}, {device}")


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
        name, n_images, disagreeing = _agreed_dataset(members, fingerprint)
        groups.append(
            BoardGroup(
                dataset_name=name,
                dataset_fingerprint=fingerprint,
                suite=suite,
                n_images=n_images,
                entries=[by_stem[stem] for stem in frame.index],
                frame=frame,
                disagreeing=disagreeing,
            )
        )
    return groups


def _agreed_dataset(
    members: list[dict[str, Any]], fingerprint: str
) -> tuple[str, int | None, tuple[str, ...]]:
    """The dataset name and size all entries of one fingerprint state; where they differ, the
    fingerprint names the dataset, the size is disputed and the entries in the minority are
    listed (so no single entry can relabel everyone else's)."""
    stated = [(m["dataset"]["name"], m["dataset"]["n_images"]) for m in members]
    if len(set(stated)) == 1:
        return plain_text(stated[0][0]), stated[0][1], ()
    common, _ = Counter(stated).most_common(1)[0]
    disagreeing = tuple(
        sorted(entry_stem(m) for m, s in zip(members, stated, strict=True) if s != common)
    )
    sizes = {size for _, size in stated}
    n_images = sizes.pop() if len(sizes) == 1 else None
    return f"dataset {fingerprint[:12]}", n_images, disagreeing


def board_frame(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per entry (index: entry stem), sorted by mean flip rate over all noises (needs no
    labels and cannot cancel), then by mean Δ top-1."""
    categories = sorted({c for e in entries for c in e["categories"]})
    records = [_record(entry, categories) for entry in entries]
    frame = pd.DataFrame.from_records(records, index=[entry_stem(e) for e in entries])
    return frame.sort_values([MEAN_FLIP, MEAN_DELTA], na_position="last", kind="stable")


def _record(entry: dict[str, Any], categories: list[str]) -> dict[str, Any]:
    rows = entry["rows"]
    deltas = [r["delta_top1"] for r in rows if r.get("delta_top1") is not None]
    flips = [r["flip_rate"] for r in rows if r.get("flip_rate") is not None]
    top1 = entry["reference"].get("top1")
    robustart = entry.get("robustart") or {}
    record: dict[str, Any] = {
        "model": display_name(entry),
        "reference top-1 %": _percent(top1),
        MEAN_FLIP: _percent(sum(flips) / len(flips) if flips else None),
        MEAN_DELTA: _percent(sum(deltas) / len(deltas) if deltas else None),
        MEAN_ABS_DELTA: _percent(sum(map(abs, deltas)) / len(deltas) if deltas else None),
        "RobustART top-1 % (mean ± std)": _robustart(robustart),
    }
    for category in categories:
        summary = entry["categories"].get(category, {})
        record[f"{category} Δ mean pp"] = _percent(summary.get("mean"))
        record[f"{category} Δ max pp"] = _percent(summary.get("max"))
    record["max flip %"] = _percent(max(flips) if flips else None)
    record["n images"] = entry["dataset"]["n_images"]
    record["date"] = str(entry.get("created", ""))[:10]
    record["environment"] = environment_summary(entry)
    return record


def _robustart(summary: dict[str, Any]) -> str:
    """Mean ± population std of top-1 over the published ImageNet-S variants, when measured."""
    if not summary:
        return ""
    text = f"{100 * summary['top1_mean']:.2f} ± {100 * summary['top1_std']:.2f}"
    return text if summary["complete"] else f"{text} ({summary['n_variants']} variants)"


def _percent(fraction: float | None) -> float:
    return float("nan") if fraction is None else round(100.0 * fraction, 3)
