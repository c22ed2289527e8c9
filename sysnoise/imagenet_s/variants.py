"""Variants: which decoder x resizer combinations a set holds, named "decoder/resizer" as suites do.

The default, ``imagenet-s``, is the published ImageNet-S grid: 3 decoders (Pillow, OpenCV,
FFmpeg) x 11 resize methods (Pillow nearest, bilinear, bicubic, box, hamming, lanczos; OpenCV
nearest, linear, cubic, area, lanczos4) = 33 variants. ``all`` is every registered decoder x every
registered resizer, side-environment ones (Pillow-SIMD) included.

Two generation protocols. ``published`` (the default) is the published generator's
(``imagenet_s_gen.py``, ``transform_type='val'``, as RobustART's test transform): every image
squashed to (size x 8/7)^2, then centre-cropped with ``int(round((h - th) / 2))``; decoders as it
runs them: Pillow ``convert('RGB')`` (EXIF ignored), OpenCV ``imdecode(IMREAD_COLOR)`` (EXIF
applied) and the ffmpeg program piping rgb24 (EXIF applied: its autorotation is on by default).
``shorter`` is torchvision's evaluation transform: the shorter side resized, the aspect kept, EXIF
ignored everywhere, and FFmpeg through PyAV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sysnoise.errors import SysnoiseError
from sysnoise.noises.decoders import DECODERS
from sysnoise.noises.resizers import RESIZERS
from sysnoise.noises.sideenv import register_side_entries
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import pixel_side_unavailable

PROTOCOLS = ("published", "shorter")
# The FFmpeg decoder of each protocol's preset: the published generator runs the ffmpeg program.
_FFMPEG_DECODER = {"published": "ffmpeg-cli", "shorter": "pyav"}
# Decoders that apply EXIF orientation as the published generator runs them.
_PUBLISHED_EXIF = {"cv2": "apply", "ffmpeg-cli": "apply"}
IMAGENET_S_RESIZERS = (
    "pil-nearest",
    "pil-bilinear",
    "pil-bicubic",
    "pil-box",
    "pil-hamming",
    "pil-lanczos",
    "cv2-nearest",
    "cv2-linear",
    "cv2-cubic",
    "cv2-area",
    "cv2-lanczos4",
)


@dataclass(frozen=True)
class Variant:
    """One stored variant: its name and the full pipeline that produces its pixels."""

    name: str
    pipeline: Pipeline

    def unavailable_reason(self) -> str | None:
        """Why its decoder or resizer cannot run here, or None."""
        return pixel_side_unavailable(self.pipeline)


def imagenet_s_decoders(protocol: str = "published") -> tuple[str, str, str]:
    """The preset's three decoders (Pillow, OpenCV, FFmpeg) under `protocol`."""
    return ("pil", "cv2", _FFMPEG_DECODER[check_protocol(protocol)])


def _imagenet_s(protocol: str) -> list[tuple[str, str]]:
    return [(d, r) for d in imagenet_s_decoders(protocol) for r in IMAGENET_S_RESIZERS]


def _all(protocol: str) -> list[tuple[str, str]]:
    return [(d, r) for d in DECODERS.names() for r in RESIZERS.names()]


PRESETS: dict[str, Callable[[str], list[tuple[str, str]]]] = {
    "imagenet-s": _imagenet_s,
    "all": _all,
}


def check_protocol(protocol: str) -> str:
    """`protocol` if it is one of PROTOCOLS; a one-line error naming them otherwise."""
    if protocol not in PROTOCOLS:
        raise SysnoiseError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    return protocol


def base_pipeline(
    crop_size: int = 224, resize_size: int | None = None, protocol: str = "published"
) -> Pipeline:
    """Pillow / Pillow bilinear at `crop_size`, resized first to `resize_size` (default size x
    8/7), squashed under the published protocol, shorter side under "shorter"."""
    if crop_size < 1:
        raise SysnoiseError(f"crop size must be at least 1, got {crop_size}")
    resize = resize_size if resize_size is not None else int(crop_size * 256 / 224)
    return Pipeline(resize_size=resize, crop_size=crop_size, resize_protocol=_resize(protocol))


def with_protocol(pipeline: Pipeline, protocol: str) -> Pipeline:
    """`pipeline` with `protocol`'s resize (its decoder's EXIF handling is set per variant)."""
    return pipeline.with_changes(resize_protocol=_resize(protocol))


def _resize(protocol: str) -> str:
    return "squash" if check_protocol(protocol) == "published" else "shorter"


def decoder_exif(decoder: str, protocol: str) -> str:
    """How `decoder` treats EXIF orientation under `protocol`, as the generator runs it."""
    return _PUBLISHED_EXIF.get(decoder, "ignore") if protocol == "published" else "ignore"


def _pair(token: str, base: Pipeline, protocol: str) -> list[tuple[str, str]]:
    if token in PRESETS:
        return PRESETS[token](protocol)
    if "/" in token:
        decoder, _, resizer = token.partition("/")
        DECODERS.get(decoder)  # an unknown name lists the valid ones
        RESIZERS.get(resizer)
        return [(decoder, resizer)]
    if token in RESIZERS:
        return [(base.decoder, token)]
    if token in DECODERS:
        return [(token, base.resizer)]
    raise SysnoiseError(
        f"unknown variant {token!r}: give DECODER/RESIZER (`sysnoise list decoders`, "
        f"`sysnoise list resizers`), one decoder or resizer name, or a preset: "
        f"{', '.join(PRESETS)}"
    )


def parse_variants(spec: str, base: Pipeline, protocol: str = "published") -> list[Variant]:
    """The variants a comma-separated `spec` names, in order, without repeats.

    Tokens: a preset, ``DECODER/RESIZER``, or a lone resizer (with the base decoder) or decoder
    (with the base resizer). Side-environment entries (Pillow-SIMD) are registered first. Under
    the published protocol OpenCV and the ffmpeg program apply EXIF orientation, as they do there.
    """
    register_side_entries()
    pairs: list[tuple[str, str]] = []
    for token in filter(None, (part.strip() for part in spec.split(","))):
        pairs += [pair for pair in _pair(token, base, protocol) if pair not in pairs]
    if not pairs:
        raise SysnoiseError(f"no variants in {spec!r}; presets: {', '.join(PRESETS)}")
    return [
        Variant(
            f"{decoder}/{resizer}",
            base.with_changes(
                decoder=decoder, resizer=resizer, exif=decoder_exif(decoder, protocol)
            ),
        )
        for decoder, resizer in pairs
    ]
