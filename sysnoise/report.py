"""Readable report of a results document for the terminal: what the run can show, the most
harmful noises first, the categories, the combined stack, what to deploy, what was left out."""

from __future__ import annotations

from typing import Any

from sysnoise.deploy import deployment_advice
from sysnoise.pipeline import MODEL_FIELDS, model_side_label

DEFAULT_ROWS = 15
_OPTIONS = {"max_rows": None, "max_colwidth": 48, "na_rep": "-"}


def pct(value: float | None) -> float | None:
    """A fraction as a percentage with two decimals (None stays None), for tables."""
    return None if value is None else round(100 * value, 2)


def interval_text(interval: list[float] | None) -> str | None:
    """An interval of fractions as "[low, high]" in percent with one decimal, for tables."""
    if interval is None:
        return None
    return f"[{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def _harm(row: dict[str, Any]) -> tuple[float, float]:
    """Sort key, most harmful first: flip rate (needs no labels, cannot cancel), then Δtop-1."""
    flip = row["flip_rate"] if row["flip_rate"] is not None else -1.0
    delta = row["delta_top1"] if row["delta_top1"] is not None else float("-inf")
    return (-flip, -delta)


def _groups(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[str]]]:
    """Rows with the same predictions on every image as one entry: the first row of each group
    and the names of the others."""
    others: dict[str, list[str]] = {}
    firsts = []
    for row in rows:
        same = row.get("identical_to")
        if same is not None and same != "reference" and same in {r["noise"] for r in rows}:
            others.setdefault(same, []).append(row["noise"])
        else:
            firsts.append(row)
    return [(row, others.get(row["noise"], [])) for row in firsts]


def _reference_side(document: dict[str, Any]) -> str:
    reference = document["reference_pipeline"]
    # postprocess and pyramid are stored only when they are not "model" (Pipeline.to_dict)
    return model_side_label(**{name: reference[name] for name in MODEL_FIELDS if name in reference})


def rows_table(document: dict[str, Any], limit: int | None = DEFAULT_ROWS) -> Any:
    """One line per distinct outcome, most harmful first: flip rate and Δtop-1 with their 95%
    intervals, raw and Holm-adjusted McNemar p, significance after adjustment ('*'); noises with
    the same predictions on every image share a line. `limit` lines at most (None: all)."""
    import pandas as pd

    rows = sorted(document["rows"], key=_harm)
    records = []
    for row, same in _groups(rows)[:limit]:
        same_as = row.get("identical_to")
        records.append(
            {
                "noise": row["noise"] + (f" (+{len(same)} same)" if same else ""),
                "category": row["category"],
                "model": row.get("model_side", "torch-fp32"),
                "flip %": pct(row["flip_rate"]),
                "flip 95% CI": interval_text(row["flip_rate_ci"]),
                "Δtop1 pp": pct(row["delta_top1"]),
                "Δtop1 95% CI": interval_text(row["delta_top1_ci"]),
                "p": None if row["mcnemar_p"] is None else round(row["mcnemar_p"], 3),
                "p Holm": None
                if row.get("mcnemar_p_holm") is None
                else round(row["mcnemar_p_holm"], 3),
                "sig": "*" if row.get("significant") else "",
                "input PSNR dB": "identical"
                if row["identical_input_rate"] == 1.0
                else (None if row["input_psnr_db"] is None else round(row["input_psnr_db"], 1)),
                "failed": row["n_failed"],
                "note": "= reference" if same_as == "reference" else "",
            }
        )
    table = pd.DataFrame(records)
    if not table.empty and (table["model"] == _reference_side(document)).all():
        table = table.drop(columns="model")  # every noise ran on the reference model side
    if not table.empty and not table["note"].any():
        table = table.drop(columns="note")
    return table


def categories_table(document: dict[str, Any]) -> Any:
    """Per category: number of noises, mean, mean |Δ|, max and std of Δtop-1, mean and max flip
    rate; a stacked category (combined) shows its final step."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "category": name + (" (final step)" if name == "combined" else ""),
                "noises": summary["n_noises"],
                "flip mean %": pct(summary["flip_mean"]),
                "flip max %": pct(summary["flip_max"]),
                "Δtop1 mean pp": pct(summary["mean"]),
                "|Δtop1| mean pp": pct(summary.get("mean_abs")),
                "Δtop1 max pp": pct(summary["max"]),
                "Δtop1 std pp": pct(summary["std"]),
            }
            for name, summary in document["categories"].items()
        ]
    )


def combined_table(document: dict[str, Any]) -> Any:
    """The combined stack step by step: what each step changed against the step before it, and
    where the stack stands against the reference."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "step": step["noise"],
                "flip vs previous %": pct(step["step_flip_rate"]),
                "Δtop1 vs previous pp": pct(step["step_delta_top1"]),
                "95% CI": interval_text(step["step_delta_top1_ci"]),
                "flip vs reference %": pct(step["cumulative_flip_rate"]),
                "Δtop1 vs reference pp": pct(step["cumulative_delta_top1"]),
                "95% CI ": interval_text(step["cumulative_delta_top1_ci"]),
            }
            for step in document.get("combined", [])
        ]
    )


