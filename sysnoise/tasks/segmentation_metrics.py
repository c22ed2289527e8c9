"""Segmentation scores: mIoU from confusion matrices, against masks or the reference's masks.

Per image and pipeline two confusion matrices are kept (rows: the truth, columns: the
prediction): against the label mask (resized to the prediction with nearest neighbour, 255 and
classes outside the model ignored) and against the reference pipeline's own mask (the dense
analogue of flip rate, needing no labels). mIoU is computed from the matrices summed over images
(IoU of each class with a non-empty union, then their mean), pixel accuracy from their trace.
delta-mIoU is reference minus noisy (SysNoise's sign); its interval is a paired percentile
bootstrap over images (the same resampled images for both pipelines, mIoU recomputed from the
resampled matrices). Every number is recomputable from the per-image matrices in the
predictions file.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sysnoise.pipeline import Pipeline, resized_size
from sysnoise.tasks.dense import CANVAS_MULTIPLE, decode_label_map
from sysnoise.tasks.segmentation_data import IGNORE

if TYPE_CHECKING:
    from sysnoise.engine import Evaluation
    from sysnoise.results import RunInputs

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
LEVEL = 0.95


@dataclass
class Confusions:
    """(N, C, C) int32 per-image confusion matrices of one pipeline (pixel counts; their sums
    over images are int64): against the label masks (zeros where unlabelled) and against the
    reference pipeline's masks (zeros where either failed)."""

    labels: np.ndarray
    agreement: np.ndarray


def confusion(predicted: np.ndarray, truth: np.ndarray, classes: int) -> np.ndarray:
    """(C, C) int64 pixel counts, rows the truth and columns the prediction; truth values of
    255 or outside [0, C) are ignored."""
    keep = truth < classes
    pairs = truth[keep].astype(np.int64) * classes + np.minimum(predicted[keep], classes - 1)
    return np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def class_iou(matrix: np.ndarray) -> np.ndarray:
    """Per-class IoU of a (..., C, C) confusion matrix; NaN where a class has no pixel."""
    diagonal = np.diagonal(matrix, axis1=-2, axis2=-1).astype(float)
    union = matrix.sum(axis=-1) + matrix.sum(axis=-2) - diagonal
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, diagonal / np.maximum(union, 1), np.nan)


def mean_iou(matrix: np.ndarray) -> float | None:
    """Mean IoU over the classes present in the truth or the prediction; None without pixels."""
    iou = class_iou(matrix)
    return None if np.isnan(iou).all() else float(np.nanmean(iou))


def pixel_accuracy(matrix: np.ndarray) -> float | None:
    """Share of counted pixels whose predicted class is the truth; None without pixels."""
    total = matrix.sum()
    return None if total == 0 else float(np.trace(matrix) / total)


def paired_bootstrap_delta(
    reference: np.ndarray, noisy: np.ndarray, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float] | None:
    """Percentile interval (LEVEL) of mIoU(reference) - mIoU(noisy) over images resampled with
    replacement, the same images for both; (N, C, C) per-image matrices of the scored images."""
    weights = _resampling_weights(len(reference), samples)
    if weights is None:
        return None
    return _percentile(_resampled_miou(weights, reference) - _resampled_miou(weights, noisy))


def bootstrap_agreement_gap(
    agreement: np.ndarray, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float] | None:
    """Percentile interval (LEVEL) of 1 - agreement mIoU over images resampled with replacement;
    (N, C, C) per-image matrices against the reference pipeline's masks."""
    weights = _resampling_weights(len(agreement), samples)
    if weights is None:
        return None
    return _percentile(1 - _resampled_miou(weights, agreement))


def _resampling_weights(n: int, samples: int) -> np.ndarray | None:
    """(samples, n) counts of each image in each resample (seeded); None below two images."""
    if n < 2:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    return rng.multinomial(n, np.full(n, 1 / n), size=samples).astype(float)


