"""COCO box and mask metrics through pycocotools: mAP, AP50, AP75, paired deltas and intervals.

`CocoEvaluation` runs pycocotools' per-image matching once (`COCOeval.evaluate`) and scores any
multiset of its images by accumulating only those (`COCOeval.accumulate`), so a bootstrap
resample of images costs one accumulation, not a new matching. Without annotations, the reference
pipeline's own detections above a score threshold are the ground truth ("agreement"): the dense
analogue of the flip rate.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sysnoise.detection.boxes import Detections, GroundTruth

METRICS = ("map", "ap50", "ap75")  # higher is better; a delta is reference minus noisy
AGREEMENT_THRESHOLD = 0.5  # reference detections at or above this score are the agreement truth
MAX_DETECTIONS = 100  # per image, as COCO's AP


@dataclass(frozen=True)
class CocoScores:
    """COCO box AP averaged over IoU 0.50:0.95 (`map`), at IoU 0.50 and 0.75; None where no
    category has a ground-truth object."""

    map: float | None
    ap50: float | None
    ap75: float | None

    def get(self, metric: str) -> float | None:
        """The score called `metric` (one of `METRICS`)."""
        if metric not in METRICS:
            raise ValueError(f"unknown detection metric {metric!r}; valid: {', '.join(METRICS)}")
        return getattr(self, metric)


class CocoEvaluation:
    """Detections matched to ground truth image by image, scored on any resample of the images.

    `truth[i]` and `detections[i]` belong to the same image; `categories` are the category ids
    that count (default: every label in the ground truth or the detections). `iou_type` "segm"
    matches masks (COCO RLEs of the same size on both sides) instead of boxes.
    """

    def __init__(
        self,
        truth: Sequence[GroundTruth],
        detections: Sequence[Detections],
        categories: Sequence[int] | None = None,
        iou_type: str = "bbox",
    ) -> None:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        if len(truth) != len(detections):
            raise ValueError(f"{len(truth)} ground truths for {len(detections)} detection lists")
        if categories is None:
            labels = [t.labels for t in truth] + [d.labels for d in detections]
            categories = sorted({int(c) for c in np.concatenate([np.zeros(0, int), *labels])})
        self.images = len(truth)
        gt, dt = COCO(), COCO()
        gt.dataset = _truth_dataset(truth, categories, iou_type == "segm")
        dt.dataset = {
            **_detections_dataset(detections, iou_type == "segm"),
            "categories": gt.dataset["categories"],
        }
        dt.dataset["images"] = gt.dataset["images"]
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            gt.createIndex()
            dt.createIndex()
            self._eval = COCOeval(gt, dt, iouType=iou_type)
            # Only what mAP, AP50 and AP75 read: every object size, 100 detections per image
            # (COCO's small/medium/large and 1/10-detection variants cost 12x the time).
            self._eval.params.areaRng, self._eval.params.areaRngLbl = [[0, 1e10]], ["all"]
            self._eval.params.maxDets = [MAX_DETECTIONS]
            self._eval.evaluate()
        params = self._eval._paramsEval
        self._per_image = np.empty(len(self._eval.evalImgs), dtype=object)
        self._per_image[:] = self._eval.evalImgs
        self._per_image = self._per_image.reshape(len(params.catIds), len(params.areaRng), -1)

    def scores(self, sample: Sequence[int] | np.ndarray | None = None) -> CocoScores:
        """Scores over the images at positions `sample` (repeats count again; default all)."""
        sample = np.arange(self.images) if sample is None else np.asarray(sample, dtype=np.int64)
        resampled = copy.copy(self._eval)
        params = copy.deepcopy(self._eval._paramsEval)
        params.imgIds = list(range(len(sample)))
        resampled._paramsEval = params
        resampled.params = params
        resampled.evalImgs = list(self._per_image[:, :, sample].ravel())
        with contextlib.redirect_stdout(io.StringIO()):
            resampled.accumulate()
        precision = resampled.eval["precision"][:, :, :, 0, 0]
        return CocoScores(
            map=_mean_known(precision),
            ap50=_mean_known(precision[0]),
            ap75=_mean_known(precision[5]),
        )


def coco_scores(
    truth: Sequence[GroundTruth],
    detections: Sequence[Detections],
    categories: Sequence[int] | None = None,
) -> CocoScores:
    """COCO mAP, AP50 and AP75 of `detections` against `truth` (one entry per image)."""
    return CocoEvaluation(truth, detections, categories).scores()


def agreement_truth(
    reference: Sequence[Detections], threshold: float = AGREEMENT_THRESHOLD
) -> list[GroundTruth]:
    """The reference pipeline's detections at or above `threshold`, as ground truth."""
    return [GroundTruth.from_detections(d.above(threshold)) for d in reference]