def not_evaluated_lines(document: dict[str, Any]) -> list[str]:
    """Noises of the suite left out of this run, one line per distinct status and reason."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for skipped in document.get("not_evaluated", []):
        grouped.setdefault((skipped["status"], skipped["reason"]), []).append(skipped["noise"])
    lines = []
    for (status, reason), names in grouped.items():
        listed = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        lines.append(f"  {status} ({len(names)}): {listed}: {reason}")
    return lines


def power_line(document: dict[str, Any]) -> str | None:
    """What this run can detect, in one or two sentences."""
    power = document.get("power")
    if not power or power.get("median_discordance") is None:
        return None
    detectable = power["min_detectable_delta_top1"]
    line = (
        f"power: a McNemar test at {power['alpha']:g} detects a Δtop-1 of "
        + ("more than 100 pp" if detectable is None else f"{100 * detectable:.1f} pp")
        + f" with {power['power']:.0%} power on {power['n_labelled']} labelled images "
        f"(median discordance {100 * power['median_discordance']:.1f}%)"
    )
    if power["indicative_only"]:
        line += (
            f"\nfewer than {power['indicative_below']} labelled images: every Δ below is "
            "indicative only; "
            "read the flip rate, which needs no labels"
        )
    return line


def advice_table(document: dict[str, Any]) -> Any:
    """For each decoder and resize library, the measured pipeline closest to the reference."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "if you must use": a["imposed"],
                "use": a["use"],
                "flip %": pct(a["flip_rate"]),
                "Δtop1 pp": pct(a["delta_top1"]),
                "measured options": a["options"],
                "equally close": ", ".join(a["tied_with"]),
            }
            for a in deployment_advice(document)
        ]
    )


def header(document: dict[str, Any]) -> str:
    """Model, data, reference, calibration and power."""
    ref = document["reference"]
    data = document["dataset"]
    top1 = "n/a (no labels)" if ref["top1"] is None else f"{100 * ref['top1']:.2f}%"
    text = (
        f"{document['model']['name']} on {data['name']} ({data['n_images']} images, "
        f"{data['n_labelled']} labelled), suite {document['suite']['name']} "
        f"({document['suite']['n_noises']} noises)\n"
        f"reference pipeline: {_describe(document['reference_pipeline'])}\n"
        f"reference top-1: {top1} on {ref['n_labelled']} labelled images"
        + (f"; {ref['n_failed']} images failed under the reference" if ref["n_failed"] else "")
    )
    sample = data.get("sample")
    if sample:
        text += (
            f"\nimages: a class-stratified sample of {sample['n_images']} of {sample['of']} "
            f"(seed {sample['seed']}; ids in the results)"
        )
    calibration = document.get("calibration")
    if calibration:
        text += (
            f"\nINT8 calibration: {calibration['method']} on {calibration['n_images']} held-out "
            "images, excluded from every score"
        )
    robustart = document.get("robustart")
    if robustart:
        text += (
            f"\nRobustART ImageNet-S summary: top-1 {100 * robustart['top1_mean']:.2f} ± "
            f"{100 * robustart['top1_std']:.2f}% (mean ± population std over "
            f"{robustart['n_variants']} of the {robustart['n_published']} published variants)"
        )
    power = power_line(document)
    return text + (f"\n{power}" if power else "")


def format_report(document: dict[str, Any], all_rows: bool = False) -> str:
    """The whole terminal report. Without `all_rows`, the DEFAULT_ROWS most harmful lines."""
    if document.get("task") == "segmentation":
        from sysnoise.tasks.segmentation_text import format_segmentation_report

        return format_segmentation_report(document, all_rows)
    if document.get("task") == "detection":
        from sysnoise.detection.report import format_detection_report

        return format_detection_report(document)
    limit = None if all_rows else DEFAULT_ROWS
    table = rows_table(document, limit)
    parts = [header(document), table.to_string(index=False, **_OPTIONS)]
    shown = len(table)
    total = len(_groups(document["rows"]))
    if shown < total:
        parts[-1] += f"\n... {total - shown} more (sysnoise report FILE --all)"
    parts.append(categories_table(document).to_string(index=False, **_OPTIONS))
    if document.get("combined"):
        stack = "combined stack, step by step:\n" + combined_table(document).to_string(
            index=False, **_OPTIONS
        )
        left_out = [s for s in document.get("not_evaluated", []) if s["category"] == "combined"]
        for skipped in left_out:
            stack += f"\n  left out: {skipped['noise']} ({skipped['status']}: {skipped['reason']})"
        parts.append(stack)
    advice = advice_table(document)
    if not advice.empty:
        parts.append("what to deploy:\n" + advice.to_string(index=False, **_OPTIONS))
    lines = not_evaluated_lines(document)
    if lines:
        parts.append("not evaluated:\n" + "\n".join(lines))
    parts.append(
        "Δtop1 = reference minus noisy (positive: the noise costs accuracy); flip = share of "
        "images whose top-1 changes; 95% CI: Wilson (flip) and Newcombe paired score (Δ); "
        "sig * = Holm-adjusted McNemar p < 0.05 across this run's rows."
    )
    return "\n\n".join(parts)


def _describe(pipeline: dict[str, Any]) -> str:
    return (
        f"decode {pipeline['decoder']}, resize {pipeline['resizer']} "
        f"({pipeline['resize_protocol']} side {pipeline['resize_size']}), "
        f"crop {pipeline['crop_size']}; "
        f"{pipeline.get('backend', 'torch')} {pipeline.get('precision', 'fp32')}"
    )
