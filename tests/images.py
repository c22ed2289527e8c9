"""Test images built in memory from real photos that scikit-image and scikit-learn ship."""

from __future__ import annotations

import functools
import importlib.util
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

EXIF_ORIENTATION_TAG = 0x0112


@functools.cache
def astronaut() -> np.ndarray:
    """scikit-image's 512x512 RGB astronaut photo."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut())


def china_path() -> Path:
    """Path of scikit-learn's 640x427 china.jpg."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-learn is not installed")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "images" / "china.jpg"


@functools.cache
def china_jpeg() -> bytes:
    """The bytes of scikit-learn's china.jpg (640x427, a baseline 4:2:0 photo JPEG)."""
    return china_path().read_bytes()


def china() -> np.ndarray:
    """china.jpg decoded by Pillow: 427x640x3 uint8."""
    return np.asarray(Image.open(BytesIO(china_jpeg())).convert("RGB"))


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _astronaut_image() -> Image.Image:
    return Image.fromarray(astronaut())


@functools.cache
def baseline_420() -> bytes:
    """Baseline JPEG, 4:2:0 chroma subsampling, 512x512."""
    return _save(_astronaut_image(), "JPEG", quality=90, subsampling="4:2:0")


@functools.cache
def baseline_444() -> bytes:
    """Baseline JPEG without chroma subsampling (4:4:4), 512x512."""
    return _save(_astronaut_image(), "JPEG", quality=90, subsampling="4:4:4")


@functools.cache
def progressive() -> bytes:
    """Progressive JPEG, 4:2:0, 512x512."""
    return _save(_astronaut_image(), "JPEG", quality=90, progressive=True)


@functools.cache
def grayscale() -> bytes:
    """Single-channel (mode L) JPEG, 512x512."""
    return _save(_astronaut_image().convert("L"), "JPEG", quality=90)


@functools.cache
def cmyk() -> bytes:
    """Four-channel CMYK JPEG (Adobe marker, as Pillow writes it), 512x512."""
    return _save(_astronaut_image().convert("CMYK"), "JPEG", quality=90)


@functools.cache
def truncated() -> bytes:
    """The 4:2:0 baseline JPEG cut in half: the scan data ends early and there is no EOI."""
    data = baseline_420()
    return data[: len(data) // 2]


EXIF_ROTATED_SHAPE = (320, 512)  # stored height, width; orientation 6 would display it 512x320


@functools.cache
def exif_rotated() -> bytes:
    """A 320x512 (h x w) JPEG whose EXIF orientation is 6 (display rotated 90 degrees clockwise)."""
    height, width = EXIF_ROTATED_SHAPE
    image = Image.fromarray(astronaut()[:height, :width])
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = 6
    return _save(image, "JPEG", quality=90, exif=exif.tobytes())


@functools.cache
def png() -> bytes:
    """Lossless RGB PNG, 512x512."""
    return _save(_astronaut_image(), "PNG")


def jpeg_variants() -> dict[str, bytes]:
    """Every test file by name: the JPEG variants plus a PNG."""
    return {
        "baseline-420": baseline_420(),
        "baseline-444": baseline_444(),
        "progressive": progressive(),
        "grayscale": grayscale(),
        "cmyk": cmyk(),
        "truncated": truncated(),
        "exif-rotated": exif_rotated(),
        "png": png(),
    }


def stored_shape(name: str) -> tuple[int, int]:
    """Stored (height, width) of the variant `name`, ignoring any EXIF orientation."""
    return EXIF_ROTATED_SHAPE if name == "exif-rotated" else (512, 512)
