"""RobustART's one-line summary of a stored ImageNet-S evaluation: top-1 over the variants."""

from __future__ import annotations

from typing import Any

import numpy as np


def robustart_summary(document: dict[str, Any]) -> dict[str, Any]:
    """Mean and population standard deviation of top-1 over every evaluated variant.

    The reference variant counts as one of them, as in RobustART's tables (33 variants for the
    published grid). Each variant's top-1 is over its own scored labelled images. Null without
    labels.
    """
    top1 = [document["reference"]["top1"]] + [row["top1"] for row in document["rows"]]
    values = np.array([value for value in top1 if value is not None], dtype=np.float64)
    if values.size == 0:
        return {"n_variants": len(top1), "mean_top1": None, "std_top1": None}
    return {
        "n_variants": int(values.size),
        "mean_top1": float(values.mean()),
        "std_top1": float(values.std(ddof=0)),  # population std, as RobustART reports it
    }
