"""Model variants: the same weights run the way each pipeline's model side asks.

A pipeline's model side is (ceil_mode, upsample, backend, precision; for detectors also the
post-processing and the pyramid resizer). `ModelVariants` patches the
model (`sysnoise.noises.model_patches`), hands it to the backend in that precision, and keeps one
prepared backend per distinct variant. A patch that changes nothing in this model is dropped from
the variant (so a combined stack shares forwards with the stack without it), and a pipeline whose
only changes are such patches is *not applicable*. A variant that cannot run here (no GPU, a
missing package: `sysnoise.errors.Unavailable`) is *unavailable*, with the reason; any other
error while preparing it (a failed export, a bug) makes it *failed*, with the error.
"""

from __future__ import annotations

import copy
import hashlib
import traceback
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.backends import BACKENDS, Backend
from sysnoise.backends.base import BackendContext, BackendUnavailable
from sysnoise.errors import Unavailable
from sysnoise.noises.model_patches import not_applicable_reason, patch_model
from sysnoise.noises.postprocess import patch_postprocess_value, postprocess_value_reason
from sysnoise.noises.pyramid import patch_pyramid, pyramid_reason
from sysnoise.pipeline import ModelSide, Pipeline
from sysnoise.sources.base import LoadedModel


@dataclass(frozen=True)
class NotPrepared:
    """Why a variant has no prepared backend: "unavailable" here (with the reason) or "failed"
    (with the error: a bug or a broken library, never to be mistaken for unavailability)."""

    status: str
    reason: str


class ModelSides:
    """The effective model side of each pipeline on one model: patches that change nothing in it
    are dropped (found once per patch on `example`)."""

    def __init__(
        self, model: Any, example: np.ndarray, limits: LoadedModel | None = None
    ) -> None:
        """`limits`, from the model's source, says which model sides cannot apply to it."""
        self.model = model.eval()
        self.example = example
        self.limits = limits
        self._applicability: dict[tuple[str, str], str | None] = {}

    def not_applicable(self, pipeline: Pipeline, reference: Pipeline) -> str | None:
        """Why `pipeline` is the reference on this model (its only changes are model patches
        that change nothing here), or None when it is a real change. Also why a model side
        cannot apply to this model at all (a patch on a model file, a backend that cannot run
        it), from the `limits` its source gave."""
        if self.limits is not None and pipeline != reference:
            reason = self.limits.not_applicable(pipeline)
            if reason is not None:
                return reason
        variant = self.model_side(pipeline)
        effective = pipeline.with_changes(
            ceil_mode=variant.ceil_mode,
            upsample=variant.upsample,
            postprocess=variant.postprocess,
            pyramid=variant.pyramid,
        )
        if effective != reference or pipeline == reference:
            return None
        return "; ".join(self.dropped_patches(pipeline).values())

    def dropped_patches(self, pipeline: Pipeline) -> dict[str, str]:
        """{field: reason} for the model patches of `pipeline` that change nothing here."""
        dropped = {}
        if pipeline.ceil_mode != "model":
            reason = self._patch_reason(pipeline.ceil_mode, "model")
            if reason:
                dropped["ceil_mode"] = reason
        if pipeline.upsample != "model":
            reason = self._patch_reason("model", pipeline.upsample)
            if reason:
                dropped["upsample"] = reason
        if pipeline.postprocess != "model":
            reason = postprocess_value_reason(self.model, pipeline.postprocess)
            if reason:
                dropped["postprocess"] = reason
        if pipeline.pyramid != "model":
            reason = pyramid_reason(self.model, pipeline.pyramid)
            if reason:
                dropped["pyramid"] = reason
        return dropped

    def model_side(self, pipeline: Pipeline) -> ModelSide:
        """The effective model side: patches that change nothing in this model are dropped."""
        dropped = self.dropped_patches(pipeline)
        ceil_mode = "model" if "ceil_mode" in dropped else pipeline.ceil_mode
        upsample = "model" if "upsample" in dropped else pipeline.upsample
        postprocess = "model" if "postprocess" in dropped else pipeline.postprocess
        pyramid = "model" if "pyramid" in dropped else pipeline.pyramid
        return ModelSide(
            ceil_mode, upsample, pipeline.backend, pipeline.precision, postprocess, pyramid
        )

    def _patch_reason(self, ceil_mode: str, upsample: str) -> str | None:
        key = (ceil_mode, upsample)
        if key not in self._applicability:
            import torch

            example = torch.from_numpy(np.ascontiguousarray(self.example[:1]))
            self._applicability[key] = not_applicable_reason(
                self.model, example, ceil_mode, upsample
            )
        return self._applicability[key]


