"""Detectors' model sides: the precision and backend reach the networks, the box code stays FP32."""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from sysnoise.backends import BACKENDS, BackendContext, BackendUnavailable
from sysnoise.detection.net_backends import DetectorNetsBackend
from sysnoise.detection.packed import PackedDetector, unpack
from sysnoise.detection.torchvision_detectors import random_detector
from sysnoise.pipeline import Pipeline
from sysnoise.sources.detection_source import DetectionSource

SMALL = {"num_classes": 3, "min_size": 96, "max_size": 128, "box_detections_per_img": 20}


@pytest.fixture(scope="module")
def mtcnn():
    from sysnoise.detection.mtcnn import MTCNNDetector, facenet_folder
    from sysnoise.errors import Unavailable

    try:
        facenet_folder()
    except Unavailable as exc:
        pytest.skip(exc.reason)
    return MTCNNDetector()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return (data.astronaut().transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)


def _run(model: PackedDetector, backend: str, precision: str, batch: np.ndarray) -> tuple:
    context = BackendContext(device="cpu", model_id=f"test-{backend}-{precision}")
    runner = model.backend_for(BACKENDS.get(backend), precision, context)
    prepared = copy.deepcopy(model)
    runner.prepare(prepared, batch)
    try:
        return unpack(runner.infer(batch)[0]), runner.describe(), prepared
    finally:
        runner.release()


def test_mtcnn_low_precision_nets_move_the_face_cascade_stays_fp32(mtcnn, astronaut) -> None:
    model = PackedDetector(mtcnn)
    reference, facts, _ = _run(model, "torch", "fp32", astronaut)
    assert "nets" not in facts  # the reference runs the whole detector in torch FP32
    bf16, facts, prepared = _run(model, "torch", "bf16", astronaut)
    assert {net["precision"] for net in facts["nets"].values()} == {"bf16"}
    # The nets ran in BF16 through the backend; the detector's own torch nets, which the
    # cascade reads its dtype from, stayed FP32, so the pyramid and boxes are FP32.
    assert prepared.detector.nets is not None
    assert next(prepared.detector.pnet.parameters()).dtype == torch.float32
    assert len(reference) == len(bf16) == 1
    moved = np.abs(bf16.boxes - reference.boxes).max() * 512
    assert 0.5 < moved < 10  # BF16 nets move the astronaut's box by a few pixels
    channels_last, _, _ = _run(model, "torch-channels-last", "bf16", astronaut)
    assert len(channels_last) == 1 and np.abs(channels_last.boxes - reference.boxes).max() < 0.02


def test_torchvision_bf16_backbone_and_heads_box_code_fp32() -> None:
    detector = random_detector("fasterrcnn_resnet50_fpn", seed=5, box_score_thresh=0.0, **SMALL)
    model = PackedDetector(detector)
    batch = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(1)).numpy()
    reference, _, _ = _run(model, "torch", "fp32", batch)
    runner = model.backend_for(BACKENDS.get("torch"), "bf16", BackendContext(device="cpu"))
    assert isinstance(runner, DetectorNetsBackend)
    prepared = copy.deepcopy(model)
    runner.prepare(prepared, batch)
    torchvision_model = prepared.detector.model
    assert next(torchvision_model.backbone.parameters()).dtype == torch.bfloat16
    assert next(torchvision_model.roi_heads.box_predictor.parameters()).dtype == torch.bfloat16
    with torch.inference_mode():  # the backbone hands FP32 features to the box code
        features = torchvision_model.backbone(torch.rand(1, 3, 96, 128))
    assert {f.dtype for f in features.values()} == {torch.float32}
    found = unpack(runner.infer(batch)[0])
    runner.release()
    assert len(found) == len(reference) == 20
    change = np.abs(np.sort(found.scores) - np.sort(reference.scores)).max()
    # BF16 weights and activations change the scores (a random model amplifies it: its
    # untrained heads see unnormalised features); the boxes stay inside the image.
    assert change > 1e-3
    assert ((found.boxes >= 0) & (found.boxes <= 1)).all()


