"""RobustART's ImageNet-S summary: mean and population std of top-1 over the published grid of
3 decoders x 11 resize methods (`sysnoise.imagenet_s.variants`)."""

from __future__ import annotations

from typing import Any

import numpy as np


def published_grid(protocol: str = "published") -> list[tuple[str, str]]:
    """The 33 (decoder, resizer) pairs of the published ImageNet-S grid; its FFmpeg decoder is
    the ffmpeg program under the published protocol and PyAV under the torchvision one."""
    from sysnoise.imagenet_s.variants import IMAGENET_S_RESIZERS, imagenet_s_decoders

    return [(d, r) for d in imagenet_s_decoders(protocol) for r in IMAGENET_S_RESIZERS]


def robustart_summary(document: dict[str, Any]) -> dict[str, Any] | None:
    """Mean and population std (ddof=0) of top-1 over the published variants an ImageNet-S run
    (on the fly or stored) measured, the reference's own variant counting with the reference's
    top-1; None for other suites, or without labels. `complete`: all 33 are in."""
    from sysnoise.imagenet_s.plan import SUITE_NAME

    if document["suite"]["name"] not in ("imagenet-s", SUITE_NAME):
        return None
    reference = document["reference_pipeline"]
    squashed = reference.get("resize_protocol") == "squash"
    grid = published_grid("published" if squashed else "shorter")
    rows = {row["noise"]: row for row in document["rows"]}
    values: dict[str, float] = {}
    for decoder, resizer in grid:
        name = f"{decoder}/{resizer}"
        if name in rows and rows[name]["top1"] is not None:
            values[name] = rows[name]["top1"]
        elif (decoder, resizer) == (reference["decoder"], reference["resizer"]):
            if document["reference"]["top1"] is not None:
                values[name] = document["reference"]["top1"]
    if not values:
        return None
    top1 = np.array(list(values.values()))
    return {
        "n_variants": len(values),
        "n_published": len(grid),
        "complete": len(values) == len(grid),
        "top1_mean": float(top1.mean()),
        "top1_std": float(top1.std(ddof=0)),
        "top1_min": float(top1.min()),
        "top1_max": float(top1.max()),
        "missing": [f"{d}/{r}" for d, r in grid if f"{d}/{r}" not in values],
    }
