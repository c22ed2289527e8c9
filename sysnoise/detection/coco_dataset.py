"""A COCO instances file joined to an image folder: which file is which annotated image, and its
ground truth in the coordinates detections are stored in (fractions of the image)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sysnoise.datasets import Dataset
from sysnoise.detection.boxes import GroundTruth
from sysnoise.detection.coco_annotations import CocoAnnotations, load_coco_annotations
from sysnoise.errors import SysnoiseError
from sysnoise.zoo import ModelSpec


def check_annotations(spec: ModelSpec, dataset: Dataset, path: Path) -> CocoAnnotations:
    """The annotations at `path`, checked before a run: the model detects, and every image of
    `dataset` is annotated (files are matched by their name in the folder)."""
    if spec.task != "detection":
        raise SysnoiseError(
            f"--annotations scores detections, and {spec.name} is a {spec.task} model; "
            "drop --annotations or pick a detection model (sysnoise list models)"
        )
    annotations = load_coco_annotations(path)
    known = annotations.by_file()
    missing = [r.image_id for r in dataset.records if Path(r.image_id).name not in known]
    if missing:
        raise SysnoiseError(
            f"{len(missing)} of {len(dataset)} images are not in {path} (first: {missing[0]}); "
            "pass the folder those annotations describe (e.g. val2017 with instances_val2017)"
        )
    return annotations


def fractional_truth(annotations: CocoAnnotations, image_ids: Sequence[str]) -> list[GroundTruth]:
    """Ground truth of each image (by its id, a file name) with boxes as fractions of the
    annotated image's width and height."""
    known = annotations.by_file()
    truth = []
    for image_id in image_ids:
        image = known[Path(image_id).name]
        objects = annotations.truth[image.id]
        scale = np.array([image.width, image.height, image.width, image.height], dtype=np.float64)
        truth.append(
            GroundTruth(
                objects.boxes / scale,
                objects.labels,
                objects.areas / (image.width * image.height),
                objects.crowd,
            )
        )
    return truth
