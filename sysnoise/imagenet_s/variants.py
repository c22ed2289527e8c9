"""Variants: which decoder x resizer combinations a set holds, named "decoder/resizer" as suites do.

The default, ``imagenet-s``, is the published ImageNet-S grid: 3 decoders (Pillow, OpenCV,
FFmpeg) x 11 resize methods (Pillow nearest, bilinear, bicubic, box, hamming, lanczos; OpenCV
nearest, linear, cubic, area, lanczos4) = 33 variants. ``all`` is every registered decoder x every
registered resizer, side-environment ones (Pillow-SIMD) included.
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

IMAGENET_S_DECODERS = ("pil", "cv2", "pyav")
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


def _imagenet_s() -> list[tuple[str, str]]:
    return [(d, r) for d in IMAGENET_S_DECODERS for r in IMAGENET_S_RESIZERS]


def _all() -> list[tuple[str, str]]:
    return [(d, r) for d in DECODERS.names() for r in RESIZERS.names()]


PRESETS: dict[str, Callable[[], list[tuple[str, str]]]] = {"imagenet-s": _imagenet_s, "all": _all}


def base_pipeline(crop_size: int = 224, resize_size: int | None = None) -> Pipeline:
    """Pillow / Pillow bilinear at `crop_size`, resized first to `resize_size` (default 256/224)."""
    if crop_size < 1:
        raise SysnoiseError(f"crop size must be at least 1, got {crop_size}")
    resize = resize_size if resize_size is not None else int(crop_size * 256 / 224)
    return Pipeline(resize_size=resize, crop_size=crop_size)


def _pair(token: str, base: Pipeline) -> list[tuple[str, str]]:
    if token in PRESETS:
        return PRESETS[token]()
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


def parse_variants(spec: str, base: Pipeline) -> list[Variant]:
    """The variants a comma-separated `spec` names, in order, without repeats.

    Tokens: a preset, ``DECODER/RESIZER``, or a lone resizer (with the base decoder) or decoder
    (with the base resizer). Side-environment entries (Pillow-SIMD) are registered first.
    """
    register_side_entries()
    pairs: list[tuple[str, str]] = []
    for token in filter(None, (part.strip() for part in spec.split(","))):
        pairs += [pair for pair in _pair(token, base) if pair not in pairs]
    if not pairs:
        raise SysnoiseError(f"no variants in {spec!r}; presets: {', '.join(PRESETS)}")
    return [
        Variant(f"{decoder}/{resizer}", base.with_changes(decoder=decoder, resizer=resizer))
        for decoder, resizer in pairs
    ]
