"""What a dense entry's page shows: its facts, its categories and every noise row, as text.

The figures come from the typed documents' fields (`SegmentationRow`, `DetectionRow`); nothing is
recomputed here except the board's own summary (`dense_summary`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sysnoise.leaderboard.dense_summary import (
    LABELS,
    SEGMENTATION,
    dense_summary,
    row_lost,
)
from sysnoise.leaderboard.dense_table import DenseBoard

_SHOWN_CLASSES = 4  # per-class IoU: every class up to this many, else the lowest and highest


@dataclass(frozen=True)
class RowCell:
    """One cell of the every-noise table: shown text and the value it sorts by."""

    key: str
    text: str
    value: str
    numeric: bool


@dataclass(frozen=True)
class _Column:
    key: str
    label: str
    read: str | Callable[[dict[str, Any]], Any]  # a row field, or how to read it
    kind: str  # "text", "percent" (fraction shown x100), "interval", "count", "number", "moved"


def dense_page(entry: dict[str, Any], board: DenseBoard) -> dict[str, Any]:
    """The template variables particular to a dense entry's page."""
    columns = _row_columns(entry, board)
    return {
        "task": board.task,
        "ranking": board.ranking,
        "facts": _facts(entry, board),
        "category_columns": _category_labels(entry, board),
        "category_rows": _category_rows(entry),
        "row_columns": [(c.key, c.label) for c in columns],
        "rows": [[_row_cell(c, row) for c in columns] for row in entry["rows"]],
    }


def _facts(entry: dict[str, Any], board: DenseBoard) -> list[tuple[str, str, str | None]]:
    """(label, text, link) lines of the page's header table."""
    summary = dense_summary(entry)
    reference = entry.get("reference", {})
    metric = board.metric
    facts: list[tuple[str, str, str | None]] = []
    if board.scoring == LABELS:
        against = "masks" if board.task == SEGMENTATION else "annotations"
        facts.append(("scored against", f"the {against}", None))
    else:
        outputs = "masks" if board.task == SEGMENTATION else "detections"
        facts.append(
            (
                "scored against",
                f"the reference pipeline's own {outputs} (agreement, no labels)",
                None,
            )
        )
    if board.task == SEGMENTATION:
        classes = entry["model"].get("num_classes")
        facts.append(("classes", str(classes), None))
        if reference.get("miou") is not None:
            text = (
                f"{_pct(reference['miou'])} % mIoU, pixel accuracy "
                f"{_pct(reference.get('pixel_accuracy'))} %, per-class IoU "
                f"{_class_ious(reference.get('per_class_iou'))} % on "
                f"{reference.get('n_labelled')} images with masks"
            )
            facts.append(("reference", text, None))
    else:
        scores = [reference.get(m) for m in ("map", "ap50", "ap75")]
        text = f"{reference.get('detections')} detections at score ≥ " + (
            f"{entry.get('agreement_threshold')} on {reference.get('n_images')} images"
        )
        if scores[0] is not None:
            text = (
                f"mAP {_pct(scores[0])} %, AP50 {_pct(scores[1])} %, AP75 {_pct(scores[2])} %; "
                + text
            )
        facts.append(("reference", text, None))
    single = f"over {summary.n_single_noises} single noises"
    changed = "pixels changed" if board.task == SEGMENTATION else "images changed"
    if board.scoring == LABELS:
        facts.append(
            (
                f"mean |Δ{metric}| / mean Δ{metric}",
                f"{_pct(summary.mean_abs_delta)} pp / {_pct(summary.mean_delta)} pp {single}",
                None,
            )
        )
    else:
        facts.append(
            (f"mean agreement {metric}", f"{_pct(summary.mean_agreement)} % {single}", None)
        )
    facts.append((f"mean {changed}", f"{_pct(summary.mean_changed)} %", None))
    if summary.mean_lost is not None:
        facts.append(("mean detections lost", f"{_pct(summary.mean_lost)} %", None))
    if summary.worst_noise is not None:
        figure = f"Δ{metric}" if board.scoring == LABELS else f"agreement {metric}"
        unit = "pp" if board.scoring == LABELS else "%"
        facts.append(
            (
                "worst noise",
                f"{summary.worst_noise} ({figure} {_pct(summary.worst_value)} {unit})",
                f"#row-{summary.worst_noise_index}",
            )
        )
    return facts


def _category_labels(entry: dict[str, Any], board: DenseBoard) -> list[str]:
    value = {
        "delta_miou": "ΔmIoU",
        "agreement_gap": "agreement gap (100 − agreement mIoU)",
        "delta_map": "ΔmAP" if board.scoring == LABELS else "Δagreement mAP",
    }.get(entry.get("category_value", ""), entry.get("category_value", ""))
    changed = "pixels changed" if entry.get("task") == SEGMENTATION else "images changed"
    return [
        "category",
        "noises",
        f"mean {value} pp",
        f"mean |{value}| pp",
        f"max {value} pp",
        f"std {value} pp",
        f"mean {changed} %",
        f"max {changed} %",
    ]


