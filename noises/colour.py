"""Colour paths: RGB through a YUV 4:2:0 frame buffer and back, as hardware decoders and camera
pipelines hand images over.

The decoded RGB image is converted to Y'CbCr with the BT.601 or BT.709 matrix in full (JFIF,
0-255) or limited ("video", Y 16-235, C 16-240) range and rounded to 8 bits. Chroma is
subsampled 2x2 by averaging (odd sides are padded by edge replication), then upsampled again
by replication, as simple NV12/I420 converters do, and converted back to 8-bit RGB. `rgb` is the
identity: no colour conversion at all.

Matched paths decode with the matrix and range they encoded with. Real stacks also mismatch: the
encoder writes BT.601 and the consumer assumes BT.709 (or the reverse), or full-range code values
are read as limited range (or the reverse). Those paths are named
``yuv420-<encode matrix>-<range>-as-<decode matrix>-<range>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from sysnoise.registry import Registry

# (Kr, Kb) luma coefficients of each matrix.
_MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


@dataclass(frozen=True)
class ColourPath:
    """One colour path applied to decoded HxWx3 uint8 RGB pixels."""

    name: str
    description: str
    convert: Callable[[np.ndarray], np.ndarray]


COLOURS: Registry[ColourPath] = Registry("colour path", ColourPath)


def _rgb_to_ycbcr_matrix(matrix: str, full_range: bool) -> tuple[np.ndarray, np.ndarray]:
    """The 3x3 matrix and offset taking RGB in [0, 255] to 8-bit Y'CbCr code values."""
    kr, kb = _MATRICES[matrix]
    kg = 1.0 - kr - kb
    luma = np.array([kr, kg, kb])
    cb = (np.array([0.0, 0.0, 1.0]) - luma) / (2.0 * (1.0 - kb))
    cr = (np.array([1.0, 0.0, 0.0]) - luma) / (2.0 * (1.0 - kr))
    y_scale, c_scale, y_offset = (1.0, 1.0, 0.0) if full_range else (219 / 255, 224 / 255, 16.0)
    forward = np.stack([luma * y_scale, cb * c_scale, cr * c_scale])
    return forward, np.array([y_offset, 128.0, 128.0])


def yuv420_round_trip(
    image: np.ndarray,
    matrix: str,
    full_range: bool,
    decode_matrix: str | None = None,
    decode_full_range: bool | None = None,
) -> np.ndarray:
    """RGB -> 8-bit Y'CbCr 4:2:0 -> RGB, each plane rounded to 8 bits as a frame buffer holds it.

    The way back uses `decode_matrix` and `decode_full_range` (default: the encoder's).
    """
    forward, offset = _rgb_to_ycbcr_matrix(matrix, full_range)
    ycc = image.astype(np.float64) @ forward.T + offset
    ycc = np.clip(np.rint(ycc), 0, 255)
    height, width = image.shape[:2]
    padded = np.pad(ycc[..., 1:], ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    ph, pw = padded.shape[:2]
    chroma = padded.reshape(ph // 2, 2, pw // 2, 2, 2).mean(axis=(1, 3))
    chroma = np.floor(chroma + 0.5)  # round half up, as integer averaging (a+b+c+d+2)>>2 does
    upsampled = chroma.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    ycc = np.concatenate([ycc[..., :1], upsampled], axis=2)
    back, back_offset = _rgb_to_ycbcr_matrix(
        decode_matrix or matrix, full_range if decode_full_range is None else decode_full_range
    )
    rgb = (ycc - back_offset) @ np.linalg.inv(back).T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _identity(image: np.ndarray) -> np.ndarray:
    return image


COLOURS.add("rgb", ColourPath("rgb", "no colour conversion: the decoder's RGB", _identity))
for _matrix, _range_name, _full in (
    ("bt601", "full", True),
    ("bt601", "limited", False),
    ("bt709", "limited", False),
):
    _name = f"yuv420-{_matrix}-{_range_name}"
    COLOURS.add(
        _name,
        ColourPath(
            _name,
            f"RGB -> Y'CbCr 4:2:0 ({_matrix.upper()}, {_range_name} range, 8 bit, chroma 2x2 "
            "mean, replicated back) -> RGB",
            partial(yuv420_round_trip, matrix=_matrix, full_range=_full),
        ),
    )


# (encode matrix, encode range, decode matrix, decode range): the mismatches real stacks make.
_MISMATCHES = (
    ("bt601", "limited", "bt709", "limited"),  # SD/JPEG-style encoder, HD consumer
    ("bt709", "limited", "bt601", "limited"),  # HD encoder, SD consumer
    ("bt601", "full", "bt601", "limited"),  # full range (JFIF) read as limited: contrast up
    ("bt601", "limited", "bt601", "full"),  # limited read as full: washed out
)
for _enc, _enc_range, _dec, _dec_range in _MISMATCHES:
    _name = f"yuv420-{_enc}-{_enc_range}-as-{_dec}-{_dec_range}"
    COLOURS.add(
        _name,
        ColourPath(
            _name,
            f"RGB -> Y'CbCr 4:2:0 ({_enc.upper()}, {_enc_range} range) -> RGB read back as "
            f"{_dec.upper()}, {_dec_range} range: a mismatched encoder and consumer",
            partial(
                yuv420_round_trip,
                matrix=_enc,
                full_range=_enc_range == "full",
                decode_matrix=_dec,
                decode_full_range=_dec_range == "full",
            ),
        ),
    )


def apply_colour(name: str, image: np.ndarray) -> np.ndarray:
    """`image` (HxWx3 uint8 RGB) through the colour path `name`."""
    return np.ascontiguousarray(COLOURS.get(name).convert(image))
