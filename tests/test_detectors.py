"""Detectors: torchvision's resize protocol moved to the pipeline, and MTCNN on a real photo."""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from torchvision.models.detection.transform import _resize_image_and_masks

from sysnoise.detection.resize import DetectionResize, scale_boxes
from sysnoise.detection.torchvision_detectors import random_detector
from sysnoise.errors import UnknownNameError

SMALL = {"num_classes": 3, "min_size": 96, "max_size": 128, "box_detections_per_img": 20}


@pytest.mark.parametrize("shape", [(90, 120), (120, 90), (50, 300), (333, 500), (128, 96)])
@pytest.mark.parametrize(
    "resize",
    [DetectionResize(96, 128), DetectionResize(800, 1333), DetectionResize(fixed_size=(40, 50))],
)
def test_output_size_is_torchvisions(shape: tuple[int, int], resize: DetectionResize) -> None:
    fixed = None if resize.fixed_size is None else resize.fixed_size[::-1]  # torchvision: (w, h)
    resized, _ = _resize_image_and_masks(
        torch.zeros(3, *shape), resize.min_size, resize.max_size, None, fixed
    )
    assert resize.output_size(*shape) == tuple(resized.shape[-2:])


def test_scale_boxes_maps_back() -> None:
    boxes = scale_boxes(np.array([[10, 20, 30, 40]]), (100, 200), (50, 400))
    np.testing.assert_allclose(boxes, [[20, 10, 60, 20]])


def test_pipeline_resize_matches_the_models_own() -> None:
    torch.manual_seed(0)
    image = torch.rand(3, 90, 120)
    wrapped = random_detector("fasterrcnn_resnet50_fpn", seed=3, **SMALL)
    own = random_detector("fasterrcnn_resnet50_fpn", seed=3, **SMALL).model
    del own.transform.resize  # the model's own resize again
    assert wrapped.resize == DetectionResize(96, 128)
    size = wrapped.resize.output_size(90, 120)
    resized = torch.nn.functional.interpolate(
        image[None], size=size, mode="bilinear", align_corners=False
    )[0]
    with torch.inference_mode():
        expected = own([image])[0]
        found = wrapped([resized], [(90, 120)])[0]
    assert len(found) == len(expected["boxes"]) > 0
    # Resizing before normalising instead of after moves pixels by float rounding only.
    np.testing.assert_allclose(found.boxes, expected["boxes"].numpy(), atol=0.05)
    np.testing.assert_allclose(found.scores, expected["scores"].numpy(), atol=1e-4)


def test_ssdlite_protocol_is_fixed_size() -> None:
    ssd = random_detector("ssdlite320_mobilenet_v3_large", num_classes=3)
    assert ssd.resize.fixed_size == (320, 320)
    assert ssd.resize.output_size(480, 640) == (320, 320)


def test_unknown_architecture() -> None:
    with pytest.raises(UnknownNameError, match="valid: .*fasterrcnn_resnet50_fpn"):
        random_detector("fasterrcnn_resnet18")


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
def astronaut() -> torch.Tensor:
    from skimage import data

    return torch.from_numpy(data.astronaut()).permute(2, 0, 1).contiguous()


def test_mtcnn_finds_the_astronauts_face(mtcnn, astronaut: torch.Tensor) -> None:
    from sysnoise.noises.postprocess import patch_postprocess

    found = mtcnn([astronaut])[0]
    assert len(found) == 1 and found.scores[0] > 0.99
    x1, y1, x2, y2 = found.boxes[0]
    assert 160 < x1 < x2 < 290 and 40 < y1 < y2 < 200  # her face, not the flag or the suit
    # Another NMS kernel keeps the same face; the modern box offset moves it by about a pixel.
    same = patch_postprocess(mtcnn, "onnxruntime", "model", "model")([astronaut])[0]
    np.testing.assert_array_equal(same.boxes, found.boxes)
    moved = patch_postprocess(mtcnn, "model", "model", "flipped")([astronaut])[0]
    assert 0.1 < np.abs(moved.boxes - found.boxes).max() < 5
    # Halving the photo halves the box (boxes come back in the original pixels).
    half = mtcnn([astronaut[:, ::2, ::2].contiguous()], [(512, 512)])[0]
    np.testing.assert_allclose(half.boxes, found.boxes, atol=6)