class ModelVariants(ModelSides):
    """A ModelRunner (see `sysnoise.engine`) over every model variant a list of pipelines needs.

    `context` carries the device, the artefact cache, the model's fingerprint and, for INT8, the
    calibration batch. Call `prepare(pipelines)` before evaluating, `close()` after.
    """

    def __init__(
        self,
        model: Any,
        example: np.ndarray,
        context: BackendContext,
        limits: LoadedModel | None = None,
    ) -> None:
        super().__init__(model, example, limits)
        self.context = context
        self._backends: dict[ModelSide, Backend] = {}
        self._not_prepared: dict[ModelSide, NotPrepared] = {}
        self._errors: dict[ModelSide, BaseException] = {}

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

    def prepare(self, pipelines: list[Pipeline]) -> dict[str, NotPrepared]:
        """Prepare a backend for every variant `pipelines` need; {pipeline key: why not} for the
        pipelines whose variant is unavailable here or failed to prepare (they must be left out
        of the evaluation)."""
        not_prepared = {}
        for pipeline in pipelines:
            variant = self.model_side(pipeline)
            if variant not in self._backends and variant not in self._not_prepared:
                self._prepare_variant(variant)
            if variant in self._not_prepared:
                not_prepared[pipeline.key] = self._not_prepared[variant]
        return not_prepared

    def error(self, pipeline: Pipeline) -> BaseException | None:
        """The exception that made `pipeline`'s variant fail to prepare, if one did."""
        return self._errors.get(self.model_side(pipeline))

    def infer(self, model_side: Hashable, batch: np.ndarray) -> np.ndarray:
        """Outputs of a prepared model side."""
        return self._backends[model_side].infer(batch)

    def predict(
        self,
        model_side: ModelSide,
        crops: np.ndarray,
        table: np.ndarray,
        k: int,
        check: Callable[[np.ndarray], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of a prepared model side on uint8 crops (`Backend.predict`)."""
        return self._backends[model_side].predict(crops, table, k, check)

    def describe(self, variant: ModelSide) -> dict[str, Any]:
        """The backend's own account of a prepared variant, with the model patches."""
        facts = dict(self._backends[variant].describe())
        facts.update(ceil_mode=variant.ceil_mode, upsample=variant.upsample, label=variant.label)
        if variant.postprocess != "model":
            facts["postprocess"] = variant.postprocess
        if variant.pyramid != "model":
            facts["pyramid"] = variant.pyramid
        return facts

    def close(self) -> None:
        """Release every prepared backend."""
        for backend in self._backends.values():
            backend.release()
        self._backends.clear()

    def _prepare_variant(self, variant: ModelSide) -> None:
        try:
            backend = variant_backend(variant, self.context, self.model)
            backend.prepare(patched_model(self.model, variant), self.example)
        except Unavailable as exc:
            self._not_prepared[variant] = NotPrepared("unavailable", str(exc))
            return
        except Exception as exc:  # recorded as this variant's failure, with the error
            self._errors[variant] = exc
            self._not_prepared[variant] = NotPrepared("failed", failure_text(variant, exc))
            return
        self._backends[variant] = backend


def variant_backend(variant: ModelSide, context: BackendContext, model: Any = None) -> Backend:
    """The backend that runs `variant`, not yet prepared: the registry's class in the variant's
    precision, its artefacts keyed by the patched model. Unavailable when it cannot run here.
    A `model` with a `backend_for` method (a detector) says how that class runs it."""
    backend_class = BACKENDS.get(variant.backend)
    reason = backend_class.availability(variant.precision)
    if reason is not None:
        raise BackendUnavailable(f"{variant.backend}: {reason}")
    context = variant_context(context, variant)
    backend_for = getattr(model, "backend_for", None)
    if backend_for is not None:
        return backend_for(backend_class, variant.precision, context)
    return backend_class(precision=variant.precision, context=context)


def variant_context(context: BackendContext, variant: ModelSide) -> BackendContext:
    """`context` for one variant: the patched model's id, calibration only for INT8."""
    model_id = variant_model_id(
        context.model_id, variant.ceil_mode, variant.upsample, variant.postprocess, variant.pyramid
    )
    context = replace(context, model_id=model_id)
    return context if variant.precision == "int8" else replace(context, calibration=None)


def patched_model(model: Any, variant: ModelSide) -> Any:
    """A copy of `model` with `variant`'s model patches, post-processing and pyramid resizer."""
    patched = patch_model(copy.deepcopy(model), variant.ceil_mode, variant.upsample)
    return patch_pyramid(patch_postprocess_value(patched, variant.postprocess), variant.pyramid)


def failure_text(variant: ModelSide, exc: BaseException) -> str:
    """One line for a variant that failed to prepare: the error and where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{variant.label} failed to prepare: {type(exc).__name__}: {exc}{where}"


def variant_model_id(
    model_id: str,
    ceil_mode: str,
    upsample: str,
    postprocess: str = "model",
    pyramid: str = "model",
) -> str:
    """The id of a model with its patches: what keys its exported and compiled artefacts."""
    text = f"{model_id}\n{ceil_mode}\n{upsample}"
    if postprocess != "model":  # ids of classifiers' variants stay as they were
        text += f"\n{postprocess}"
    if pyramid != "model":
        text += f"\npyramid={pyramid}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
