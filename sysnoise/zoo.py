"""Model zoo: torchvision ImageNet classifiers with their reference pipelines.

A model name is a torchvision architecture, optionally with a weights tag after a colon
(``resnet50:IMAGENET1K_V2``). Without a tag the zoo takes IMAGENET1K_V1, the classic-recipe
weights the published system-noise benchmarks measured. The reference pipeline is read from the
weights' own ``transforms()``: Pillow decoding (torchvision's ImageFolder loader) and Pillow
resizing with the weights' interpolation, resize and crop sizes, mean and std.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from sysnoise.errors import SysnoiseError, UnknownNameError
from sysnoise.pipeline import Pipeline
from sysnoise.registry import Registry

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

    @property
    def weights_filename(self) -> str:
        """The checkpoint's file name in torchvision's cache (the last part of its URL)."""
        return PurePosixPath(urlparse(self.weights_url).path).name


@cache
def model_registry() -> Registry[Callable[..., Any]]:
    """torchvision's classification model builders by name (filled on first use)."""
    import torchvision.models

    registry: Registry[Callable[..., Any]] = Registry("model")
    for arch in torchvision.models.list_models(module=torchvision.models):
        registry.add(arch, torchvision.models.get_model_builder(arch))
    return registry


def resolve_model(name: str) -> ModelSpec:
    """The ModelSpec for ``arch`` or ``arch:WEIGHTS_TAG``; unknown names list the valid ones."""
    import torchvision.models

    arch, _, tag = name.partition(":")
    model_registry().get(arch)
    weights_enum = torchvision.models.get_model_weights(arch)
    tag = tag or (
        DEFAULT_WEIGHTS_TAG if DEFAULT_WEIGHTS_TAG in weights_enum.__members__ else "DEFAULT"
    )
    try:
        weights = weights_enum[tag] if tag != "DEFAULT" else weights_enum.DEFAULT
    except KeyError:
        valid = ", ".join(weights_enum.__members__)
        raise UnknownNameError(f"unknown weights {tag!r} for {arch}; valid: {valid}") from None
    return ModelSpec(
        name=f"{arch}:{weights.name}" if weights.name != DEFAULT_WEIGHTS_TAG else arch,
        arch=arch,
        weights_tag=weights.name,
        weights_url=weights.url,
        reference=reference_pipeline(weights),
        num_classes=len(weights.meta["categories"]),
        published_top1=weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1"),
    )


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