def _resampled_miou(weights: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """mIoU of each resample's summed matrix (NaN where it has no pixel)."""
    sums = np.einsum("bn,ncd->bcd", weights, matrices.astype(float))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without any pixel
        return np.nanmean(class_iou(sums), axis=1)


def _percentile(values: np.ndarray) -> tuple[float, float] | None:
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def align_truth(truth: np.ndarray, shape: tuple[int, int], pipeline: Pipeline) -> np.ndarray:
    """`truth` (at the image's size) on a prediction of `shape`, nearest neighbour; for
    "longer" inputs the padding of the canvas is ignored (255)."""
    import cv2

    height, width = shape
    if pipeline.resize_protocol != "longer":
        return cv2.resize(truth, (width, height), interpolation=cv2.INTER_NEAREST)
    content = resized_size(truth.shape[0], truth.shape[1], pipeline.resize_size, "longer")
    canvas = [-(-side // CANVAS_MULTIPLE) * CANVAS_MULTIPLE for side in content]
    rows = max(1, round(height * content[0] / canvas[0]))
    cols = max(1, round(width * content[1] / canvas[1]))
    aligned = np.full(shape, IGNORE, dtype=np.uint8)
    aligned[:rows, :cols] = cv2.resize(truth, (cols, rows), interpolation=cv2.INTER_NEAREST)
    return aligned


_last: list[tuple[Any, Any, int, tuple[dict[str, Confusions], np.ndarray]]] = []


def confusions(
    run: RunInputs, evaluation: Evaluation, classes: int
) -> tuple[dict[str, Confusions], np.ndarray]:
    """Per pipeline (the reference's and each noise's), the per-image matrices; and which images
    have a label mask. The last run's are kept: its document and side file share them."""
    for last_run, last_evaluation, last_classes, result in _last:
        if last_run is run and last_evaluation is evaluation and last_classes == classes:
            return result
    result = _confusions(run, evaluation, classes)
    _last[:] = [(run, evaluation, classes, result)]
    return result


def _confusions(
    run: RunInputs, evaluation: Evaluation, classes: int
) -> tuple[dict[str, Confusions], np.ndarray]:
    import cv2

    reference = run.spec.reference
    pipelines = {reference.key: reference, **{p.key: p for _, p in run.noises}}
    n = len(evaluation.image_ids)
    tables = {
        key: Confusions(
            np.zeros((n, classes, classes), np.int32), np.zeros((n, classes, classes), np.int32)
        )
        for key in pipelines
    }
    labelled = np.zeros(n, dtype=bool)
    mask_of = getattr(run.dataset, "mask", None)
    for index, image_id in enumerate(evaluation.image_ids):
        truth = mask_of(image_id) if mask_of is not None else None
        labelled[index] = truth is not None
        blob = evaluation.predictions[reference.key][index]
        ref_mask = None if blob is None else decode_label_map(blob)
        for key, pipeline in pipelines.items():
            blob = evaluation.predictions[key][index]
            if blob is None:
                continue
            predicted = decode_label_map(blob)
            if truth is not None:
                aligned = align_truth(truth, predicted.shape, pipeline)
                tables[key].labels[index] = confusion(predicted, aligned, classes)
            if ref_mask is not None:
                if predicted.shape != ref_mask.shape:
                    size = (ref_mask.shape[1], ref_mask.shape[0])
                    predicted = cv2.resize(predicted, size, interpolation=cv2.INTER_NEAREST)
                tables[key].agreement[index] = confusion(predicted, ref_mask, classes)
    return tables, labelled


def noise_scores(
    reference: Confusions, noisy: Confusions, valid: np.ndarray, labelled: np.ndarray
) -> dict[str, Any]:
    """One noise's figures on the images where both pipelines have a prediction (`valid`)."""
    scored = valid & labelled
    agreement = noisy.agreement[valid].sum(axis=0)
    pixel_agreement = pixel_accuracy(agreement)
    figures: dict[str, Any] = {
        "n_images": int(valid.sum()),
        "n_labelled": int(scored.sum()),
        "agreement_miou": mean_iou(agreement),
        "pixel_agreement": pixel_agreement,
        # share of pixels whose class the noise changes: the dense analogue of flip rate
        "flip_rate": None if pixel_agreement is None else 1 - pixel_agreement,
        "agreement_gap_ci": _pair(bootstrap_agreement_gap(noisy.agreement[valid])),
        "miou": None,
        "ref_miou": None,
        "delta_miou": None,
        "delta_miou_ci": None,
        "pixel_accuracy": None,
        "per_class_iou": None,
    }
    if scored.any():
        noisy_sum = noisy.labels[scored].sum(axis=0)
        ref_sum = reference.labels[scored].sum(axis=0)
        miou, ref_miou = mean_iou(noisy_sum), mean_iou(ref_sum)
        interval = paired_bootstrap_delta(reference.labels[scored], noisy.labels[scored])
        figures.update(
            miou=miou,
            ref_miou=ref_miou,
            delta_miou=None if miou is None or ref_miou is None else ref_miou - miou,
            delta_miou_ci=_pair(interval),
            pixel_accuracy=pixel_accuracy(noisy_sum),
            per_class_iou=_jsonable(class_iou(noisy_sum)),
        )
    return figures


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else list(interval)


def _jsonable(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def segmentation_document(run: RunInputs, evaluation: Evaluation) -> Any:
    """The typed results document of a segmentation run (`sysnoise.tasks.segmentation_report`)."""
    from sysnoise.tasks.segmentation_report import build_segmentation_result

    return build_segmentation_result(run, evaluation)


def segmentation_frame(run: RunInputs, evaluation: Evaluation) -> Any:
    """Per image: id, hash, whether it has a mask, and per pipeline the flattened confusion
    matrices against the mask (``NAME:labels``) and against the reference (``NAME:agreement``),
    space-separated counts, row-major (truth, prediction); empty where there is none."""
    import pandas as pd

    classes = run.spec.num_classes
    tables, labelled = confusions(run, evaluation, classes)
    columns: dict[str, Any] = {
        "image_id": evaluation.image_ids,
        "sha256": evaluation.image_hashes,
        "labelled": labelled,
    }
    named = [("reference", run.spec.reference), *((n.name, p) for n, p in run.noises)]
    for name, pipeline in named:
        failed = [blob is None for blob in evaluation.predictions[pipeline.key]]
        for part in ("labels", "agreement"):
            matrices = getattr(tables[pipeline.key], part)
            columns[f"{name}:{part}"] = [
                "" if failed[i] or (part == "labels" and not labelled[i]) else _flat(matrices[i])
                for i in range(len(failed))
            ]
    return pd.DataFrame(columns)


def _flat(matrix: np.ndarray) -> str:
    return " ".join(str(int(v)) for v in matrix.reshape(-1))
