"""The terminal report of a detection run."""

from __future__ import annotations

from typing import Any


def format_detection_report(document: dict[str, Any]) -> str:
    """A plain-text table: per noise its scores, delta mAP with interval, moved detections."""
    reference = document["reference"]
    against = document["scored_against"]
    lines = [
        f"model {document['model']['name']} on {document['dataset']['name']} "
        f"({document['dataset']['n_images']} images), mAP against the {against}",
        f"reference: {reference['detections']} detections at score >= "
        f"{document['agreement_threshold']}"
        + (f", mAP {_percent(reference['map'])}" if reference.get("map") is not None else ""),
        "",
        f"{'noise':<38} {'mAP':>6} {'AP50':>6} {'AP75':>6} {'delta mAP [95% CI]':>24} "
        f"{'stayed/lost/new':>16} {'images changed':>15}",
    ]
    for row in document["rows"]:
        moved = row["detections"] or {}
        lines.append(
            f"{_score_columns(row)} "
            f"{'/'.join(str(moved.get(k, '-')) for k in ('stayed', 'lost', 'new')):>16} "
            f"{_percent(row['flip_rate']):>15}"
        )
    masked = [row for row in document["rows"] if row.get("masks") is not None]
    if masked:
        lines += [
            "",
            "masks: COCO mask mAP against the reference pipeline's own masks",
            f"{'noise':<38} {'mask mAP':>8} {'AP50':>6} {'AP75':>6} {'delta mAP [95% CI]':>24}",
        ]
        lines += [_score_columns(row["masks"], row["noise"], 8) for row in masked]
    skipped = document["not_evaluated"]
    if skipped:
        lines += ["", "not evaluated:"]
        lines += [f"  {s['noise']}: {s['status']}: {s['reason']}" for s in skipped]
    return "\n".join(lines)


def _score_columns(block: dict[str, Any], noise: str | None = None, width: int = 6) -> str:
    """Noise name, mAP, AP50, AP75 and the mAP delta with its interval of a row (or of its
    `masks` block, named `noise`)."""
    scores = block["scores"] or {}
    delta = (block["deltas"] or {}).get("map") or {}
    interval = delta.get("ci")
    delta_text = _percent(delta.get("delta")) + (
        f" [{_percent(interval[0])}, {_percent(interval[1])}]" if interval else ""
    )
    name = block["noise"] if noise is None else noise
    return (
        f"{name[:38]:<38} {_percent(scores.get('map')):>{width}} "
        f"{_percent(scores.get('ap50')):>6} {_percent(scores.get('ap75')):>6} {delta_text:>24}"
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"
