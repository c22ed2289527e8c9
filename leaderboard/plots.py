"""Plots of one entry as inline SVG strings (matplotlib, Agg)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

IMAGENET_S = "imagenet-s"


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype for inline use


def category_bars_svg(entry: dict[str, Any]) -> str | None:
    """Bar chart of each category's mean Δ top-1 in percentage points; None without deltas."""
    items = [
        (c, s["mean"]) for c, s in sorted(entry["categories"].items()) if s.get("mean") is not None
    ]
    if not items:
        return None
    names = [c for c, _ in items]
    values = [100.0 * v for _, v in items]
    figure, axes = plt.subplots(figsize=(1.2 + 1.1 * len(items), 3.2))
    axes.bar(names, values, color="#4477aa")
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.set_ylabel("mean Δ top-1 (pp, reference − noisy)")
    axes.set_title("per-category mean Δ top-1")
    axes.tick_params(axis="x", labelrotation=20)
    return _svg(figure)


def decoder_resizer_heatmap_svg(entry: dict[str, Any]) -> str | None:
    """Decoder x resizer heatmap of Δ top-1 (pp) for an ImageNet-S entry; None otherwise."""
    if entry["suite"]["name"] != IMAGENET_S:
        return None
    reference = entry.get("reference_pipeline", {})
    ref_cell = (reference.get("decoder"), reference.get("resizer"))
    cells = {}
    for row in entry["rows"]:  # the cell is what the row changed, not how its noise is named
        changes = row.get("changes", {})
        if set(changes) - {"decoder", "resizer"} or row.get("delta_top1") is None:
            continue
        decoder = changes.get("decoder", ref_cell[0])
        resizer = changes.get("resizer", ref_cell[1])
        if None not in (decoder, resizer):
            cells[(decoder, resizer)] = 100.0 * row["delta_top1"]
    if not cells:
        return None
    decoders = sorted({d for d, _ in cells} | {ref_cell[0]} - {None})
    resizers = sorted({r for _, r in cells} | {ref_cell[1]} - {None})
    grid = np.full((len(decoders), len(resizers)), np.nan)
    for (decoder, resizer), value in cells.items():
        grid[decoders.index(decoder), resizers.index(resizer)] = value
    if None not in ref_cell:
        grid[decoders.index(ref_cell[0]), resizers.index(ref_cell[1])] = 0.0
    limit = max(float(np.nanmax(np.abs(grid))), 0.1)
    figure, axes = plt.subplots(figsize=(1.5 + 0.55 * len(resizers), 1.2 + 0.45 * len(decoders)))
    image = axes.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    axes.set_xticks(range(len(resizers)), resizers, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(decoders)), decoders, fontsize=8)
    for i, decoder in enumerate(decoders):
        for j, resizer in enumerate(resizers):
            if (decoder, resizer) == ref_cell:
                label = "ref"
            elif np.isnan(grid[i, j]):
                continue
            else:
                label = f"{grid[i, j]:.1f}"
            strong = not np.isnan(grid[i, j]) and abs(grid[i, j]) > 0.6 * limit
            colour = "white" if strong else "black"
            axes.text(j, i, label, ha="center", va="center", fontsize=6, color=colour)
    figure.colorbar(image, ax=axes, label="Δ top-1 (pp)")
    axes.set_title("Δ top-1 by decoder (rows) and resizer (columns)")
    return _svg(figure)