def _category_rows(entry: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, summary in (entry.get("categories") or {}).items():
        rows.append(
            [
                name,
                str(summary.get("n_noises")),
                *(_pct(summary.get(f)) for f in ("mean", "mean_abs", "max", "std")),
                _pct(summary.get("flip_mean")),
                _pct(summary.get("flip_max")),
            ]
        )
    return rows


def _row_columns(entry: dict[str, Any], board: DenseBoard) -> list[_Column]:
    head = [
        _Column("noise", "noise", "noise", "text"),
        _Column("category", "category", "category", "text"),
        _Column("model_side", "model side", "model_side", "text"),
        _Column("n_images", "images", "n_images", "count"),
    ]
    tail = [
        _Column("maxdiff", "input max |diff|", "input_max_abs_diff", "count"),
        _Column("psnr", "input PSNR dB", "input_psnr_db", "number"),
        _Column("identical", "identical inputs %", "identical_input_rate", "percent"),
        _Column("errors", "errors", lambda r: (r.get("errors") or {}).get("count"), "count"),
    ]
    if board.task == SEGMENTATION:
        return head + _segmentation_columns(board) + tail
    return head + _detection_columns(board) + tail


def _segmentation_columns(board: DenseBoard) -> list[_Column]:
    agreement = [
        _Column("agreement", "agreement mIoU %", "agreement_miou", "percent"),
        _Column("gap_ci", "agreement gap 95% CI pp", "agreement_gap_ci", "interval"),
        _Column("pixel_agreement", "pixel agreement %", "pixel_agreement", "percent"),
        _Column("changed", "pixels changed %", "flip_rate", "percent"),
        _Column("same", "same outputs as", "identical_to", "text"),
    ]
    if board.scoring != LABELS:
        return agreement
    return [
        _Column("miou", "mIoU %", "miou", "percent"),
        _Column("delta", "ΔmIoU pp", "delta_miou", "percent"),
        _Column("delta_ci", "ΔmIoU 95% CI pp", "delta_miou_ci", "interval"),
        _Column(
            "classes", "per-class IoU %", lambda r: _class_ious(r.get("per_class_iou")), "text"
        ),
        _Column("pixel_accuracy", "pixel accuracy %", "pixel_accuracy", "percent"),
        *agreement,
    ]


def _detection_columns(board: DenseBoard) -> list[_Column]:
    def score(metric: str) -> Callable[[dict[str, Any]], Any]:
        return lambda r: (r.get("scores") or {}).get(metric)

    def delta(metric: str, field: str) -> Callable[[dict[str, Any]], Any]:
        return lambda r: ((r.get("deltas") or {}).get(metric) or {}).get(field)

    prefix = "" if board.scoring == LABELS else "agreement "
    return [
        _Column("map", f"{prefix}mAP %", score("map"), "percent"),
        _Column("ap50", f"{prefix}AP50 %", score("ap50"), "percent"),
        _Column("ap75", f"{prefix}AP75 %", score("ap75"), "percent"),
        _Column("delta", f"Δ{prefix}mAP pp", delta("map", "delta"), "percent"),
        _Column("delta_ci", f"Δ{prefix}mAP 95% CI pp", delta("map", "ci"), "interval"),
        _Column("delta50", f"Δ{prefix}AP50 pp", delta("ap50", "delta"), "percent"),
        _Column("moved", "stayed / lost / new", "detections", "moved"),
        _Column("lost", "lost %", row_lost, "percent"),
        _Column("changed", "images changed %", "flip_rate", "percent"),
    ]


def _row_cell(column: _Column, row: dict[str, Any]) -> RowCell:
    value = row.get(column.read) if isinstance(column.read, str) else column.read(row)
    if value is None:
        return RowCell(column.key, "", "", column.kind != "text")
    if column.kind == "percent":
        return RowCell(column.key, _pct(value), f"{value:.6f}", True)
    if column.kind == "interval":
        text = f"[{_pct(value[0])}, {_pct(value[1])}]"
        return RowCell(column.key, text, f"{value[0]:.6f}", True)
    if column.kind == "count":
        return RowCell(column.key, str(int(value)), str(int(value)), True)
    if column.kind == "number":
        return RowCell(column.key, f"{value:.2f}", f"{value:.6f}", True)
    if column.kind == "moved":
        text = f"{value['stayed']} / {value['lost']} / {value['new']}"
        return RowCell(column.key, text, str(value["lost"]), True)
    return RowCell(column.key, str(value), str(value), False)


def _class_ious(values: list[float | None] | None) -> str:
    """Per-class IoU in %: every class of a small model, else the lowest and highest."""
    if not values:
        return ""
    if len(values) <= _SHOWN_CLASSES:
        return " / ".join("n/a" if v is None else _pct(v) for v in values)
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    if not known:
        return "n/a"
    (low, low_class), (high, high_class) = min(known), max(known)
    return f"lowest {_pct(low)} (class {low_class}), highest {_pct(high)} (class {high_class})"


def _pct(fraction: float | None) -> str:
    return "" if fraction is None else f"{100.0 * fraction:.2f}"
