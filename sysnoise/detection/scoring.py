"""The results of a detection run: per noise, COCO mAP/AP50/AP75 against the reference pipeline's
own detections ("agreement", no labels needed) or against annotations, the paired delta with a
per-image bootstrap interval, and how many detections moved.

Boxes are fractions of the model input (see `sysnoise.detection.packed`); annotations are turned
into fractions of their image's size, so both sides meet in the same coordinates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sysnoise.detection.boxes import Detections, GroundTruth
from sysnoise.detection.coco_metrics import (
    AGREEMENT_THRESHOLD,
    METRICS,
    CocoEvaluation,
    agreement_truth,
    paired_deltas,
)
from sysnoise.detection.document import DetectionDocument
from sysnoise.detection.masks import rles_at
from sysnoise.metrics import category_summary, psnr
from sysnoise.results import _first_errors
from sysnoise.tasks.dense_document import shared_blocks
from sysnoise.tasks.detection import decode_detections

if TYPE_CHECKING:
    from sysnoise.engine import Evaluation
    from sysnoise.results import RunInputs

RESAMPLES = 200  # bootstrap resamples of the images per noise
MATCH_IOU = 0.5  # a detection "stays" when a same-label one overlaps it this much


def detection_document(
    run: RunInputs,
    evaluation: Evaluation,
    truth: Sequence[GroundTruth] | None = None,
    resamples: int = RESAMPLES,
) -> DetectionDocument:
    """The typed results document of a detection run; `truth` (one per image, boxes as fractions of
    the image) scores against annotations, else against the reference's own detections."""
    reference = run.spec.reference
    found = {key: _decoded(table) for key, table in evaluation.predictions.items()}
    ref_ok = ~evaluation.failed(reference.key)
    ref_scores = None
    if truth is not None and ref_ok.any():
        keep = np.flatnonzero(ref_ok)
        ref_scores = CocoEvaluation(
            [truth[i] for i in keep], [found[reference.key][i] for i in keep]
        ).scores()
    rows = []
    for noise, pipeline in run.noises:
        valid = ref_ok & ~evaluation.failed(pipeline.key)
        rows.append(
            {
                "noise": noise.name,
                "category": noise.category_for(reference),
                "changes": dict(noise.changes),
                "model_side": run.model_sides.get(pipeline.key, pipeline.model_side.label),
                "n_images": int(valid.sum()),
                **_noise_scores(
                    [found[reference.key][i] for i in np.flatnonzero(valid)],
                    [found[pipeline.key][i] for i in np.flatnonzero(valid)],
                    None if truth is None else [truth[i] for i in np.flatnonzero(valid)],
                    resamples,
                ),
                **_input_difference(evaluation, pipeline.key, valid),
                "errors": _first_errors(evaluation.errors[pipeline.key]),
            }
        )
    reference_found = [found[reference.key][i] for i in np.flatnonzero(ref_ok)]
    document = {
        **shared_blocks(
            run,
            evaluation,
            "detection",
            evaluation.labels.tolist(),
            len(evaluation.image_ids) if truth is not None else 0,
        ),
        "reference": {
            "n_images": int(ref_ok.sum()),
            "n_failed": int((~ref_ok).sum()),
            "detections": sum(len(d.above(AGREEMENT_THRESHOLD)) for d in reference_found),
            **{m: None if ref_scores is None else ref_scores.get(m) for m in METRICS},
        },
        "scored_against": "annotations" if truth is not None else "reference detections",
        "agreement_threshold": AGREEMENT_THRESHOLD,
        "categories": category_summary(rows, "delta_map"),
        "category_value": "delta_map",
        "rows": rows,
    }
    return DetectionDocument.model_validate(document)


def detection_frame(run: RunInputs, evaluation: Evaluation) -> Any:
    """One row per image: its id and hash, and per pipeline the detections as JSON rows
    [x1, y1, x2, y2, score, label] (boxes as fractions of the model input; empty: none), with
    each detection's mask (COCO RLE, at the model input's size) last for models with masks."""
    import pandas as pd

    columns: dict[str, Any] = {"image_id": evaluation.image_ids, "sha256": evaluation.image_hashes}
    named = [("reference", run.spec.reference), *((n.name, p) for n, p in run.noises)]
    for name, pipeline in named:
        columns[name] = [
            "" if blob is None else _json_rows(decode_detections(blob))
            for blob in evaluation.predictions[pipeline.key]
        ]
    return pd.DataFrame(columns)


def detection_changes(
    reference: Sequence[Detections], noisy: Sequence[Detections], threshold: float
) -> dict[str, Any]:
    """Detections at or above `threshold` that stay (a same-label noisy one at IoU >= 0.5, one to
    one), are lost or are new, and the share of images where any moved (`flip_rate`, the
    detection analogue of classification's)."""
    stayed = lost = new = changed = 0
    for before, after in zip(reference, noisy, strict=True):
        kept = _matched(before.above(threshold), after.above(threshold))
        stayed += kept
        lost += len(before.above(threshold)) - kept
        new += len(after.above(threshold)) - kept
        changed += int(len(before.above(threshold)) != kept or len(after.above(threshold)) != kept)
    return {
        "detections": {"stayed": stayed, "lost": lost, "new": new},
        "flip_rate": changed / len(reference) if len(reference) else None,
    }