def test_mtcnn_pyramid_resizer_moves_the_box(mtcnn, astronaut: torch.Tensor) -> None:
    found = mtcnn([astronaut])[0]
    resampled = copy.copy(mtcnn)
    resampled.pyramid_resizer = "pil-bilinear"
    other = resampled([astronaut])[0]
    assert len(other) == 1
    assert 0.1 < np.abs(other.boxes - found.boxes).max() < 5
    assert mtcnn.pyramid_resizer is None


def test_the_pyramid_noise_patches_a_copy_of_a_packed_mtcnn(mtcnn) -> None:
    from sysnoise.detection.packed import PackedDetector
    from sysnoise.errors import SysnoiseError
    from sysnoise.noises.pyramid import patch_pyramid, pyramid_reason

    packed = PackedDetector(mtcnn)
    patched = patch_pyramid(packed, "cv2-area")
    assert patched.detector.pyramid_resizer == "cv2-area" and mtcnn.pyramid_resizer is None
    assert patched.detector.pnet is mtcnn.pnet  # weights shared
    assert patch_pyramid(packed, "model") is packed and pyramid_reason(packed, "cv2-area") is None
    with pytest.raises(SysnoiseError, match="unknown pyramid resizer 'area'; valid: model, pil-"):
        patch_pyramid(packed, "area")
    with pytest.raises(SysnoiseError, match="Linear has no image pyramid"):
        patch_pyramid(torch.nn.Linear(2, 2), "cv2-area")


def test_mtcnn_bench_on_real_photos(tmp_path, mtcnn) -> None:
    """MTCNN through bench on a real photo with a face: its own NMS swapped for ONNX Runtime's
    keeps every face; the modern box offset in its refinement stages moves them."""
    from sysnoise.bench import run_bench
    from sysnoise.config import BenchConfig
    from sysnoise.sources.detection_source import MTCNN_REFERENCE, DetectionSource

    matplotlib_images = Path(matplotlib.get_data_path()) / "sample_data"
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "grace_hopper.jpg").write_bytes((matplotlib_images / "grace_hopper.jpg").read_bytes())
    config = BenchConfig(
        data=folder,
        noises="postprocess=nms-onnxruntime,postprocess=box-offset-flipped,postprocess=topk-first,"
        "pyramid=pil-bilinear",
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    source = DetectionSource.from_detector(mtcnn, "mtcnn", MTCNN_REFERENCE)
    document = run_bench(config, source).document
    assert document["reference"]["detections"] == 1  # Grace Hopper's face
    rows = {row["noise"]: row for row in document["rows"]}
    assert rows["postprocess=nms-onnxruntime"]["detections"] == {"stayed": 1, "lost": 0, "new": 0}
    assert rows["postprocess=nms-onnxruntime"]["scores"]["map"] == pytest.approx(1.0)
    offset = rows["postprocess=box-offset-flipped"]
    assert offset["detections"]["stayed"] == 1 and offset["scores"]["map"] < 1.0
    skipped = {s["noise"]: s["reason"] for s in document["not_evaluated"]}
    assert "no top-k" in skipped["postprocess=topk-first"]
    # Pillow's bilinear instead of MTCNN's own area interpolation for its pyramid and crops.
    pyramid = rows["pyramid=pil-bilinear"]
    assert pyramid["category"] == "resize" and pyramid["input_max_abs_diff"] == 0
    assert pyramid["model_side"] == "torch-fp32+pyramid=pil-bilinear"
    assert pyramid["detections"]["stayed"] == 1 and pyramid["scores"]["map"] < 1.0
