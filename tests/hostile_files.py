"""A folder of bad, odd and hostile image files, made by the tests (no binary files in git).

`write_corpus` writes it and returns what each file is expected to do: be scored, fail with a
recorded reason, or be skipped when the folder is listed.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from images import astronaut, baseline_420, baseline_444, cmyk, grayscale, progressive, truncated

BOMB_SIDE = 40_000  # 1.6 gigapixels: 4.8 GB as RGB
JPEG_BOMB_SIDE = 16_000
MAX_FILE_BYTES = 1_000_000  # the tests set SYSNOISE_MAX_FILE_BYTES to this


@dataclass(frozen=True)
class Expected:
    """What happens to one file: "scored", "failed" (reason in every decoder's error) or
    "skipped" (reason in the listing's skip message)."""

    outcome: str
    reason: str = ""


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(width: int = 256, height: int = 256) -> Image.Image:
    return Image.fromarray(astronaut()).resize((width, height))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = BOMB_SIDE) -> bytes:
    """An RGB PNG whose header says side x side; its few compressed rows are all it holds."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + 3 * side) * 8, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_bomb(side: int = JPEG_BOMB_SIDE) -> bytes:
    """A real JPEG whose frame header (SOF0) is rewritten to say side x side."""
    data = bytearray(baseline_420())
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def png16(rgb: bool) -> bytes:
    """A 16-bit PNG (greyscale, or RGB written by OpenCV) of a smooth ramp."""
    ramp = np.linspace(0, 65535, 64 * 64).astype(np.uint16).reshape(64, 64)
    if not rgb:
        return _save(Image.fromarray(ramp), "PNG")
    import cv2

    return cv2.imencode(".png", np.stack([ramp, ramp[::-1], ramp.T], axis=-1))[1].tobytes()


def _files() -> dict[str, tuple[bytes, Expected]]:
    scored = Expected("scored")
    photo = _photo()
    return {
        "baseline-420.jpg": (baseline_420(), scored),
        "baseline-444.jpg": (baseline_444(), scored),
        "jpeg-422.jpg": (_save(photo, "JPEG", quality=90, subsampling="4:2:2"), scored),
        "progressive.jpg": (progressive(), scored),
        "cmyk.jpg": (cmyk(), scored),
        "grey.jpg": (grayscale(), scored),
        "one-pixel.jpg": (_save(_photo(1, 1), "JPEG"), scored),
        "strip-5000x10.jpg": (_save(_photo(5000, 10), "JPEG"), scored),
        "rgba.png": (_save(photo.convert("RGBA"), "PNG"), scored),
        "palette.png": (_save(photo.convert("P"), "PNG"), scored),
        "photo.webp": (_save(photo, "WEBP", quality=90), scored),
        "photo.bmp": (_save(photo, "BMP"), scored),
        "photo.tiff": (_save(photo, "TIFF"), scored),
        "café 猫.jpg": (baseline_444(), scored),
        "empty.jpg": (b"", Expected("failed", "not an image file")),
        "garbage.jpg": (b"GIF? no: just text", Expected("failed", "not an image file")),
        "truncated.jpg": (truncated(), Expected("failed", "cannot decode")),
        "gif-named.jpg": (_save(photo, "GIF"), Expected("failed", "GIF files are not supported")),
        "bomb.png": (png_bomb(), Expected("failed", "over the limit of")),
        "bomb.jpg": (jpeg_bomb(), Expected("failed", "over the limit of")),
        "grey16.png": (png16(rgb=False), Expected("failed", "16-bit samples")),
        "rgb16.png": (png16(rgb=True), Expected("failed", "16-bit samples")),
        "animation.gif": (_save(photo, "GIF"), Expected("skipped", "GIF files are not supported")),
    }


def write_corpus(folder: Path) -> dict[str, Expected]:
    """Write the corpus into `folder`; expected outcome by image id."""
    folder.mkdir(parents=True)
    expected = {}
    for name, (data, outcome) in _files().items():
        (folder / name).write_bytes(data)
        expected[name] = outcome
    os.mkfifo(folder / "fifo.jpg")
    expected["fifo.jpg"] = Expected("skipped", "not a regular file")
    os.symlink("/dev/zero", folder / "zero.jpg")
    expected["zero.jpg"] = Expected("skipped", "not a regular file")
    os.symlink("no-such-file.jpg", folder / "dangling.jpg")
    expected["dangling.jpg"] = Expected("skipped", "broken symbolic link")
    os.symlink("baseline-420.jpg", folder / "link.jpg")
    expected["link.jpg"] = Expected("scored")
    (folder / "folder.jpg").mkdir()
    expected["folder.jpg"] = Expected("skipped", "a folder")
    (folder / "huge.jpg").write_bytes(b"\xff\xd8" + b"\0" * MAX_FILE_BYTES)
    expected["huge.jpg"] = Expected("skipped", f"over the limit of {MAX_FILE_BYTES}")
    raw = os.fsencode(folder) + b"/latin1-caf\xe9.jpg"
    with open(raw, "wb") as handle:
        handle.write(baseline_420())
    expected["latin1-caf\\xe9.jpg"] = Expected("scored")
    return expected
