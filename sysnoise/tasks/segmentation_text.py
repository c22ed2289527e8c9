"""The terminal report of a segmentation results document."""

from __future__ import annotations

from typing import Any

from sysnoise.report import interval_text, pct

_OPTIONS = {"max_rows": None, "max_colwidth": 48, "na_rep": "-"}


def _harm(row: dict[str, Any]) -> tuple[float, float]:
    """Most harmful first: the share of pixels whose class changes, then delta-mIoU."""
    flip = row["flip_rate"] if row["flip_rate"] is not None else -1.0
    delta = row["delta_miou"] if row["delta_miou"] is not None else float("-inf")
    return (-flip, -delta)


def segmentation_rows_table(document: dict[str, Any], limit: int | None = None) -> Any:
    """One line per noise, most harmful first: agreement with the reference masks, then mIoU
    against the labels with its paired bootstrap interval where there are labels."""
    import pandas as pd

    records = []
    for row in sorted(document["rows"], key=_harm)[:limit]:
        records.append(
            {
                "noise": row["noise"],
                "category": row["category"],
                "model": row.get("model_side"),
                "pixels changed %": pct(row["flip_rate"]),
                "agreement mIoU %": pct(row["agreement_miou"]),
                "gap 95% CI": interval_text(row.get("agreement_gap_ci")),
                "mIoU %": pct(row["miou"]),
                "ΔmIoU pp": pct(row["delta_miou"]),
                "ΔmIoU 95% CI": interval_text(row["delta_miou_ci"]),
                "identical to": row.get("identical_to") or "",
            }
        )
    return pd.DataFrame(records).fillna("-")


def format_segmentation_report(document: dict[str, Any], all_rows: bool = False) -> str:
    """Model, data, reference figures, the rows, the categories and what was left out."""
    import pandas as pd

    ref = document["reference"]
    data = document["dataset"]
    miou = "n/a (no masks)" if ref["miou"] is None else f"{100 * ref['miou']:.2f}%"
    lines = [
        f"{document['model']['name']} (segmentation, {document['model']['num_classes']} classes) "
        f"on {data['name']} ({data['n_images']} images, {data['n_labelled']} with masks), "
        f"suite {document['suite']['name']} ({document['suite']['n_noises']} noises)",
        "reference pipeline: "
        + ", ".join(
            f"{k}={v}"
            for k, v in document["reference_pipeline"].items()
            if k not in ("mean", "std")
        ),
        f"reference mIoU: {miou}"
        + (
            ""
            if ref["pixel_accuracy"] is None
            else f", pixel accuracy {pct(ref['pixel_accuracy'])}%"
        )
        + (f"; {ref['n_failed']} images failed under the reference" if ref["n_failed"] else ""),
        "",
        segmentation_rows_table(document, None if all_rows else 15).to_string(
            index=False, **_OPTIONS
        ),
    ]
    value = document.get("category_value", "delta_miou")
    categories = pd.DataFrame(
        [
            {
                "category": name,
                "noises": c["n_noises"],
                f"mean {value} pp": pct(c["mean"]),
                f"max {value} pp": pct(c["max"]),
                "mean pixels changed %": pct(c["flip_mean"]),
            }
            for name, c in document["categories"].items()
        ]
    ).fillna("-")
    lines += ["", categories.to_string(index=False, **_OPTIONS)]
    if document["not_evaluated"]:
        lines.append("\nnot evaluated:")
        lines += [
            f"  {s['noise']}: {s['status']}: {s['reason']}" for s in document["not_evaluated"]
        ]
    return "\n".join(lines)
