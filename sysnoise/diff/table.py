"""The human-readable form of a DiffReport: a per-layer table, a summary and the notes."""

from __future__ import annotations

import math

from sysnoise.diff.compare import INPUT_ROW, SHAPE_DIFFERS, DiffReport, LayerStat


def layer_frame(report: DiffReport, top: int | None = None):  # -> pandas.DataFrame
    """One row per layer in execution order; with `top`, the `top` largest relative errors
    (shape changes first), still listed in execution order."""
    import pandas as pd

    rows = list(enumerate(report.layers, start=1))
    if top is not None:
        largest = sorted(rows, key=lambda row: _severity(row[1]), reverse=True)[:top]
        rows = sorted(largest, key=lambda row: row[0])
    with_module = any(layer.module for layer in report.layers)
    records = [
        {
            "#": index,
            "layer": layer.name,
            **({"module": layer.module} if with_module else {}),
            "op": layer.op,
            "shape": _shape(layer),
            "max abs": layer.max_abs,
            "rel err": layer.rel_err,
            "diverged": _marker(layer),
        }
        for index, layer in rows
    ]
    columns = ["#", "layer", *(["module"] if with_module else []), "op", "shape"]
    columns += ["max abs", "rel err", "diverged"]
    return pd.DataFrame.from_records(records, columns=columns)


def summary_lines(report: DiffReport) -> list[str]:
    """The first diverging layer (or that there is none) and the final outputs' agreement."""
    lines = [_divergence_line(report)]
    final = report.final
    lines.append(
        f"final logits: max abs error {_number(final.max_abs)} (rel {_number(final.rel_err)}), "
        f"top-1 agreement {final.top1_agree}/{final.n_images} images "
        f"({100 * final.top1_agreement:.0f}%)"
    )
    return lines


def _divergence_line(report: DiffReport) -> str:
    tol = f"{report.tolerance:g}"
    first = report.first_diverged
    if not report.layers:
        return "no per-layer comparison (see the notes)"
    if first is None:
        nonzero = next((layer for layer in report.layers if layer.max_abs > 0), None)
        if nonzero is None:
            return f"never diverges beyond tol {tol}: every layer is identical"
        worst = max(report.layers, key=_severity)
        return (
            f"never diverges beyond tol {tol} (first nonzero difference at {nonzero.name} "
            f"({nonzero.op}); largest rel err {_number(worst.rel_err)} at {worst.name})"
        )
    where = f"{first.name} ({first.op})"
    if first.name == INPUT_ROW:
        where = "the input (the two pipelines already give the model different inputs)"
    if first.shape_differs:
        return (
            f"first diverges at {where}: {SHAPE_DIFFERS}, {_dims(first.shape)} in the reference "
            f"vs {_dims(first.noisy_shape)}"
        )
    return (
        f"first diverges beyond tol {tol} at {where}: rel err {_number(first.rel_err)}, "
        f"max abs {_number(first.max_abs)}"
    )


def format_diff(report: DiffReport, top: int | None = None) -> str:
    """Header, the layer table, the summary and the notes, ready to print."""
    import pandas as pd

    header = [
        f"sysnoise diff: {report.model}, noise {report.noise} (suite {report.suite}), "
        f"{len(report.image_ids)} images, tolerance {report.tolerance:g}",
        f"method: {report.method}",
        f"reference: {_pipeline_text(report.reference)}",
        f"noisy:     {_pipeline_text(report.noisy)}",
        "",
    ]
    frame = layer_frame(report, top)
    formatters = {"max abs": _number, "rel err": _number}
    for column in ("layer", "module", "op", "shape", "diverged"):
        if column in frame and len(frame):
            width = max(frame[column].str.len().max(), len(column))
            formatters[column] = lambda text, width=width: f"{text:<{width}}"
    with pd.option_context("display.max_rows", None, "display.width", 250):
        table = frame.to_string(index=False, formatters=formatters, justify="left")
    shown = "" if top is None else f"(the {len(frame)} largest of {len(report.layers)} layers)\n"
    notes = [f"note: {note}" for note in report.notes]
    return "\n".join([*header, shown + table, "", *summary_lines(report), *notes])


def _severity(layer: LayerStat) -> float:
    return math.inf if layer.shape_differs else layer.rel_err


def _marker(layer: LayerStat) -> str:
    if layer.shape_differs:
        return SHAPE_DIFFERS
    return "<< beyond tol" if layer.diverged else ""


def _shape(layer: LayerStat) -> str:
    if layer.shape_differs:
        return f"{_dims(layer.shape)} -> {_dims(layer.noisy_shape)}"
    return _dims(layer.shape)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value == 0.0:
        return "0"
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def _pipeline_text(fields: dict) -> str:
    keys = ("decoder", "resizer", "resize_size", "resize_protocol", "crop_size", "colour")
    pixel = ", ".join(f"{key}={fields[key]}" for key in keys if key in fields)
    model = ", ".join(
        f"{key}={fields[key]}"
        for key in ("ceil_mode", "upsample", "backend", "precision")
        if key in fields
    )
    return f"{pixel}; {model}"
