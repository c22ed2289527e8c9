"""Real small dense results documents for the leaderboard tests: seeded tiny models on two or
three photos under the built-in `quick` suite, scored against labels and without them."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from sysnoise.bench import run_bench
from sysnoise.config import BenchConfig
from sysnoise.pipeline import Pipeline

import images

SEGMENTATION_REFERENCE = Pipeline(resize_size=64, resize_protocol="shorter", crop_size=0)
DETECTION_REFERENCE = Pipeline(
    resizer="torch-bilinear",
    resize_size=96,
    crop_size=128,
    resize_protocol="shorter-capped",
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
)


class TinySegmenter(torch.nn.Module):
    """Seeded conv features at a quarter of the size, upsampled bilinearly to the input."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Conv2d(3, 3, 5, stride=4, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.features(x)
        return torch.nn.functional.interpolate(
            scores, size=x.shape[2:], mode="bilinear", align_corners=False
        )


def segmentation_document(base: Path, labelled: bool, name: str = "tiny-segmenter") -> dict:
    """A quick-suite segmentation run on three photos: with masks (scored against them) or as a
    plain folder (agreement with the reference only)."""
    from sysnoise.sources.module import ModuleSource

    root = base / ("voc" if labelled else "photos")
    if not root.exists():
        _photos(root, labelled)
    source = ModuleSource.from_object(
        TinySegmenter(), reference=SEGMENTATION_REFERENCE, num_classes=3, name=name
    )
    config = BenchConfig(
        data=root,
        task="segmentation",
        suite="quick",
        out_dir=base / f"out-{name}-{labelled}",
        cache_dir=base / "cache",
        progress=False,
        device="cpu",
    )
    return _plain(run_bench(config, source).document)


def detection_document(base: Path, annotated: bool) -> dict:
    """A quick-suite run of a seeded tiny Faster R-CNN on two photos, against COCO annotations
    or against the reference's own detections."""
    folder = base / "detect"
    if not folder.exists():
        detection_photos(folder)
    config = BenchConfig(
        data=folder,
        suite="quick",
        annotations=coco_annotations(base) if annotated else None,
        out_dir=base / f"out-detect-{annotated}",
        cache_dir=base / "cache",
        progress=False,
        device="cpu",
    )
    return _plain(run_bench(config, _detection_source()).document)


def tiny_detection_source(detections_per_img: int) -> Any:
    """A seeded tiny Faster R-CNN (4 classes, 96-128 px) as a source under DETECTION_REFERENCE."""
    from sysnoise.detection.torchvision_detectors import random_detector
    from sysnoise.sources.detection_source import DetectionSource

    detector = random_detector(
        "fasterrcnn_resnet50_fpn",
        seed=0,
        num_classes=4,
        min_size=96,
        max_size=128,
        rpn_pre_nms_top_n_test=200,
        rpn_post_nms_top_n_test=100,
        box_detections_per_img=detections_per_img,
        box_score_thresh=0.0,
    )
    return DetectionSource.from_detector(detector, "tiny-faster-rcnn", DETECTION_REFERENCE)


@functools.cache
def _detection_source() -> Any:
    """One detector for every run, so the second run reads the first one's predictions."""
    return tiny_detection_source(5)


def _photos(root: Path, labelled: bool) -> None:
    photos = [images.china_jpeg(), images.baseline_420(), images.baseline_444()]
    folder = root / "JPEGImages" if labelled else root
    folder.mkdir(parents=True)
    for index, data in enumerate(photos):
        (folder / f"im{index}.jpg").write_bytes(data)
    if not labelled:
        return
    (root / "SegmentationClass").mkdir()
    for index in range(len(photos)):
        mask = np.zeros((32, 48), np.uint8)
        mask[index * 8 : index * 8 + 12] = 1
        mask[20:, 30:] = 2
        with Image.open(folder / f"im{index}.jpg") as image:
            size = image.size
        palette = Image.fromarray(mask, mode="P").resize(size, Image.Resampling.NEAREST)
        palette.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
        palette.save(root / "SegmentationClass" / f"im{index}.png")


def detection_photos(folder: Path) -> Path:
    """`folder` made with two photos, astronaut.jpg (512 x 512) and china.jpg (640 x 427)."""
    folder.mkdir(parents=True)
    (folder / "astronaut.jpg").write_bytes(images.baseline_420())
    (folder / "china.jpg").write_bytes(images.china_jpeg())
    return folder


def coco_annotations(base: Path) -> Path:
    """`base`/instances.json: one box on each of `detection_photos`' images, categories 1-3."""
    path = base / "instances.json"
    listed = [
        {"id": 1, "file_name": "astronaut.jpg", "height": 512, "width": 512},
        {"id": 2, "file_name": "china.jpg", "height": 427, "width": 640},
    ]
    objects = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [170, 50, 110, 130]},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [100, 80, 300, 250]},
    ]
    categories = [{"id": c, "name": str(c)} for c in (1, 2, 3)]
    path.write_text(
        json.dumps({"images": listed, "annotations": objects, "categories": categories})
    )
    return path


def _plain(document: dict) -> dict:
    """The document as its JSON file holds it (what `submit` reads)."""
    return json.loads(json.dumps(document))
