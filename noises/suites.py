"""Suites: named lists of noises, each a declared change to a model's reference pipeline.

Suites are data: a table of changes, or the product of the decoder and resizer tables. Which
category a noise falls in is read off the fields it actually changes, so the same suite stays
honest for a model whose reference resizer is bicubic rather than bilinear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sysnoise.noises.decoders import DECODERS
from sysnoise.noises.resizers import RESIZERS
from sysnoise.pipeline import Pipeline
from sysnoise.registry import Registry

_CATEGORY_OF_FIELD = {
    "decoder": "decoder",
    "resizer": "resize",
    "resize_protocol": "resize",
    "resize_size": "resize",
    "crop_size": "resize",
    "colour": "colour",
    "exif": "decoder",
    "ceil_mode": "ceil_mode",
    "upsample": "upsample",
    "postprocess": "postprocess",
    "pyramid": "resize",  # the resize inside a model with its own image pyramid (MTCNN)
    "backend": "backend",
    "precision": "precision",
}


@dataclass(frozen=True)
class Noise:
    """A named change to the reference pipeline; `category` is derived when left empty."""

    name: str
    changes: Mapping[str, Any]
    category: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", MappingProxyType(dict(self.changes)))

    def apply(self, reference: Pipeline) -> Pipeline:
        """The noisy pipeline: the reference with this noise's changes. Under the detection
        protocol ("shorter-capped", whose `crop_size` is the longer side's cap, not a crop),
        another protocol resizes the whole image to `resize_size` (``resize=squash``: a square
        of it), so the cap is dropped to that size."""
        changes = dict(self.changes)
        protocol = changes.get("resize_protocol", reference.resize_protocol)
        if reference.resize_protocol == "shorter-capped" != protocol and "crop_size" not in changes:
            changes["crop_size"] = min(
                reference.crop_size, changes.get("resize_size", reference.resize_size)
            )
        return reference.with_changes(**changes)

    def category_for(self, reference: Pipeline) -> str:
        """This noise's category against `reference`: the declared one, or the changed fields'."""
        if self.category:
            return self.category
        changed = [f for f, v in self.changes.items() if getattr(reference, f) != v]
        categories = sorted({_CATEGORY_OF_FIELD.get(f, f) for f in changed})
        return "+".join(categories)


@dataclass(frozen=True)
class Suite:
    """A named list of noises."""

    name: str
    description: str
    build: Callable[[], list[Noise]]
    # For a suite whose noises follow the model's reference (the published ImageNet-S grid's
    # FFmpeg decoder follows its resize protocol); `build` lists them for the default reference.
    build_for: Callable[[Pipeline], list[Noise]] | None = None

    def noises(self, reference: Pipeline | None = None) -> list[Noise]:
        """The suite's noises for `reference` (for the default reference when None)."""
        if reference is None or self.build_for is None:
            return self.build()
        return self.build_for(reference)

    def resolve(self, reference: Pipeline) -> list[tuple[Noise, Pipeline]]:
        """Noises with their pipelines, dropping any that equals the reference. Two noises may
        share a pipeline (a combined stack's first step is a single noise); they share its
        predictions."""
        resolved = []
        for noise in self.noises(reference):
            pipeline = noise.apply(reference)
            if pipeline != reference:
                resolved.append((noise, pipeline))
        return resolved


SUITES: Registry[Suite] = Registry("suite", Suite)


def _decoders_x_resizers() -> list[Noise]:
    return [
        Noise(f"{decoder}/{resizer}", {"decoder": decoder, "resizer": resizer})
        for decoder in DECODERS.names()
        for resizer in RESIZERS.names()
    ]


def _imagenet_s_for(reference: Pipeline) -> list[Noise]:
    """The published ImageNet-S grid (the `imagenet-s generate` preset): under a squashing
    reference the published protocol's decoders as it runs them (the ffmpeg program; OpenCV and
    FFmpeg applying EXIF orientation), otherwise the shorter-side protocol's (FFmpeg via PyAV)."""
    from sysnoise.imagenet_s.variants import decoder_exif
    from sysnoise.robustart import published_grid

    protocol = "published" if reference.resize_protocol == "squash" else "shorter"
    noises = []
    for decoder, resizer in published_grid(protocol):
        changes = {"decoder": decoder, "resizer": resizer}
        exif = decoder_exif(decoder, protocol)
        if exif != reference.exif:
            changes["exif"] = exif
        noises.append(Noise(f"{decoder}/{resizer}", changes))
    return noises


def _imagenet_s() -> list[Noise]:
    return _imagenet_s_for(Pipeline())


_QUICK = [
    ("decoder=cv2", {"decoder": "cv2"}),
    ("decoder=pyav", {"decoder": "pyav"}),
    ("decoder=turbo-fastdct", {"decoder": "turbo-fastdct"}),
    ("decoder=pil-draft", {"decoder": "pil-draft"}),
    ("resize=cv2-linear", {"resizer": "cv2-linear"}),
    ("resize=pil-nearest", {"resizer": "pil-nearest"}),
    ("resize=torch-bilinear", {"resizer": "torch-bilinear"}),
    ("resize=squash", {"resize_protocol": "squash"}),
]


def _quick() -> list[Noise]:
    return [Noise(name, changes) for name, changes in _QUICK]


# SysNoise: every category once or a few times, then the worst realistic deployment stack,
# one step after another (each combined row is cumulative; the report shows each step's share).
_SYSNOISE = [
    *(
        (f"decoder={d}", "decoder", {"decoder": d})
        for d in ("cv2", "pyav", "turbo-fastdct", "turbo-fastupsample", "pil-draft", "nvjpeg")
    ),
    # OpenCV as it decodes by default (IMREAD_COLOR): EXIF-tagged photos come out turned.
    ("decoder=cv2-imread-color", "decoder", {"decoder": "cv2", "exif": "apply"}),
    *(
        (f"resize={r}", "resize", {"resizer": r})
        for r in (
            "pil-nearest",
            "pil-bicubic",
            "cv2-nearest",
            "cv2-linear",
            "cv2-cubic",
            "cv2-area",
            "torch-bilinear",
            "torch-bilinear-aa",
        )
    ),
    ("resize=squash", "resize", {"resize_protocol": "squash"}),
    # A model's own image pyramid (MTCNN's area interpolation) rebuilt with OpenCV's area or
    # Pillow's bilinear resize; not applicable, with the reason, to models without one.
    *((f"pyramid={r}", "resize", {"pyramid": r}) for r in ("cv2-area", "pil-bilinear")),
    *(
        (f"colour={c}", "colour", {"colour": c})
        for c in (
            "yuv420-bt601-full",
            "yuv420-bt601-limited",
            "yuv420-bt709-limited",
            "yuv420-bt601-limited-as-bt709-limited",
            "yuv420-bt709-limited-as-bt601-limited",
            "yuv420-bt601-full-as-bt601-limited",
            "yuv420-bt601-limited-as-bt601-full",
        )
    ),
    ("ceil_mode=flipped", "ceil_mode", {"ceil_mode": "flipped"}),
    *(
        (f"upsample={u}", "upsample", {"upsample": u})
        for u in ("nearest", "bilinear", "bilinear-align-corners")
    ),
    # Detectors' post-processing (not applicable, with the reason, to classifiers and
    # segmentation models); the reference NMS, torchvision's batched one, is every detector's own,
    # and the mask paste noises apply to models with instance masks (Mask R-CNN).
    *(
        (f"postprocess={p}", "postprocess", {"postprocess": p})
        for p in (
            "nms-torchvision-coordinate-trick",
            "nms-torchvision-per-class",
            "nms-onnxruntime",
            "topk-first",
            "box-offset-flipped",
            "mask-paste-nearest",
            "mask-paste-bilinear-align-corners",
        )
    ),
    ("precision=torch-fp16", "precision", {"precision": "fp16"}),
    ("precision=torch-bf16", "precision", {"precision": "bf16"}),
    ("precision=torch-int8", "precision", {"precision": "int8"}),
    ("precision=onnxruntime-int8", "precision", {"backend": "onnxruntime", "precision": "int8"}),
    ("precision=tensorrt-fp16", "precision", {"backend": "tensorrt", "precision": "fp16"}),
    ("precision=tensorrt-int8", "precision", {"backend": "tensorrt", "precision": "int8"}),
    ("backend=torch-channels-last", "backend", {"backend": "torch-channels-last"}),
    ("backend=onnxruntime", "backend", {"backend": "onnxruntime"}),
    ("backend=onnxruntime-noopt", "backend", {"backend": "onnxruntime-noopt"}),
    ("backend=tensorrt", "backend", {"backend": "tensorrt"}),
]
COMBINED_STEPS = (
    ("decoder=pyav", {"decoder": "pyav"}),
    ("resize=cv2-linear", {"resizer": "cv2-linear"}),
    ("colour=yuv420-bt601-limited", {"colour": "yuv420-bt601-limited"}),
    ("ceil_mode=flipped", {"ceil_mode": "flipped"}),
    ("precision=onnxruntime-int8", {"backend": "onnxruntime", "precision": "int8"}),
)


def _sysnoise() -> list[Noise]:
    noises = [Noise(name, changes, category) for name, category, changes in _SYSNOISE]
    changes: dict[str, Any] = {}
    for step, (name, step_changes) in enumerate(COMBINED_STEPS, start=1):
        changes |= step_changes
        noises.append(Noise(f"combined/{step}:{name}", changes, "combined"))
    return noises


SUITES.add(
    "sysnoise",
    Suite(
        "sysnoise",
        "SysNoise: decoder, resize, colour, ceil_mode, upsample, post-processing, precision and "
        "backend noises, and the combined deployment stack step by step",
        _sysnoise,
    ),
)
SUITES.add(
    "imagenet-s",
    Suite(
        "imagenet-s",
        "the published ImageNet-S grid: 3 decoders (Pillow, OpenCV, FFmpeg) x 11 resize methods "
        "(Pillow and OpenCV), against the model's reference pipeline",
        _imagenet_s,
        _imagenet_s_for,
    ),
)
SUITES.add(
    "decoders-x-resizers",
    Suite(
        "decoders-x-resizers",
        "every registered decoder x every registered resizer, against the model's reference "
        "pipeline",
        _decoders_x_resizers,
    ),
)
SUITES.add(
    "quick",
    Suite("quick", "a handful of decoder and resize noises, for a fast look and for tests", _quick),
)
