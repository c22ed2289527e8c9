"""Model zoo: one registry of model sources, each with its models' reference pipelines.

A model is named ``KIND:NAME`` (``timm:convnext_tiny.fb_in1k``, ``file:model.onnx``) or by a bare
name that one source claims: a model file path (``.onnx``, ``.pt``, ``.pt2``, ``.engine``), an
EfficientNet-Lite (``efficientnet_lite0``), or a torchvision architecture with an optional
weights tag (``resnet50:IMAGENET1K_V2``). Without a tag torchvision models take IMAGENET1K_V1, the
classic-recipe weights the published system-noise benchmarks measured. Every source finds its
weights offline and reads its reference pipeline from the weights' own preprocessing.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from sysnoise.errors import SysnoiseError, UnknownNameError
from sysnoise.pipeline import Pipeline
from sysnoise.registry import Registry

if TYPE_CHECKING:
    from sysnoise.sources.base import ModelSource

DEFAULT_WEIGHTS_TAG = "IMAGENET1K_V1"


@dataclass(frozen=True)
class ModelSpec:
    """Architecture, weights, and the pipeline those weights were validated with."""

    name: str
    arch: str
    weights_tag: str
    weights_url: str
    reference: Pipeline
    num_classes: int
    published_top1: float | None
    source: str = "torchvision"
    task: str = "classification"  # a `sysnoise.tasks.TASKS` name

    @property
    def weights_filename(self) -> str:
        """The checkpoint's file name (the last part of its URL or path)."""
        return PurePosixPath(urlparse(self.weights_url).path).name


MODEL_SOURCES: Registry[type[Any]] = Registry("model source")
# Bare names are offered to the sources in this order; the first that claims a name opens it.
MODEL_SOURCES.add("file", "sysnoise.sources.files:FileSource")
MODEL_SOURCES.add("efficientnet-lite", "sysnoise.sources.efficientnet_lite:EfficientNetLiteSource")
MODEL_SOURCES.add("torchvision", "sysnoise.sources.torchvision_source:TorchvisionSource")
MODEL_SOURCES.add(
    "torchvision-segmentation",
    "sysnoise.sources.torchvision_segmentation:TorchvisionSegmentationSource",
)
MODEL_SOURCES.add("craft", "sysnoise.sources.craft:CraftSource")
MODEL_SOURCES.add("detection", "sysnoise.sources.detection_source:DetectionSource")
MODEL_SOURCES.add("timm", "sysnoise.sources.timm_source:TimmSource")
MODEL_SOURCES.add("module", "sysnoise.sources.module:ModuleSource")


def open_model(name: str, reference: Pipeline | None = None) -> ModelSource:
    """The model source for `name`; an unknown name raises with the closest known names."""
    kind, separator, rest = name.partition(":")
    if separator and kind in MODEL_SOURCES:
        return MODEL_SOURCES.get(kind).open(rest, reference)
    for kind in MODEL_SOURCES:
        source = MODEL_SOURCES.get(kind)
        if source.claims(name):
            return source.open(name, reference)
    raise UnknownNameError(_unknown_model_message(name))


def resolve_model(name: str) -> ModelSpec:
    """The ModelSpec for a model name (see the module docstring)."""
    return open_model(name).spec


def source_for(spec: ModelSpec) -> ModelSource:
    """The source that loads `spec` (a spec from `resolve_model`)."""
    return MODEL_SOURCES.get(spec.source)(spec)


def known_model_names() -> list[str]:
    """Every name the registered sources can open without a file or an optional library."""
    names: list[str] = []
    for kind in MODEL_SOURCES:
        names.extend(MODEL_SOURCES.get(kind).known_names())
    return names


def _unknown_model_message(name: str) -> str:
    close = difflib.get_close_matches(name, known_model_names(), n=5, cutoff=0.6)
    hint = f"did you mean: {', '.join(close)}" if close else "`sysnoise list models` shows them"
    kinds = ", ".join(f"{k}:" for k in MODEL_SOURCES if k != "module")
    return (
        f"unknown model {name!r}; {hint} (other kinds by prefix: {kinds} "
        "or a model file path)"
    )


@cache
def model_registry() -> Registry[Callable[..., Any]]:
    """torchvision's classification model builders by name (filled on first use)."""
    import torchvision.models

    registry: Registry[Callable[..., Any]] = Registry("model")
    for arch in torchvision.models.list_models(module=torchvision.models):
        registry.add(arch, torchvision.models.get_model_builder(arch))
    return registry


def reference_pipeline(weights: object) -> Pipeline:
    """The Pipeline equivalent to ``weights.transforms()`` applied to a Pillow image."""
    transforms = weights.transforms()  # type: ignore[attr-defined]
    try:
        resize_size = _single(transforms.resize_size)
        crop_size = _single(transforms.crop_size)
        interpolation = transforms.interpolation.value
    except AttributeError as exc:
        raise SysnoiseError(
            f"{weights} has transforms {type(transforms).__name__}, not ImageClassification; "
            "sysnoise cannot read its reference pipeline"
        ) from exc
    return Pipeline(
        decoder="pil",
        resizer=f"pil-{interpolation}",
        resize_size=resize_size,
        crop_size=crop_size,
        mean=tuple(transforms.mean),
        std=tuple(transforms.std),
    )


def _single(value: int | list[int]) -> int:
    if isinstance(value, int):
        return value
    if len(value) != 1:
        raise SysnoiseError(f"expected one size, got {value}")
    return int(value[0])


def torchvision_weights(arch: str, tag: str = "DEFAULT") -> Any:
    """torchvision's weights entry `tag` of `arch` ("" or "DEFAULT": the architecture's default)."""
    import torchvision.models

    weights_enum = torchvision.models.get_model_weights(arch)
    try:
        return weights_enum.DEFAULT if tag in ("", "DEFAULT") else weights_enum[tag]
    except KeyError:
        valid = ", ".join(weights_enum.__members__)
        raise UnknownNameError(f"unknown weights {tag!r} for {arch}; valid: {valid}") from None
