"""Decoders: shapes, errors and the measured differences between libraries."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sysnoise.errors import UnknownNameError
from sysnoise.noises.decoders import DECODERS, DecodeError, Decoder, decode, library_versions

import images

EXPECTED_NAMES = [
    "pil",
    "cv2",
    "torchvision",
    "pyav",
    "turbo-fastdct",
    "turbo-fastupsample",
    "nvjpeg",
    "pil-draft",
    "ffmpeg-cli",
]
# The ones that run on this machine (nvjpeg needs a GPU; tests/test_gpu.py covers it).
AVAILABLE = [n for n in EXPECTED_NAMES if DECODERS.get(n).unavailable_reason() is None]
MIN_SIDE = 256  # pil-draft at 256 halves the 512x512 test files
DRAFT_SHAPES = {(512, 512): (256, 256), images.EXIF_ROTATED_SHAPE: (320, 512)}

# What each decoder does with the variants it cannot decode (all measured, see module docstring).
FAILS = {name: {"truncated"} for name in EXPECTED_NAMES}
FAILS["turbo-fastdct"] |= {"png"}
FAILS["turbo-fastupsample"] |= {"png"}


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    delta = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(delta.max()), float(delta.mean())


def _expected_shape(decoder: str, variant: str) -> tuple[int, int, int]:
    shape = images.stored_shape(variant)
    if decoder == "pil-draft" and variant != "png":
        shape = DRAFT_SHAPES[shape]
    return (*shape, 3)


def test_registry_has_the_decoders_in_order() -> None:
    assert DECODERS.names()[: len(EXPECTED_NAMES)] == EXPECTED_NAMES
    assert all(isinstance(DECODERS.get(name), Decoder) for name in EXPECTED_NAMES)
    assert [n for n in EXPECTED_NAMES if DECODERS.get(n).uses_min_side] == ["pil-draft"]
    jpeg_only = [n for n in EXPECTED_NAMES if DECODERS.get(n).jpeg_only]
    assert jpeg_only == ["turbo-fastdct", "turbo-fastupsample", "nvjpeg"]


def test_an_unavailable_decoder_is_a_decode_error_with_its_reason(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "GPU" in DECODERS.get("nvjpeg").unavailable_reason()
    with pytest.raises(DecodeError, match="not available here: nvJPEG runs on an NVIDIA GPU"):
        decode("nvjpeg", images.baseline_420(), MIN_SIDE)


def test_unknown_decoder_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="turbo-fastdct"):
        decode("nvjpeg-typo", images.baseline_420(), MIN_SIDE)


@pytest.mark.parametrize("variant", list(images.jpeg_variants()))
@pytest.mark.parametrize("name", AVAILABLE)
def test_decoder_on_variant(name: str, variant: str) -> None:
    data = images.jpeg_variants()[variant]
    if variant in FAILS[name]:
        with pytest.raises(DecodeError, match=name):
            decode(name, data, MIN_SIDE)
        return
    image = decode(name, data, MIN_SIDE)
    assert image.dtype == np.uint8
    assert image.shape == _expected_shape(name, variant)
    assert image.flags.c_contiguous and image.flags.writeable


def test_exif_orientation_is_ignored_by_every_decoder() -> None:
    data = images.exif_rotated()
    for name in AVAILABLE:
        shape = decode(name, data, MIN_SIDE).shape
        assert shape == (*images.EXIF_ROTATED_SHAPE, 3), name


@pytest.mark.parametrize("variant", ["baseline-420", "baseline-444", "progressive", "grayscale"])
def test_libjpeg_turbo_decoders_agree_bit_for_bit(variant: str) -> None:
    data = images.jpeg_variants()[variant]
    reference = decode("pil", data, MIN_SIDE)
    for name in ("cv2", "torchvision"):
        np.testing.assert_array_equal(decode(name, data, MIN_SIDE), reference, err_msg=name)


def test_china_jpeg_decodes_identically_in_pil_cv2_torchvision() -> None:
    data = images.china_jpeg()
    reference = decode("pil", data, MIN_SIDE)
    assert reference.shape == (427, 640, 3)
    for name in ("cv2", "torchvision"):
        np.testing.assert_array_equal(decode(name, data, MIN_SIDE), reference, err_msg=name)


@pytest.mark.parametrize("name", ["turbo-fastdct", "turbo-fastupsample", "pyav"])
def test_non_default_decoders_differ_but_stay_close_on_a_420_photo(name: str) -> None:
    data = images.baseline_420()
    max_diff, mean_diff = _diff(decode(name, data, MIN_SIDE), decode("pil", data, MIN_SIDE))
    assert max_diff > 0
    assert mean_diff < 3


@pytest.mark.parametrize("data", [images.baseline_444, images.china_jpeg], ids=["444", "china"])
def test_fastupsample_only_matters_with_chroma_subsampling(data) -> None:
    jpeg = data()  # both 4:4:4 (china.jpg as scikit-learn ships it)
    reference = decode("pil", jpeg, MIN_SIDE)
    np.testing.assert_array_equal(decode("turbo-fastupsample", jpeg, MIN_SIDE), reference)
    for name in ("turbo-fastdct", "pyav"):
        max_diff, mean_diff = _diff(decode(name, jpeg, MIN_SIDE), reference)
        assert max_diff > 0 and mean_diff < 3, name


def test_cmyk_decodes_everywhere_with_small_colour_differences() -> None:
    data = images.cmyk()
    reference = decode("pil", data, MIN_SIDE)
    np.testing.assert_array_equal(decode("torchvision", data, MIN_SIDE), reference)
    for name in ("cv2", "pyav", "turbo-fastdct", "turbo-fastupsample"):
        max_diff, mean_diff = _diff(decode(name, data, MIN_SIDE), reference)
        assert 0 < max_diff <= 8 and mean_diff < 1.5, (name, max_diff, mean_diff)


def test_png_decodes_identically_where_supported() -> None:
    data = images.png()
    expected = images.astronaut()
    for name in ("pil", "cv2", "torchvision", "pyav", "pil-draft"):
        np.testing.assert_array_equal(decode(name, data, MIN_SIDE), expected, err_msg=name)


def test_pyav_accepts_a_file_that_only_lacks_its_eoi_marker() -> None:
    # FFmpeg emulates a missing EOI when the scan is complete; libjpeg-based decoders refuse it.
    data = images.baseline_420()
    assert data.endswith(b"\xff\xd9")
    no_eoi = data[:-2]
    np.testing.assert_array_equal(decode("pyav", no_eoi, 1), decode("pyav", data, 1))
    for name in ("pil", "cv2", "torchvision", "turbo-fastdct"):
        with pytest.raises(DecodeError):
            decode(name, no_eoi, 1)


def test_garbage_is_a_decode_error_everywhere() -> None:
    for name in AVAILABLE:
        with pytest.raises(DecodeError, match=name):
            decode(name, b"not an image at all", MIN_SIDE)


def test_pil_draft_follows_pillow_scale_rule() -> None:
    data = images.baseline_420()  # 512x512
    assert decode("pil-draft", data, 256).shape == (256, 256, 3)
    assert decode("pil-draft", data, 300).shape == (512, 512, 3)
    assert decode("pil-draft", data, 128).shape == (128, 128, 3)
    assert decode("pil-draft", data, 64).shape == (64, 64, 3)
    assert decode("pil-draft", data, 10).shape == (64, 64, 3)  # 1/8 is libjpeg's smallest
    china = images.china_jpeg()  # 640x427: scale = largest of 8, 4, 2, 1 <= min(640 // s, 427 // s)
    assert decode("pil-draft", china, 200).shape == (214, 320, 3)  # 427 / 2 rounded up
    assert decode("pil-draft", china, 100).shape == (107, 160, 3)
    np.testing.assert_array_equal(decode("pil-draft", data, 512), decode("pil", data, 512))


def test_pil_draft_needs_a_positive_min_side() -> None:
    with pytest.raises(ValueError, match="min_side"):
        decode("pil-draft", images.baseline_420(), 0)


def test_library_versions_names_every_library() -> None:
    versions = library_versions()
    for key in ("Pillow", "libjpeg-turbo (Pillow)", "OpenCV", "torchvision", "PyAV", "FFmpeg",
                "simplejpeg"):
        assert versions[key] and not versions[key].startswith("unavailable"), key


def test_importing_noises_loads_no_heavy_library() -> None:
    code = (
        "import sys, sysnoise.noises.decoders, sysnoise.noises.resizers; "
        "print(sorted({'torch', 'cv2', 'av', 'simplejpeg'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
