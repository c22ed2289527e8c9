"""The results document of a segmentation run: classification's layout, segmentation's rows.

Top-level sections are the same as `sysnoise.results.build_result`'s (tool, environment, model,
dataset, suite, reference, categories, rows, not_evaluated, backends, run), with ``task`` set to
"segmentation". Rows carry mIoU figures (`sysnoise.tasks.segmentation_metrics.noise_scores`)
instead of accuracies; categories summarise delta-mIoU when the images have masks, else the
agreement gap (1 - agreement mIoU with the reference masks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sysnoise.metrics import category_summary
from sysnoise.results import _first_errors, _input_difference
from sysnoise.tasks.dense_document import shared_blocks
from sysnoise.tasks.segmentation_document import SegmentationDocument
from sysnoise.tasks.segmentation_metrics import (
    class_iou,
    confusions,
    mean_iou,
    noise_scores,
    pixel_accuracy,
)

if TYPE_CHECKING:
    from sysnoise.engine import Evaluation
    from sysnoise.results import RunInputs

TASK = "segmentation"


def build_segmentation_result(run: RunInputs, evaluation: Evaluation) -> SegmentationDocument:
    """The typed results document of a segmentation run."""
    reference = run.spec.reference
    classes = run.spec.num_classes
    tables, labelled = confusions(run, evaluation, classes)
    ref_ok = ~_failed(evaluation, reference.key)
    rows = []
    seen = {_digest(evaluation, reference.key): "reference"}
    for noise, pipeline in run.noises:
        valid = ref_ok & ~_failed(evaluation, pipeline.key)
        scores = noise_scores(tables[reference.key], tables[pipeline.key], valid, labelled)
        identical_to = seen.setdefault(_digest(evaluation, pipeline.key), noise.name)
        gap = scores["agreement_miou"]
        rows.append(
            {
                "noise": noise.name,
                "category": noise.category_for(reference),
                "changes": dict(noise.changes),
                "model_side": run.model_sides.get(pipeline.key, pipeline.model_side.label),
                **scores,
                "agreement_gap": None if gap is None else 1 - gap,
                **_input_difference(evaluation, pipeline.key, valid),
                "errors": _first_errors(evaluation.errors[pipeline.key]),
                "identical_to": None if identical_to == noise.name else identical_to,
            }
        )
    scored = ref_ok & labelled
    ref_sum = tables[reference.key].labels[scored].sum(axis=0)
    summary_value = "delta_miou" if scored.any() else "agreement_gap"
    document = {
        **shared_blocks(
            run,
            evaluation,
            TASK,
            labelled.astype(int).tolist(),
            int(labelled.sum()),
            {"num_classes": classes},
        ),
        "reference": {
            "n_images": int(ref_ok.sum()),
            "n_failed": int((~ref_ok).sum()),
            "n_labelled": int(scored.sum()),
            "miou": mean_iou(ref_sum) if scored.any() else None,
            "pixel_accuracy": pixel_accuracy(ref_sum) if scored.any() else None,
            "per_class_iou": [None if np.isnan(v) else float(v) for v in class_iou(ref_sum)]
            if scored.any()
            else None,
            "errors": _first_errors(evaluation.errors[reference.key]),
        },
        "categories": category_summary(rows, summary_value),
        "category_value": summary_value,
        "rows": rows,
    }
    return SegmentationDocument.model_validate(document)


def _failed(evaluation: Evaluation, key: str) -> np.ndarray:
    return np.array([blob is None for blob in evaluation.predictions[key]], dtype=bool)


def _digest(evaluation: Evaluation, key: str) -> tuple:
    return tuple(evaluation.predictions[key])
