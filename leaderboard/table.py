"""Leaderboard tables: one DataFrame per (task, scoring, dataset fingerprint, suite).

Classification entries rank by mean flip rate; segmentation and detection entries by the figures
of `sysnoise.leaderboard.dense_table`, each scoring (labels or agreement) in its own table."""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sysnoise.leaderboard.dense_summary import (
    CLASSIFICATION,
    LABELS,
    DenseSummary,
    board_kind,
    dense_summary,
)
from sysnoise.leaderboard.dense_table import BOARDS, DenseBoard, dense_figures
from sysnoise.leaderboard.store import entry_stem
from sysnoise.leaderboard.summary import (
    EntrySummary,
    architecture_family,
    category_abs_mean,
    category_delta_mean,
    category_flip_mean,
    entry_summary,
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as a formula
_SHOWN_CHARS = 128
RANK = "rank"
MEAN_FLIP = "mean flip %"
MEAN_DELTA = "mean Δ pp"
MEAN_ABS_DELTA = "mean |Δ| pp"
WORST_NOISE = "worst noise"
# Below this many labelled images, differences between entries are indicative only.
DEMONSTRATION_LABELLED = 1000
# Columns of the compact view, in the order the terminal keeps them when it is narrow.
CORE_COLUMNS = (
    RANK,
    "model",
    MEAN_FLIP,
    MEAN_DELTA,
    MEAN_ABS_DELTA,
    "reference top-1 %",
    WORST_NOISE,
    "worst flip %",
    "family",
    "backend",
    "n images",
    "date",
)


@dataclass(frozen=True)
class BoardGroup:
    """Entries of one task, scored the same way, measured on the same dataset with the same
    suite, and their table."""

    dataset_name: str
    dataset_fingerprint: str
    suite: str
    n_images: int | None  # None when the entries disagree
    n_labelled: int  # the fewest any entry states
    entries: list[dict[str, Any]]  # in rank order
    frame: pd.DataFrame  # indexed by entry stem, in rank order
    summaries: dict[str, EntrySummary | DenseSummary]  # by entry stem
    categories: list[str]
    disagreeing: tuple[str, ...] = ()  # stems of entries whose dataset name or size differs
    task: str = CLASSIFICATION
    scoring: str | None = None  # dense tasks: LABELS or AGREEMENT

    @property
    def board(self) -> DenseBoard | None:
        """How a dense group ranks and names its columns (None: classification)."""
        return None if self.scoring is None else BOARDS[(self.task, self.scoring)]

    @property
    def core_columns(self) -> tuple[str, ...]:
        """The compact columns, in the order a narrow terminal keeps them."""
        return CORE_COLUMNS if self.board is None else self.board.core_columns

    @property
    def ranking(self) -> str:
        """One sentence: what the table ranks by."""
        if self.board is None:
            return (
                "ranked by the mean flip rate over the suite's single noises (share of images "
                "whose top-1 changes, lower is more robust); Δ = reference minus noisy top-1 in "
                "pp, mean |Δ| cannot cancel, mean Δ can"
            )
        return self.board.ranking

    @property
    def title(self) -> str:
        """A heading naming the dataset, its fingerprint and the suite (plain text, one line)."""
        size = "size disputed" if self.n_images is None else f"{self.n_images} images"
        flag = (
            f"; {len(self.disagreeing)} entries disagree on the dataset's name or size"
            if self.disagreeing
            else ""
        )
        task = self.task if self.scoring is None else f"{self.task}, {_SCORED[self.scoring]}"
        return plain_text(
            f"{task}: {self.dataset_name} ({size}, fingerprint {self.dataset_fingerprint[:12]}"
            f"{flag}), suite {self.suite}",
            limit=4 * _SHOWN_CHARS,
        )

    @property
    def demonstration(self) -> bool:
        """Whether the set is too small for differences between entries to mean much."""
        return self.dataset_name == "sample" or self._n_scored < DEMONSTRATION_LABELLED

    @property
    def _n_scored(self) -> int:
        """Images the ranking figure rests on: labelled ones, or every image for agreement."""
        if self.scoring is None or self.scoring == LABELS:
            return self.n_labelled
        return self.n_images or 0

    @property
    def scale_note(self) -> str:
        """What the set's size allows one to read from it."""
        if self.scoring is not None and self.scoring != LABELS:
            scale = "demonstration scale: " if self.demonstration else ""
            tail = (
                "; the tables show how the benchmark reads, differences between entries are "
                "indicative only"
                if self.demonstration
                else ""
            )
            return f"{scale}{self._n_scored} images, no labels used{tail}"
        if self.demonstration:
            return (
                f"demonstration scale: {self.n_labelled} labelled images; the tables show how "
                "the benchmark reads, differences between entries are indicative only"
            )
        return f"{self.n_labelled} labelled images"

    @property
    def slug(self) -> str:
        """An identifier for the group's page elements."""
        task = "" if self.scoring is None else f"{self.task}-{self.scoring}-"
        return f"{task}{self.suite}-{self.dataset_fingerprint[:12]}".replace(" ", "_")

    def category_columns(self) -> list[str]:
        """The per-category columns (collapsed in the compact view)."""
        core = self.core_columns
        return [c for c in self.frame.columns if c not in core and c != "environment"]


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
    """Entries split by (task, scoring, dataset fingerprint, suite name), each group with its
    ranked table: classification first, then each dense task, labelled before agreement."""
    grouped: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for entry in entries:
        task, scoring = board_kind(entry)
        key = (task, scoring or "", entry["dataset"]["fingerprint"], entry["suite"]["name"])
        grouped.setdefault(key, []).append(entry)
    groups = []
    for (task, scoring, fingerprint, suite), members in sorted(grouped.items(), key=_group_order):
        board = BOARDS[(task, scoring)] if scoring else None
        frame = board_frame(members) if board is None else dense_frame(members, board)
        by_stem = {entry_stem(e): e for e in members}
        name, n_images, disagreeing = _agreed_dataset(members, fingerprint)
        groups.append(
            BoardGroup(
                dataset_name=name,
                dataset_fingerprint=fingerprint,
                suite=suite,
                n_images=n_images,
                n_labelled=min(m["dataset"].get("n_labelled") or 0 for m in members),
                entries=[by_stem[stem] for stem in frame.index],
                frame=frame,
                summaries={
                    stem: entry_summary(by_stem[stem])
                    if board is None
                    else dense_summary(by_stem[stem])
                    for stem in frame.index
                },
                categories=_categories(members),
                disagreeing=disagreeing,
                task=task,
                scoring=scoring or None,
            )
        )
    return groups


_TASK_ORDER = ("classification", "segmentation", "detection")
_SCORED = {LABELS: "scored against labels", "agreement": "agreement with the reference"}


def _group_order(item: tuple[tuple[str, str, str, str], Any]) -> tuple[Any, ...]:
    """Classification's groups in their old order (suite, fingerprint), then each dense task's,
    the ones scored against labels first."""
    task, scoring, fingerprint, suite = item[0]
    rank = _TASK_ORDER.index(task) if task in _TASK_ORDER else len(_TASK_ORDER)
    return (rank, task, scoring != LABELS, suite, fingerprint)


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
    """One row per entry (index: entry stem), ranked by mean flip rate (lowest first), then by
    mean |Δ|; entries without flip rates last."""
    categories = _categories(entries)
    records = [_record(entry, categories) for entry in entries]
    frame = pd.DataFrame.from_records(records, index=[entry_stem(e) for e in entries])
    frame = frame.sort_values(
        [MEAN_FLIP, MEAN_ABS_DELTA, "model"], na_position="last", kind="stable"
    )
    frame.insert(0, RANK, frame[MEAN_FLIP].rank(method="min").astype("Int64"))
    return frame


def dense_frame(entries: list[dict[str, Any]], board: DenseBoard) -> pd.DataFrame:
    """One row per dense entry (index: entry stem), ranked by the board's figure, then by the
    share changed or lost; entries without the figure last."""
    categories = _categories(entries)
    records = []
    for entry in entries:
        _, headline, per_category = dense_figures(board, entry, categories)
        records.append(
            {
                "model": display_name(entry),
                **{k: plain_text(v) if isinstance(v, str) else v for k, v in headline.items()},
                **_identity(entry),
                **per_category,
                **_provenance(entry),
            }
        )
    frame = pd.DataFrame.from_records(records, index=[entry_stem(e) for e in entries])
    frame = frame.sort_values(
        [board.rank_column, board.tie_column, "model"],
        ascending=[board.ascending, True, True],
        na_position="last",
        kind="stable",
    )
    rank = frame[board.rank_column].rank(method="min", ascending=board.ascending)
    frame.insert(0, RANK, rank.astype("Int64"))
    return frame


def _identity(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "family": plain_text(architecture_family(entry)),
        "backend": plain_text(entry["model"].get("backend") or ""),
    }


def _provenance(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "n images": entry["dataset"]["n_images"],
        "date": str(entry.get("created", ""))[:10],
        "environment": environment_summary(entry),
    }


def _categories(entries: list[dict[str, Any]]) -> list[str]:
    seen = dict.fromkeys(c for e in entries for r in e["rows"] for c in [r.get("category")] if c)
    seen.update(dict.fromkeys(c for e in entries for c in e["categories"]))
    return list(seen)  # in the suite's own order


def _record(entry: dict[str, Any], categories: list[str]) -> dict[str, Any]:
    summary = entry_summary(entry)
    record: dict[str, Any] = {
        "model": display_name(entry),
        MEAN_FLIP: _percent(summary.mean_flip),
        MEAN_DELTA: _percent(summary.mean_delta),
        MEAN_ABS_DELTA: _percent(summary.mean_abs_delta),
        "reference top-1 %": _percent(summary.reference_top1),
        WORST_NOISE: plain_text(summary.worst_noise or ""),
        "worst flip %": _percent(summary.worst_flip),
        "family": plain_text(architecture_family(entry)),
        "backend": plain_text(entry["model"].get("backend") or ""),
    }
    record["RobustART top-1 % (mean ± std)"] = _robustart(entry.get("robustart") or {})
    for category in categories:
        record[f"{category} flip %"] = _percent(category_flip_mean(entry, category))
        record[f"{category} Δ pp"] = _percent(category_delta_mean(entry, category))
        record[f"{category} |Δ| pp"] = _percent(category_abs_mean(entry, category))
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


def terminal_table(
    frame: pd.DataFrame, width: int, core: tuple[str, ...] = CORE_COLUMNS
) -> tuple[str, list[str]]:
    """The frame as text no wider than `width`: the compact (`core`) columns first, in rank
    order, then per-category ones while they fit; long names shortened. (text, columns left
    out)."""
    frame = frame.copy()
    for column in ("model", WORST_NOISE):
        if column in frame:
            frame[column] = frame[column].map(lambda v: _shorten(str(v), max(12, width // 5)))
    priority = [c for c in core if c in frame] + [c for c in frame.columns if c not in core]
    chosen: list[str] = []
    for column in priority:
        trial = [c for c in frame.columns if c in chosen or c == column]
        if not chosen or _text_width(frame[trial]) <= width:
            chosen = trial
    text = frame[chosen].to_string(index=False, na_rep="", float_format=lambda v: f"{v:.2f}")
    return text, [c for c in frame.columns if c not in chosen]


def _text_width(frame: pd.DataFrame) -> int:
    text = frame.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.2f}")
    return max(len(line) for line in text.splitlines())


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