@dataclass(frozen=True)
class DeltaInterval:
    """Reference minus noisy score with a paired per-image bootstrap interval (None where the
    score is undefined: no ground-truth object)."""

    metric: str
    delta: float | None
    low: float | None
    high: float | None
    resamples: int


def paired_deltas(
    reference: CocoEvaluation,
    noisy: CocoEvaluation,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, DeltaInterval]:
    """Delta of every metric (reference minus noisy) with its percentile bootstrap interval:
    images are resampled with replacement and both evaluations scored on the same resample."""
    if reference.images != noisy.images:
        raise ValueError(
            f"paired deltas need the same images: {reference.images} vs {noisy.images}"
        )
    observed = _deltas(reference, noisy, np.arange(reference.images))
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            _deltas(reference, noisy, rng.integers(0, reference.images, reference.images))
            for _ in range(resamples if reference.images >= 2 else 0)
        ]
    ).reshape(-1, len(METRICS))
    result = {}
    for column, metric in enumerate(METRICS):
        values = draws[:, column][~np.isnan(draws[:, column])]
        if np.isnan(observed[column]) or len(values) < max(2, resamples // 2):
            result[metric] = DeltaInterval(metric, _known(observed[column]), None, None, 0)
            continue
        low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
        result[metric] = DeltaInterval(
            metric, float(observed[column]), float(low), float(high), len(values)
        )
    return result


def paired_delta(
    reference: CocoEvaluation,
    noisy: CocoEvaluation,
    metric: str = "map",
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> DeltaInterval:
    """`paired_deltas` of one metric."""
    CocoScores(None, None, None).get(metric)  # an unknown metric fails here
    return paired_deltas(reference, noisy, resamples, level, seed)[metric]


def _deltas(reference: CocoEvaluation, noisy: CocoEvaluation, sample: np.ndarray) -> np.ndarray:
    ref, new = reference.scores(sample), noisy.scores(sample)
    return np.array(
        [
            np.nan if ref.get(m) is None or new.get(m) is None else ref.get(m) - new.get(m)
            for m in METRICS
        ]
    )


def _truth_dataset(truth: Sequence[GroundTruth], categories: Sequence[int], masks: bool) -> dict:
    annotations = []
    images = []
    for image, objects in enumerate(truth):
        rles = objects.masks if masks else None
        if masks and rles is None:
            raise ValueError(f"mask scores need masks for every image's objects (image {image})")
        images.append({"id": image, **(_image_size(rles) if masks else {})})
        for index, (box, label, area, crowd) in enumerate(
            zip(objects.boxes, objects.labels, objects.areas, objects.crowd, strict=True)
        ):
            annotations.append(
                {
                    "id": len(annotations) + 1,  # COCOeval takes id 0 for "unmatched"
                    "image_id": image,
                    "category_id": int(label),
                    "bbox": _xywh(box),
                    "area": float(area),
                    "iscrowd": int(crowd),
                    **({"segmentation": rles[index]} if masks else {}),
                }
            )
    return {
        "images": images,
        "categories": [{"id": int(c)} for c in categories],
        "annotations": annotations,
    }


def _detections_dataset(detections: Sequence[Detections], masks: bool) -> dict:
    annotations = []
    for image, found in enumerate(detections):
        if masks and found.masks is None:
            raise ValueError(f"mask scores need every image's detections with masks ({image})")
        for index, (box, score, label) in enumerate(
            zip(found.boxes, found.scores, found.labels, strict=True)
        ):
            xywh = _xywh(box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image,
                    "category_id": int(label),
                    "bbox": xywh,
                    "area": xywh[2] * xywh[3],
                    "score": float(score),
                    "iscrowd": 0,
                    **({"segmentation": found.masks[index]} if masks else {}),
                }
            )
    return {"annotations": annotations}


def _image_size(rles: Sequence[dict]) -> dict:
    # pycocotools reads an image's height and width for every mask it converts
    height, width = rles[0]["size"] if rles else (1, 1)
    return {"height": int(height), "width": int(width)}


def _xywh(box: np.ndarray) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _mean_known(precision: np.ndarray) -> float | None:
    known = precision[precision > -1]
    return float(known.mean()) if known.size else None


def _known(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)
