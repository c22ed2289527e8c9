"""COCO instances files: boxes per image, and one-line errors for broken files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sysnoise.detection.boxes import Detections
from sysnoise.detection.coco_annotations import load_coco_annotations
from sysnoise.detection.coco_metrics import coco_scores
from sysnoise.errors import SysnoiseError


def _instances(**changes: object) -> dict:
    document = {
        "images": [
            {"id": 7, "file_name": "a.jpg", "height": 40, "width": 60},
            {"id": 9, "file_name": "b.jpg", "height": 50, "width": 50},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "bbox": [10, 5, 20, 30], "area": 500.0},
            {"id": 2, "image_id": 7, "category_id": 3, "bbox": [0, 0, 60, 40], "iscrowd": 1},
        ],
    }
    document.update(changes)
    return document


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(document))
    return path


def test_boxes_labels_and_ids(tmp_path: Path) -> None:
    annotations = load_coco_annotations(_write(tmp_path, _instances()))
    assert [i.id for i in annotations.images] == [7, 9]
    assert annotations.by_file()["b.jpg"].id == 9
    assert annotations.categories == {1: "person", 3: "car"}
    first = annotations.truth[7]
    np.testing.assert_allclose(first.boxes, [[10, 5, 30, 35], [0, 0, 60, 40]])
    assert first.labels.tolist() == [1, 3]
    assert first.areas.tolist() == [500.0, 2400.0]
    assert first.crowd.tolist() == [False, True]
    assert len(annotations.truth[9]) == 0
    (tmp_path / "a.jpg").write_bytes(b"")
    assert annotations.missing_files(tmp_path) == ["b.jpg"]
    # The loaded truth scores: the exact box is found, the crowd region neither missed nor hit.
    found = [Detections([[10, 5, 30, 35]], [0.9], [1]), Detections.empty()]
    truth = [annotations.truth[7], annotations.truth[9]]
    assert coco_scores(truth, found, list(annotations.categories)).map == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ([1, 2], "is not a COCO instances file"),
        ({"images": []}, "is not a COCO instances file"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "instances.json"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(SysnoiseError, match=message) as error:
        load_coco_annotations(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ({"bbox": [50, 5, 20, 30]}, "lies outside image 7"),
        ({"bbox": [10, 5, -2, 30]}, "negative size"),
        ({"bbox": [10, 5, 20]}, r"is not \[x, y, w, h\]"),
        ({"bbox": "10 5 20 30"}, "needs 'bbox' as list"),
        ({"image_id": 8}, "unknown image 8"),
        ({"category_id": 2}, "unknown category 2"),
    ],
)
def test_hostile_annotations(tmp_path: Path, annotation: dict, message: str) -> None:
    entry = {"id": 1, "image_id": 7, "category_id": 1, "bbox": [10, 5, 20, 30], **annotation}
    path = _write(tmp_path, _instances(annotations=[entry]))
    with pytest.raises(SysnoiseError, match=message) as error:
        load_coco_annotations(path)
    assert "\n" not in str(error.value) and "instances.json" in str(error.value)


def test_duplicate_image_ids(tmp_path: Path) -> None:
    image = {"id": 7, "file_name": "a.jpg", "height": 40, "width": 60}
    path = _write(tmp_path, _instances(images=[image, {**image, "file_name": "c.jpg"}]))
    with pytest.raises(SysnoiseError, match="image id 7 appears twice"):
        load_coco_annotations(path)