def test_torchvision_detector_whole_in_onnxruntime_gives_torchs_boxes(tmp_path) -> None:
    """Faster R-CNN exported whole (opset 11, height and width dynamic) keeps torch's detections
    on inputs of another size than the export's; a post-processing swap is not exported."""
    detector = random_detector("fasterrcnn_resnet50_fpn", seed=5, box_score_thresh=0.0, **SMALL)
    model = PackedDetector(detector)
    context = BackendContext(device="cpu", cache_dir=tmp_path, model_id="tiny-frcnn")
    runner = model.backend_for(BACKENDS.get("onnxruntime"), "fp32", context)
    runner.prepare(copy.deepcopy(model), np.zeros((1, 3, 96, 128), dtype=np.float32))
    assert runner.describe()["box_code"] == "in the exported graph"
    batch = torch.rand(2, 3, 96, 112, generator=torch.Generator().manual_seed(2)).numpy()
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch)).numpy()
    found = runner.infer(batch)
    runner.release()
    assert found.shape == expected.shape and (expected[:, :, 5] >= 0).sum() == 40
    np.testing.assert_allclose(found[:, :, 4], expected[:, :, 4], atol=1e-4)  # scores
    np.testing.assert_allclose(found[:, :, :4] * 112, expected[:, :, :4] * 112, atol=0.05)
    swapped = copy.deepcopy(model)
    swapped.detector.postprocess = ("nms-torchvision-per-class", "model", "model")
    with pytest.raises(BackendUnavailable, match="graph's own NMS"):
        model.backend_for(BACKENDS.get("onnxruntime"), "fp32", context).prepare(swapped, batch)


def test_model_sides_that_cannot_reach_a_detector_say_why(mtcnn) -> None:
    reference = Pipeline(mean=(0.0,) * 3, std=(1.0,) * 3)
    torchvision = DetectionSource.from_detector(
        random_detector("fasterrcnn_resnet50_fpn", **SMALL), "frcnn", reference
    ).load()
    assert torchvision.not_applicable(reference.with_changes(precision="bf16")) is None
    assert torchvision.not_applicable(reference.with_changes(backend="onnxruntime")) is None
    why = torchvision.not_applicable(reference.with_changes(backend="tensorrt"))
    assert "backend 'tensorrt'" in why and "data-dependent shapes" in why
    face = DetectionSource.from_detector(mtcnn, "mtcnn", reference).load()
    assert face.not_applicable(reference.with_changes(backend="onnxruntime")) is None
    why = face.not_applicable(reference.with_changes(backend="tensorrt"))
    assert "P-Net runs at every pyramid scale" in why


def test_mtcnn_bench_onnxruntime_nets_give_torchs_faces(tmp_path, mtcnn) -> None:
    """Through bench: MTCNN's nets exported to ONNX Runtime (P-Net with dynamic height and
    width) give every reference face back at IoU 0.95; INT8 is left out with its reason."""
    from sysnoise.bench import run_bench
    from sysnoise.config import BenchConfig
    from sysnoise.sources.detection_source import MTCNN_REFERENCE
    from sysnoise.tasks.detection import decode_detections

    folder = tmp_path / "photos"
    folder.mkdir()
    sample = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    (folder / "grace_hopper.jpg").write_bytes(sample.read_bytes())
    config = BenchConfig(
        data=folder,
        noises="backend=onnxruntime,precision=torch-bf16,precision=onnxruntime-int8",
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    source = DetectionSource.from_detector(mtcnn, "mtcnn", MTCNN_REFERENCE)
    outcome = run_bench(config, source)
    document = outcome.document
    assert document["reference"]["detections"] == 1
    stored = outcome.evaluation.predictions
    reference = decode_detections(stored[MTCNN_REFERENCE.key][0])
    exported = decode_detections(stored[MTCNN_REFERENCE.with_changes(backend="onnxruntime").key][0])
    assert len(exported) == len(reference) >= 1  # every candidate, weak ones included
    np.testing.assert_allclose(exported.boxes, reference.boxes, atol=1e-5)  # of the input side
    np.testing.assert_allclose(exported.scores, reference.scores, atol=1e-5)
    rows = {row["noise"]: row for row in document["rows"]}
    onnx = rows["backend=onnxruntime"]
    assert onnx["detections"] == {"stayed": 1, "lost": 0, "new": 0}
    assert onnx["scores"]["map"] == pytest.approx(1.0)  # AP at IoU 0.95 included
    nets = document["backends"]["onnxruntime-fp32"]["nets"]
    assert {net["library"] for net in nets.values()} == {"onnxruntime"}
    assert rows["precision=torch-bf16"]["detections"]["stayed"] == 1
    skipped = {s["noise"]: s for s in document["not_evaluated"]}
    assert "INT8" in skipped["precision=onnxruntime-int8"]["reason"]
