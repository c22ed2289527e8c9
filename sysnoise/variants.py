"""Model variants: the same weights run the way each pipeline's model side asks.

A pipeline's model side is (ceil_mode, upsample, backend, precision). `ModelVariants` patches the
model (`sysnoise.noises.model_patches`), hands it to the backend in that precision, and keeps one
prepared backend per distinct variant. A patch that changes nothing in this model is dropped from
the variant (so a combined stack shares forwards with the stack without it), and a pipeline whose
only changes are such patches is *not applicable*. A variant that cannot run here (no GPU, no
calibration images, a failed export) is *unavailable*, with the reason.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sysnoise.backends import BACKENDS, Backend
from sysnoise.backends.base import BackendContext
from sysnoise.noises.model_patches import not_applicable_reason, patch_model
from sysnoise.pipeline import Pipeline, model_side_label

REFERENCE_SIDE = Pipeline().model_fields


@dataclass(frozen=True)
class Variant:
    """The effective model side of a pipeline on one model."""

    ceil_mode: str
    upsample: str
    backend: str
    precision: str

    @property
    def label(self) -> str:
        """Short human name, e.g. 'onnxruntime-int8' or 'torch-fp32+ceil_mode=flipped'."""
        return model_side_label(self.ceil_mode, self.upsample, self.backend, self.precision)


class ModelVariants:
    """A ModelRunner (see `sysnoise.engine`) over every model variant a list of pipelines needs.

    `context` carries the device, the artefact cache, the model's fingerprint and, for INT8, the
    calibration batch. Call `prepare(pipelines)` before evaluating, `close()` after.
    """

    def __init__(self, model: Any, example: np.ndarray, context: BackendContext) -> None:
        self.model = model.eval()
        self.example = example
        self.context = context
        self._applicability: dict[tuple[str, str], str | None] = {}
        self._backends: dict[Variant, Backend] = {}
        self._failed: dict[Variant, str] = {}

    def not_applicable(self, pipeline: Pipeline, reference: Pipeline) -> str | None:
        """Why `pipeline` is the reference on this model (its only changes are model patches
        that change nothing here), or None when it is a real change."""
        variant = self.variant(pipeline)
        effective = pipeline.with_changes(ceil_mode=variant.ceil_mode, upsample=variant.upsample)
        if effective != reference or pipeline == reference:
            return None
        reasons = [
            self._patch_reason(pipeline.ceil_mode, "model"),
            self._patch_reason("model", pipeline.upsample),
        ]
        return "; ".join(r for r in reasons if r)

    def variant(self, pipeline: Pipeline) -> Variant:
        """The effective variant: patches that change nothing in this model are dropped."""
        ceil_mode, upsample = pipeline.ceil_mode, pipeline.upsample
        if ceil_mode != "model" and self._patch_reason(ceil_mode, "model"):
            ceil_mode = "model"
        if upsample != "model" and self._patch_reason("model", upsample):
            upsample = "model"
        return Variant(ceil_mode, upsample, pipeline.backend, pipeline.precision)

    def store_key(self, pipeline: Pipeline) -> str:
        """`pipeline.key`, plus the calibration's fingerprint for INT8 predictions."""
        if pipeline.precision != "int8":
            return pipeline.key
        return f"{pipeline.key}-cal{self.calibration_id()}"

    def calibration_id(self) -> str:
        """Short hash of the calibration batch and method (empty without calibration)."""
        if self.context.calibration is None:
            return ""
        digest = hashlib.sha256(np.ascontiguousarray(self.context.calibration).tobytes())
        digest.update(self.context.calibration_method.encode())
        return digest.hexdigest()[:12]

    def prepare(self, pipelines: list[Pipeline]) -> dict[str, str]:
        """Prepare a backend for every variant `pipelines` need; {pipeline key: reason} for the
        pipelines whose variant cannot run here (they must be left out of the evaluation)."""
        unavailable = {}
        for pipeline in pipelines:
            variant = self.variant(pipeline)
            if variant not in self._backends and variant not in self._failed:
                self._prepare_variant(variant)
            if variant in self._failed:
                unavailable[pipeline.key] = self._failed[variant]
        return unavailable

    def infer(self, variant: Hashable, batch: np.ndarray) -> np.ndarray:
        """Logits of a prepared variant."""
        return self._backends[variant].infer(batch)

    def describe(self, variant: Variant) -> dict[str, Any]:
        """The backend's own account of a prepared variant, with the model patches."""
        facts = dict(self._backends[variant].describe())
        facts.update(ceil_mode=variant.ceil_mode, upsample=variant.upsample, label=variant.label)
        return facts

    def close(self) -> None:
        """Release every prepared backend."""
        for backend in self._backends.values():
            backend.release()
        self._backends.clear()

    def _patch_reason(self, ceil_mode: str, upsample: str) -> str | None:
        key = (ceil_mode, upsample)
        if key not in self._applicability:
            import torch

            example = torch.from_numpy(np.ascontiguousarray(self.example[:1]))
            self._applicability[key] = not_applicable_reason(
                self.model, example, ceil_mode, upsample
            )
        return self._applicability[key]

    def _prepare_variant(self, variant: Variant) -> None:
        from sysnoise.errors import SysnoiseError

        try:
            backend_class = BACKENDS.get(variant.backend)
            reason = backend_class.availability(variant.precision)
            if reason is not None:
                self._failed[variant] = f"{variant.backend}: {reason}"
                return
            model = patch_model(copy.deepcopy(self.model), variant.ceil_mode, variant.upsample)
            model_id = variant_model_id(self.context.model_id, variant.ceil_mode, variant.upsample)
            context = replace(self.context, model_id=model_id)
            if variant.precision != "int8":
                context = replace(context, calibration=None)
            backend = backend_class(precision=variant.precision, context=context)
            backend.prepare(model, self.example)
        except SysnoiseError as exc:
            self._failed[variant] = str(exc)
            return
        except Exception as exc:  # an exporter or a compiler may fail on one model
            self._failed[variant] = (
                f"{variant.label} failed to prepare: {type(exc).__name__}: {exc}"
            )
            return
        self._backends[variant] = backend


def variant_model_id(model_id: str, ceil_mode: str, upsample: str) -> str:
    """The id of a model with its patches: what keys its exported and compiled artefacts."""
    text = f"{model_id}\n{ceil_mode}\n{upsample}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
