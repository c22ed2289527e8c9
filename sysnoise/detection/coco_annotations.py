"""COCO instances files (``instances_val2017.json``): per-image boxes and labels, image ids and
file names, checked so that a broken file fails with one line that says what and where."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.detection.boxes import GroundTruth
from sysnoise.errors import SysnoiseError

_TOLERANCE = 1.0  # pixels a box may pass the image border by (COCO's polygons round outwards)


@dataclass(frozen=True)
class CocoImage:
    """One image of an instances file."""

    id: int
    file_name: str
    height: int
    width: int


@dataclass(frozen=True)
class CocoAnnotations:
    """An instances file: its images in file order, their ground truth, the category names."""

    path: Path
    images: tuple[CocoImage, ...]
    truth: dict[int, GroundTruth]
    categories: dict[int, str]

    def by_file(self) -> dict[str, CocoImage]:
        """Images by file name."""
        return {image.file_name: image for image in self.images}

    def missing_files(self, folder: Path) -> list[str]:
        """File names of the images that are not in `folder`."""
        return [
            image.file_name for image in self.images if not (folder / image.file_name).is_file()
        ]


def load_coco_annotations(path: Path) -> CocoAnnotations:
    """The instances file at `path`, or a SysnoiseError naming the problem and the fix."""
    path = Path(path)
    if not path.is_file():
        raise SysnoiseError(
            f"annotation file {path} does not exist; pass COCO's instances JSON "
            "(e.g. annotations/instances_val2017.json) with --annotations"
        )
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SysnoiseError(
            f"annotation file {path} is not valid JSON ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:120]}); pass COCO's instances JSON"
        ) from None
    if not isinstance(document, dict) or not all(
        isinstance(document.get(key), list) for key in ("images", "annotations", "categories")
    ):
        raise SysnoiseError(
            f"annotation file {path} is not a COCO instances file: it needs lists 'images', "
            "'annotations' and 'categories'"
        )
    categories = _categories(path, document["categories"])
    images = _images(path, document["images"])
    truth = _truth(path, document["annotations"], {i.id: i for i in images}, categories)
    return CocoAnnotations(path, tuple(images), truth, categories)


def _categories(path: Path, entries: list[Any]) -> dict[int, str]:
    categories: dict[int, str] = {}
    for n, entry in enumerate(entries):
        identity = _field(path, entry, "id", int, f"categories[{n}]")
        if identity in categories:
            raise SysnoiseError(f"annotation file {path}: category id {identity} appears twice")
        categories[identity] = str(entry.get("name", identity))
    return categories


def _images(path: Path, entries: list[Any]) -> list[CocoImage]:
    images: list[CocoImage] = []
    seen: set[int] = set()
    for n, entry in enumerate(entries):
        where = f"images[{n}]"
        image = CocoImage(
            id=_field(path, entry, "id", int, where),
            file_name=_field(path, entry, "file_name", str, where),
            height=_field(path, entry, "height", int, where),
            width=_field(path, entry, "width", int, where),
        )
        if image.id in seen:
            raise SysnoiseError(f"annotation file {path}: image id {image.id} appears twice")
        if image.height <= 0 or image.width <= 0:
            raise SysnoiseError(
                f"annotation file {path}: image {image.id} has size {image.width}x{image.height}"
            )
        seen.add(image.id)
        images.append(image)
    return images


def _truth(
    path: Path,
    entries: list[Any],
    images: dict[int, CocoImage],
    categories: dict[int, str],
) -> dict[int, GroundTruth]:
    rows: dict[int, list[tuple[list[float], int, float, bool]]] = {i: [] for i in images}
    for n, entry in enumerate(entries):
        where = f"annotations[{n}]"
        image_id = _field(path, entry, "image_id", int, where)
        category = _field(path, entry, "category_id", int, where)
        bbox = _field(path, entry, "bbox", list, where)
        if image_id not in images:
            raise SysnoiseError(f"annotation file {path}: {where} names unknown image {image_id}")
        if category not in categories:
            raise SysnoiseError(
                f"annotation file {path}: {where} names unknown category {category}"
            )
        image = images[image_id]
        box = _box(path, where, bbox, image)
        area = float(entry.get("area", (box[2] - box[0]) * (box[3] - box[1])))
        rows[image_id].append((box, category, area, bool(entry.get("iscrowd", 0))))
    return {
        image_id: GroundTruth(
            np.asarray([o[0] for o in objects], dtype=np.float64).reshape(-1, 4),
            [o[1] for o in objects],
            [o[2] for o in objects],
            [o[3] for o in objects],
        )
        for image_id, objects in rows.items()
    }


def _box(path: Path, where: str, bbox: list[Any], image: CocoImage) -> list[float]:
    if len(bbox) != 4 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in bbox
    ):
        raise SysnoiseError(f"annotation file {path}: {where} bbox {bbox} is not [x, y, w, h]")
    x, y, w, h = (float(v) for v in bbox)
    if not np.isfinite([x, y, w, h]).all() or w < 0 or h < 0:
        raise SysnoiseError(f"annotation file {path}: {where} bbox {bbox} has a negative size")
    if (
        x < -_TOLERANCE
        or y < -_TOLERANCE
        or x + w > image.width + _TOLERANCE
        or y + h > image.height + _TOLERANCE
    ):
        raise SysnoiseError(
            f"annotation file {path}: {where} bbox {bbox} lies outside image {image.id} "
            f"({image.width}x{image.height})"
        )
    return [x, y, x + w, y + h]


def _field(path: Path, entry: Any, key: str, kind: type, where: str) -> Any:
    value = entry.get(key) if isinstance(entry, dict) else None
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise SysnoiseError(
            f"annotation file {path}: {where} needs {key!r} as {kind.__name__}, got {value!r}"
        )
    return value
