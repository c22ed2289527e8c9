"""The detection task through the one engine loop: bench, store, scoring, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sysnoise.bench import run_bench
from sysnoise.config import BenchConfig
from sysnoise.detection.report import format_detection_report
from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline
from sysnoise.sources.detection_source import DetectionSource, reference_for
from sysnoise.tasks.detection import DetectionTask, decode_detections

from dense_factory import DETECTION_REFERENCE as REFERENCE
from dense_factory import coco_annotations, detection_photos, tiny_detection_source

NOISES = (
    "resize=pil-bilinear,upsample=bilinear,backend=tensorrt,postprocess=nms-onnxruntime,"
    "postprocess=box-offset-flipped,postprocess=nms-torchvision-batched,pyramid=cv2-area,"
    "postprocess=mask-paste-nearest"
)


def _source() -> DetectionSource:
    return tiny_detection_source(20)


def _config(tmp_path: Path, **changes: object) -> BenchConfig:
    folder = tmp_path / "images"
    fields = {
        "data": folder if folder.exists() else detection_photos(folder),
        "noises": NOISES,
        "out_dir": tmp_path / "out",
        "cache_dir": tmp_path / "cache",
        "progress": False,
    }
    return BenchConfig(**{**fields, **changes})


def test_detection_bench_agreement_and_annotations(tmp_path: Path) -> None:
    source = _source()
    outcome = run_bench(_config(tmp_path), source)
    document = outcome.document
    assert document["task"] == "detection"
    assert document["scored_against"] == "reference detections"
    rows = {row["noise"]: row for row in document["rows"]}
    # The FPN's top-down path upsamples with nearest: bilinear moves boxes.
    assert rows["upsample=bilinear"]["model_side"] == "torch-fp32+upsample=bilinear"
    assert rows["upsample=bilinear"]["flip_rate"] > 0
    assert rows["resize=pil-bilinear"]["input_max_abs_diff"] > 0
    for row in rows.values():
        for metric, delta in row["deltas"].items():
            assert delta["delta"] == pytest.approx(1.0 - row["scores"][metric])  # reference: 1
    # ONNX Runtime's NMS keeps what torchvision's keeps; the legacy box offset moves boxes.
    assert rows["postprocess=nms-onnxruntime"]["scores"] == pytest.approx(
        {"map": 1.0, "ap50": 1.0, "ap75": 1.0}
    )
    offset = rows["postprocess=box-offset-flipped"]
    assert offset["model_side"] == "torch-fp32+postprocess=box-offset-flipped"
    assert offset["category"] == "postprocess" and offset["scores"]["ap75"] < 1.0
    skipped = {s["noise"]: s for s in document["not_evaluated"]}
    assert "data-dependent shapes" in skipped["backend=tensorrt"]["reason"]
    assert "already runs" in skipped["postprocess=nms-torchvision-batched"]["reason"]
    assert "FasterRCNN has no image pyramid" in skipped["pyramid=cv2-area"]["reason"]
    assert "no instance masks" in skipped["postprocess=mask-paste-nearest"]["reason"]
    assert all(row["masks"] is None for row in rows.values())  # boxes only
    # Stored compactly and recomputable: the store's blobs are the scored detections.
    table = outcome.evaluation.predictions[REFERENCE.key]
    found = decode_detections(table[0])
    assert 0 < len(found) <= 20 and (found.boxes >= 0).all() and (found.boxes <= 1).all()
    frame = outcome.json_path.with_name(outcome.json_path.stem + ".predictions.csv.gz")
    assert frame.is_file()
    report = format_detection_report(document)
    assert "upsample=bilinear" in report and "stayed/lost/new" in report

    again = run_bench(_config(tmp_path, annotations=coco_annotations(tmp_path)), source)
    assert again.document["run"]["forward_passes"] == 0  # every prediction from the store
    assert again.document["scored_against"] == "annotations"
    assert 0 <= again.document["reference"]["map"] <= 1
    assert again.document["rows"][0]["scores"]["map"] is not None


def test_annotations_must_cover_the_images(tmp_path: Path) -> None:
    annotations = coco_annotations(tmp_path)
    document = json.loads(annotations.read_text())
    document["images"] = document["images"][:1]
    document["annotations"] = document["annotations"][:1]
    annotations.write_text(json.dumps(document))
    with pytest.raises(SysnoiseError, match=r"1 of 2 images are not in .*first: china.jpg"):
        run_bench(_config(tmp_path, annotations=annotations), _source())
    with pytest.raises(SysnoiseError, match="mobilenet_v2 is a classification model"):
        run_bench(_config(tmp_path, annotations=annotations, model="mobilenet_v2"))


def test_detection_input_follows_the_capped_protocol() -> None:
    task = DetectionTask()
    image = np.zeros((100, 400, 3), dtype=np.uint8)  # long: the cap wins (128 / 400)
    assert task.model_input(image, REFERENCE).shape == (32, 128, 3)
    assert task.model_input(image[:, :120], REFERENCE).shape == (96, 115, 3)
    ssd = reference_for("ssdlite320_mobilenet_v3_large")
    assert (ssd.resize_protocol, ssd.resize_size) == ("squash", 320)
    assert task.model_input(image, ssd).shape == (320, 320, 3)
    faster = reference_for("fasterrcnn_resnet50_fpn")
    assert (faster.resize_size, faster.crop_size, faster.resizer) == (800, 1333, "torch-bilinear")


def test_postprocess_is_not_applicable_to_classifiers() -> None:
    from sysnoise.variants import ModelSides

    from tiny import tiny_classifier

    sides = ModelSides(tiny_classifier(), np.zeros((1, 3, 32, 32), dtype=np.float32))
    noisy = Pipeline(postprocess="nms-onnxruntime")
    assert "is not a detector" in sides.not_applicable(noisy, Pipeline())
    assert Pipeline().key == Pipeline().with_changes(postprocess="model").key
    assert "postprocess" not in Pipeline().to_dict() and noisy.to_dict()["postprocess"]
    assert Pipeline.from_dict(noisy.to_dict()) == noisy


def test_detection_documents_validate_and_report(tmp_path: Path, capsys) -> None:
    from sysnoise.cli import main
    from sysnoise.leaderboard.validate import validate
    from sysnoise.report import format_report

    config = _config(tmp_path, noises="resize=pil-bilinear,postprocess=box-offset-flipped")
    outcome = run_bench(config, _source())
    document = outcome.document
    path = str(outcome.json_path)
    assert main(["compare", path, path]) == 0
    out = capsys.readouterr().out
    assert "ΔmAP A pp" in out and "share of images" in out
    assert main(["compare", path, path, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["value_a"] for r in records] == [
        r["deltas"]["map"]["delta"] for r in document["rows"]
    ]
    assert all(r["diff"] in (0.0, None) for r in records)
    assert validate(document) == []
    assert set(document["categories"]) == {"resize", "postprocess"}
    assert "stayed/lost/new" in format_report(document)
    broken = json.loads(json.dumps(document))
    broken["rows"][0]["scores"]["map"] = 1.5
    broken["categories"]["resize"]["mean"] = 0.3
    assert "rows[0].scores.map: 1.5 is more than 1" in validate(broken)
    shared = json.loads(json.dumps(document))
    shared["dataset"]["n_images"] = -1
    del shared["model"]["fingerprint"]
    shared["environment"]["python"] = 3
    assert validate(shared) == [
        "dataset.n_images: -1 is negative",
        "environment.python: must be string, got integer",
        "model.fingerprint: missing",
    ]
    row = next(r for r in document["rows"] if r["deltas"]["map"]["ci"] is not None)
    at = document["rows"].index(row)
    shifted = json.loads(json.dumps(document))
    shifted["rows"][at]["deltas"]["ap50"]["delta"] = row["deltas"]["ap50"]["delta"] / 2 + 0.01
    assert validate(shifted)[0].startswith(
        f"rows[{at}].deltas.ap50.delta: {shifted['rows'][at]['deltas']['ap50']['delta']!r} "
        "is not ref_scores.ap50 minus scores.ap50"
    )
    reversed_ci = json.loads(json.dumps(document))
    low, high = row["deltas"]["map"]["ci"]
    reversed_ci["rows"][at]["deltas"]["map"]["ci"] = [high, low - 0.01]
    assert validate(reversed_ci) == [
        f"rows[{at}].deltas.map.ci: {[high, low - 0.01]} is not [low, high]"
    ]
    recounted = json.loads(json.dumps(document))
    recounted["categories"]["resize"]["n_noises"] = 2
    assert validate(recounted) == ["categories.resize.n_noises: does not match the rows (1)"]
