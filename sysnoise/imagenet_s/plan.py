"""Which stored variant is the reference for a model, and which are its noises."""

from __future__ import annotations

import dataclasses
from typing import Any

from sysnoise.errors import SysnoiseError
from sysnoise.imagenet_s.dataset import StoredSet, StoredVariant
from sysnoise.noises.suites import Noise, Suite
from sysnoise.pipeline import Pipeline

SUITE_NAME = "imagenet-s-stored"


# Pipeline fields that act after the uint8 crop: never part of a stored variant's "noise".
_AFTER_PIXELS = frozenset({"mean", "std", "ceil_mode", "upsample", "backend", "precision"})


@dataclasses.dataclass(frozen=True)
class StoredPlan:
    """What to evaluate: the reference and the noises, each with the stored variant behind it."""

    reference: Pipeline
    suite: Suite
    noises: list[tuple[Noise, Pipeline]]
    variants: dict[str, StoredVariant]  # pipeline key -> stored variant

    @property
    def pipelines(self) -> list[Pipeline]:
        """The reference first, then each noise's pipeline."""
        return [self.reference] + [pipeline for _, pipeline in self.noises]


def _changes(stored: Pipeline, reference: Pipeline) -> dict[str, Any]:
    """The pixel-side fields in which `stored` differs from `reference` (decoder and resizer
    always, as the imagenet-s suite names them)."""
    changes = {"decoder": stored.decoder, "resizer": stored.resizer}
    for field in dataclasses.fields(Pipeline):
        value = getattr(stored, field.name)
        if field.name not in _AFTER_PIXELS and value != getattr(reference, field.name):
            changes[field.name] = value
    return changes


def _same_but_protocol(stored: Pipeline, reference: Pipeline) -> bool:
    protocol = stored.resize_protocol
    return stored.pixel_fields == reference.with_changes(resize_protocol=protocol).pixel_fields


def plan_stored(
    stored: StoredSet, reference: Pipeline, names: list[str] | None = None
) -> StoredPlan:
    """Match the stored variants to `reference`: the first one with its pixels is the reference.

    A set made under another resize protocol (the published ImageNet-S squashes) is evaluated
    under its own: the reference is then the model's reference pipeline with the set's resize
    protocol, as the published set's Pillow bilinear variant is. `names` picks the variants to
    evaluate as noises (default: all stored ones).
    """
    variants = stored.variants
    matches = [v for v in variants.values() if v.pipeline.pixel_fields == reference.pixel_fields]
    if not matches:
        matches = [v for v in variants.values() if _same_but_protocol(v.pipeline, reference)]
        if matches:
            reference = reference.with_changes(resize_protocol=matches[0].pipeline.resize_protocol)
    if not matches:
        raise SysnoiseError(
            f"{stored.root} has no variant with the model's reference pixels "
            f"({reference.decoder}/{reference.resizer}, resize {reference.resize_size}, crop "
            f"{reference.crop_size}); generate it: `sysnoise imagenet-s generate --variants "
            f"{reference.decoder}/{reference.resizer} --model MODEL ...`"
        )
    reference_variant = matches[0]
    chosen = [stored.variant(name) for name in (names or stored.names)]
    noises = [
        Noise(v.name, _changes(v.pipeline, reference)) for v in chosen if v is not reference_variant
    ]
    description = (
        f"stored ImageNet-S variants at {stored.root} (reference: {reference_variant.name})"
    )
    suite = Suite(SUITE_NAME, description, lambda: noises)
    resolved = suite.resolve(reference)
    by_key = {reference.key: reference_variant}
    for noise, pipeline in resolved:
        if pipeline.pixel_fields != variants[noise.name].pipeline.pixel_fields:
            raise RuntimeError(f"{noise.name}: pipeline does not reproduce the stored pixels")
        by_key[pipeline.key] = variants[noise.name]
    return StoredPlan(reference, suite, resolved, by_key)
