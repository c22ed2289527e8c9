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
        """The noisy pipeline: the reference with this noise's changes."""
        return reference.with_changes(**self.changes)

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

    def resolve(self, reference: Pipeline) -> list[tuple[Noise, Pipeline]]:
        """Noises with their pipelines, dropping any that equals the reference or a previous one."""
        seen = {reference}
        resolved = []
        for noise in self.build():
            pipeline = noise.apply(reference)
            if pipeline in seen:
                continue
            seen.add(pipeline)
            resolved.append((noise, pipeline))
        return resolved


SUITES: Registry[Suite] = Registry("suite", Suite)


def _imagenet_s() -> list[Noise]:
    return [
        Noise(f"{decoder}/{resizer}", {"decoder": decoder, "resizer": resizer})
        for decoder in DECODERS.names()
        for resizer in RESIZERS.names()
    ]


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


SUITES.add(
    "imagenet-s",
    Suite(
        "imagenet-s",
        "every decoder x every resizer (ImageNet-S), against the model's reference pipeline",
        _imagenet_s,
    ),
)
SUITES.add(
    "quick",
    Suite("quick", "a handful of decoder and resize noises, for a fast look and for tests", _quick),
)
