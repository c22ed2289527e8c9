"""Resizers: shapes, the measured differences between libraries, and torchvision's reference."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import MobileNet_V2_Weights

from sysnoise.errors import UnknownNameError
from sysnoise.noises.decoders import decode
from sysnoise.noises.resizers import RESIZERS, Resizer, _resize_torch, resize
from sysnoise.pipeline import IMAGENET_MEAN, IMAGENET_STD, center_crop, resized_size

import images

EXPECTED_NAMES = [
    "pil-nearest",
    "pil-bilinear",
    "pil-bicubic",
    "pil-lanczos",
    "pil-box",
    "pil-hamming",
    "cv2-nearest",
    "cv2-linear",
    "cv2-cubic",
    "cv2-area",
    "cv2-lanczos4",
    "cv2-nearest-exact",
    "torch-nearest",
    "torch-bilinear",
    "torch-bilinear-aa",
    "torch-bicubic",
    "torch-bicubic-aa",
    "tf1-bicubic",
]
CHINA_256_WIDE = (171, 256)  # 640x427 scaled to 256 wide


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    delta = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(delta.max()), float(delta.mean())


@pytest.fixture(scope="module")
def china_small() -> dict[str, np.ndarray]:
    """china.jpg resized to 256 wide by every resizer."""
    image = images.china()
    return {name: resize(name, image, *CHINA_256_WIDE) for name in EXPECTED_NAMES}


def test_registry_has_the_eighteen_resizers_in_order() -> None:
    assert RESIZERS.names() == EXPECTED_NAMES
    for name in EXPECTED_NAMES:
        resizer = RESIZERS.get(name)
        assert isinstance(resizer, Resizer) and resizer.name == name
        assert name.startswith(resizer.library + "-")
        assert resizer.description
    assert "torch-nearest-aa" not in RESIZERS


def test_unknown_resizer_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="pil-bilinear") as info:
        resize("pil-bilnear", images.astronaut(), 8, 8)
    assert "torch-bicubic-aa" in str(info.value)


@pytest.mark.parametrize("out_shape", [(171, 256), (300, 200), (700, 800)])
@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_resizer_returns_requested_shape(name: str, out_shape: tuple[int, int]) -> None:
    out = resize(name, images.astronaut(), *out_shape)
    assert out.shape == (*out_shape, 3)
    assert out.dtype == np.uint8
    assert out.flags.c_contiguous and out.flags.writeable


def test_resize_accepts_views_and_read_only_arrays() -> None:
    crop = images.china()[10:200, 5:300]  # a read-only, non-contiguous view
    for name in EXPECTED_NAMES:
        assert resize(name, crop, 64, 96).shape == (64, 96, 3), name


def test_resize_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        resize("pil-bilinear", images.astronaut().astype(np.float32), 8, 8)
    with pytest.raises(ValueError, match="positive"):
        resize("pil-bilinear", images.astronaut(), 0, 8)


def test_pil_bilinear_and_cv2_linear_differ_a_lot(china_small: dict[str, np.ndarray]) -> None:
    max_diff, mean_diff = _diff(china_small["pil-bilinear"], china_small["cv2-linear"])
    assert max_diff > 40  # measured 96 (mean 6.5): Pillow antialiases, OpenCV does not
    assert mean_diff > 2


def test_torch_antialias_matches_pillow(china_small: dict[str, np.ndarray]) -> None:
    for torch_name, pil_name in [("torch-bilinear-aa", "pil-bilinear"),
                                 ("torch-bicubic-aa", "pil-bicubic")]:
        max_diff, mean_diff = _diff(china_small[torch_name], china_small[pil_name])
        assert max_diff <= 1 and mean_diff < 0.01, torch_name  # measured 1 and ~0.002


def test_torch_bilinear_without_antialias_is_opencv_like(
    china_small: dict[str, np.ndarray],
) -> None:
    to_cv2 = _diff(china_small["torch-bilinear"], china_small["cv2-linear"])
    to_pil = _diff(china_small["torch-bilinear"], china_small["pil-bilinear"])
    assert to_cv2[0] <= 1 and to_cv2[1] < 0.5  # measured 1 and 0.21
    assert to_pil[0] > 40 and to_cv2[1] < to_pil[1]


def test_nearest_kernels_pair_up(china_small: dict[str, np.ndarray]) -> None:
    np.testing.assert_array_equal(china_small["torch-nearest"], china_small["cv2-nearest"])
    np.testing.assert_array_equal(china_small["pil-nearest"], china_small["cv2-nearest-exact"])
    assert _diff(china_small["pil-nearest"], china_small["cv2-nearest"])[0] > 0


@pytest.mark.parametrize("out_shape", [CHINA_256_WIDE, (300, 500), (900, 1000)])
def test_torch_nearest_ignores_antialias(out_shape: tuple[int, int]) -> None:
    image = images.china()
    with_aa = _resize_torch(image, *out_shape, mode="NEAREST", antialias=True)
    without_aa = _resize_torch(image, *out_shape, mode="NEAREST", antialias=False)
    assert with_aa.tobytes() == without_aa.tobytes()


@pytest.mark.parametrize("photo", ["china", "astronaut"])
def test_reference_pipeline_reproduces_torchvision_weights_transforms(photo: str) -> None:
    data = images.china_jpeg() if photo == "china" else images.baseline_420()
    transforms = MobileNet_V2_Weights.IMAGENET1K_V1.transforms()
    with Image.open(BytesIO(data)) as pil_image:
        expected = transforms(pil_image.convert("RGB"))
    assert expected.dtype == torch.float32

    pixels = decode("pil", data, transforms.resize_size[0])
    out_h, out_w = resized_size(*pixels.shape[:2], transforms.resize_size[0], "shorter")
    crop = center_crop(resize("pil-bilinear", pixels, out_h, out_w), transforms.crop_size[0])
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    std = np.asarray(IMAGENET_STD, dtype=np.float32)
    ours = ((crop.astype(np.float32) / 255 - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(ours, expected.numpy(), rtol=0, atol=1e-6)

    undone = expected.numpy().transpose(1, 2, 0) * std + mean
    np.testing.assert_array_equal(np.rint(undone * 255).astype(np.uint8), crop)