def _noise_scores(
    reference: list[Detections],
    noisy: list[Detections],
    truth: list[GroundTruth] | None,
    resamples: int,
) -> dict[str, Any]:
    if not reference:
        return {
            "scores": None,
            "ref_scores": None,
            "deltas": None,
            "delta_map": None,
            "detections": None,
            "flip_rate": None,
            "masks": None,
        }
    against = truth if truth is not None else agreement_truth(reference)
    categories = sorted({int(c) for d in (*reference, *noisy, *against) for c in d.labels})
    scored = _scored(against, reference, noisy, categories, resamples, "bbox")
    return {
        **scored,
        "delta_map": scored["deltas"]["map"]["delta"],  # what the categories summarise
        **detection_changes(reference, noisy, AGREEMENT_THRESHOLD),
        "masks": _mask_scores(reference, noisy, resamples),
    }


def _mask_scores(
    reference: list[Detections], noisy: list[Detections], resamples: int
) -> dict[str, Any] | None:
    """COCO mask mAP/AP50/AP75 against the reference's own masks at the agreement threshold,
    with the paired deltas; None for detectors without masks."""
    if any(d.masks is None for d in (*reference, *noisy)):
        return None
    against = agreement_truth(reference)
    aligned = [
        Detections(d.boxes, d.scores, d.labels, rles_at(d.masks, _mask_size(r)))
        for d, r in zip(noisy, reference, strict=True)
    ]
    categories = sorted({int(c) for d in (*reference, *aligned) for c in d.labels})
    return _scored(against, reference, aligned, categories, resamples, "segm")


def _scored(
    against: list[Detections],
    reference: list[Detections],
    noisy: list[Detections],
    categories: list[int],
    resamples: int,
    iou_type: str,
) -> dict[str, Any]:
    """COCO mAP/AP50/AP75 of both pipelines against `against`, with the paired deltas."""
    ref_eval = CocoEvaluation(against, reference, categories, iou_type=iou_type)
    noisy_eval = CocoEvaluation(against, noisy, categories, iou_type=iou_type)
    scores, ref_scores = noisy_eval.scores(), ref_eval.scores()
    deltas = paired_deltas(ref_eval, noisy_eval, resamples)
    return {
        "scores": {m: scores.get(m) for m in METRICS},
        "ref_scores": {m: ref_scores.get(m) for m in METRICS},
        "deltas": {
            m: {"delta": d.delta, "ci": None if d.low is None else [d.low, d.high]}
            for m, d in deltas.items()
        },
    }


def _mask_size(detections: Detections) -> list[int]:
    return list(detections.masks[0]["size"]) if detections.masks else []


def _matched(before: Detections, after: Detections) -> int:
    """Pairs of same-label detections at IoU >= MATCH_IOU in a one-to-one assignment (scipy)."""
    if not len(before) or not len(after):
        return 0
    from scipy.optimize import linear_sum_assignment

    iou = _iou(before.boxes, after.boxes)
    iou[before.labels[:, None] != after.labels[None, :]] = 0.0
    rows, cols = linear_sum_assignment(-iou)
    return int((iou[rows, cols] >= MATCH_IOU).sum())


def _iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    import torch
    from torchvision.ops import box_iou

    return box_iou(torch.from_numpy(first).double(), torch.from_numpy(second).double()).numpy()


def _decoded(table: list[bytes | None]) -> list[Detections]:
    return [Detections.empty() if blob is None else decode_detections(blob) for blob in table]


def _json_rows(detections: Detections) -> str:
    rows = np.column_stack(
        [detections.boxes, detections.scores, detections.labels.astype(np.float32)]
    )
    listed = np.round(rows.astype(np.float64), 5).tolist()
    if detections.masks is not None:  # each row ends with its mask's COCO RLE
        listed = [[*row, rle] for row, rle in zip(listed, detections.masks, strict=True)]
    return json.dumps(listed, separators=(",", ":"))


def _input_difference(evaluation: Evaluation, key: str, valid: np.ndarray) -> dict[str, Any]:
    max_abs, mse = evaluation.max_abs_diff[key][valid], evaluation.mse[key][valid]
    known = ~np.isnan(mse)
    if not known.any():
        return {"input_max_abs_diff": None, "input_psnr_db": None, "identical_input_rate": None}
    return {
        "input_max_abs_diff": int(max_abs[known].max()),
        "input_psnr_db": psnr(float(mse[known].mean())),
        "identical_input_rate": float((mse[known] == 0).mean()),
    }
