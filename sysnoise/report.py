"""Readable tables of a results document for the terminal."""

from __future__ import annotations

from typing import Any

from sysnoise.pipeline import model_side_label


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def rows_table(document: dict[str, Any]) -> Any:
    """One line per noise: top-1, delta, flip rate, McNemar p, input PSNR, failures; the model
    side (backend, precision, patches) where any noise changes it."""
    import pandas as pd

    records = [
        {
            "noise": row["noise"],
            "category": row["category"],
            "model": row.get("model_side", "torch-fp32"),
            "top1 %": _pct(row["top1"]),
            "Δtop1 pp": _pct(row["delta_top1"]),
            "flip %": _pct(row["flip_rate"]),
            "p (McNemar)": None if row["mcnemar_p"] is None else round(row["mcnemar_p"], 3),
            "input PSNR dB": "identical"
            if row["identical_input_rate"] == 1.0
            else (None if row["input_psnr_db"] is None else round(row["input_psnr_db"], 1)),
            "failed": row["n_failed"],
        }
        for row in document["rows"]
    ]
    table = pd.DataFrame(records)
    reference = document["reference_pipeline"]
    reference_side = model_side_label(
        *(reference[f] for f in ("ceil_mode", "upsample", "backend", "precision"))
    )
    if not table.empty and (table["model"] == reference_side).all():
        table = table.drop(columns="model")  # every noise ran on the reference model side
    return table


def categories_table(document: dict[str, Any]) -> Any:
    """Per category: number of noises, mean/max/std of the top-1 delta, mean/max flip rate."""
    import pandas as pd

    records = [
        {
            "category": name,
            "noises": summary["n_noises"],
            "Δtop1 mean pp": _pct(summary["mean"]),
            "Δtop1 max pp": _pct(summary["max"]),
            "Δtop1 std pp": _pct(summary["std"]),
            "flip mean %": _pct(summary["flip_mean"]),
            "flip max %": _pct(summary["flip_max"]),
        }
        for name, summary in document["categories"].items()
    ]
    return pd.DataFrame(records)


def combined_table(document: dict[str, Any]) -> Any:
    """The combined stack step by step: cumulative delta and flip rate, and each step's share."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "step": step["noise"],
                "Δtop1 cumulative pp": _pct(step["cumulative_delta_top1"]),
                "Δtop1 this step pp": _pct(step["step_delta_top1"]),
                "flip cumulative %": _pct(step["cumulative_flip_rate"]),
                "flip this step %": _pct(step["step_flip_rate"]),
            }
            for step in document.get("combined", [])
        ]
    )


def not_evaluated_table(document: dict[str, Any]) -> Any:
    """Noises of the suite left out of this run, and why."""
    import pandas as pd

    return pd.DataFrame(
        [
            {"noise": s["noise"], "status": s["status"], "reason": s["reason"]}
            for s in document.get("not_evaluated", [])
        ]
    )


def format_report(document: dict[str, Any]) -> str:
    """The whole terminal report: header, per-noise table, per-category table."""
    ref = document["reference"]
    data = document["dataset"]
    top1 = "n/a (no labels)" if ref["top1"] is None else f"{100 * ref['top1']:.2f}%"
    header = (
        f"{document['model']['name']} on {data['name']} ({data['n_images']} images, "
        f"{data['n_labelled']} labelled), suite {document['suite']['name']} "
        f"({document['suite']['n_noises']} noises)\n"
        f"reference pipeline: {_describe(document['reference_pipeline'])}\n"
        f"reference top-1: {top1} on {ref['n_labelled']} labelled images"
        + (f"; {ref['n_failed']} images failed under the reference" if ref["n_failed"] else "")
    )
    calibration = document.get("calibration")
    if calibration:
        header += (
            f"\nINT8 calibration: {calibration['method']} on {calibration['n_images']} held-out "
            "images, excluded from every score"
        )
    options = {"max_rows": None, "max_colwidth": 40, "na_rep": "-"}
    parts = [
        header,
        rows_table(document).to_string(index=False, **options),
        categories_table(document).to_string(index=False, **options),
    ]
    if document.get("combined"):
        parts.append(combined_table(document).to_string(index=False, **options))
    if document.get("not_evaluated"):
        parts.append(
            not_evaluated_table(document).to_string(index=False, **{**options, "max_colwidth": 140})
        )
    parts.append(
        "Δtop1 = reference minus noisy (positive: the noise costs accuracy); "
        "flip = share of images whose top-1 changes."
    )
    return "\n\n".join(parts)


def _describe(pipeline: dict[str, Any]) -> str:
    return (
        f"decode {pipeline['decoder']}, resize {pipeline['resizer']} "
        f"({pipeline['resize_protocol']} side {pipeline['resize_size']}), "
        f"crop {pipeline['crop_size']}; "
        f"{pipeline.get('backend', 'torch')} {pipeline.get('precision', 'fp32')}"
    )
