"""Which stored variant is the reference for a model, and which are its noises."""

from __future__ import annotations

import dataclasses
from typing import Any

from sysnoise.errors import SysnoiseError
from sysnoise.imagenet_s.dataset import StoredSet, StoredVariant
from sysnoise.noises.suites import Noise, Suite
from sysnoise.pipeline import PIXEL_FIELDS, Pipeline, PixelSide

SUITE_NAME = "imagenet-s-stored"


@dataclasses.dataclass(frozen=True)
class StoredPlan:
    """What to evaluate: the reference and the noises, each with the stored variant that holds
    its pixels, and the suite's noises whose pixels the set does not hold (with the reason)."""

    reference: Pipeline
    suite: Suite
    noises: list[tuple[Noise, Pipeline]]
    variants: dict[PixelSide, StoredVariant]  # pipeline.pixel_side -> stored variant
    not_stored: list[tuple[Noise, str]] = dataclasses.field(default_factory=list)

    @property
    def pipelines(self) -> list[Pipeline]:
        """The reference first, then each noise's pipeline."""
        return [self.reference] + [pipeline for _, pipeline in self.noises]

    def variant(self, pipeline: Pipeline) -> StoredVariant:
        """The stored variant that holds `pipeline`'s model inputs."""
        return self.variants[pipeline.pixel_side]


def _changes(stored: Pipeline, reference: Pipeline) -> dict[str, Any]:
    """The pixel-side fields in which `stored` differs from `reference` (decoder and resizer
    always, as the imagenet-s suite names them)."""
    changes = {"decoder": stored.decoder, "resizer": stored.resizer}
    for name in PIXEL_FIELDS:
        if getattr(stored, name) != getattr(reference, name):
            changes[name] = getattr(stored, name)
    return changes


def _same_but_protocol(stored: Pipeline, reference: Pipeline) -> bool:
    protocol = stored.resize_protocol
    return stored.pixel_side == reference.with_changes(resize_protocol=protocol).pixel_side


def plan_stored(
    stored: StoredSet,
    reference: Pipeline,
    names: list[str] | None = None,
    suite: Suite | None = None,
) -> StoredPlan:
    """Match the stored variants to `reference`: the first one with its pixels is the reference.

    Without `suite`, the noises are the stored variants (`names`, default all of them). With a
    suite, its noises are evaluated on the stored pixels: a model-side noise (precision, backend,
    patches) on the reference's crops, a pixel-side one where the set holds its pixels; the rest
    are `not_stored`.

    A set made under another resize protocol (the published ImageNet-S squashes) is evaluated
    under its own: the reference is then the model's reference pipeline with the set's resize
    protocol, as the published set's Pillow bilinear variant is. `names` picks the variants to
    evaluate as noises (default: all stored ones).
    """
    variants = stored.variants
    matches = [v for v in variants.values() if v.pipeline.pixel_side == reference.pixel_side]
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
    by_pixels = {reference.pixel_side: reference_variant}
    for variant in variants.values():
        by_pixels.setdefault(variant.pipeline.pixel_side, variant)
    stored_noises = suite is None
    if suite is None:
        chosen = [stored.variant(name) for name in (names or stored.names)]
        noises = [
            Noise(v.name, _changes(v.pipeline, reference))
            for v in chosen
            if v is not reference_variant
        ]
        description = (
            f"stored ImageNet-S variants at {stored.root} (reference: {reference_variant.name})"
        )
        suite = Suite(SUITE_NAME, description, lambda: noises)
    evaluated, not_stored = [], []
    for noise, pipeline in suite.resolve(reference):
        if stored_noises and pipeline.pixel_side != variants[noise.name].pipeline.pixel_side:
            raise RuntimeError(f"{noise.name}: pipeline does not reproduce the stored pixels")
        if pipeline.pixel_side in by_pixels:
            evaluated.append((noise, pipeline))
        else:
            not_stored.append((noise, f"{stored.root} holds no variant with its pixels"))
    return StoredPlan(reference, suite, evaluated, by_pixels, not_stored)
