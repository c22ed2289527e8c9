"""The resizer of a model's own image pyramid: a resize noise inside the model.

MTCNN scales each image into a pyramid (and its later stages resample face crops to 24 and 48
pixels) with `F.interpolate(mode="area")`; deployments rebuild that pyramid with whatever their
image library offers. A pipeline's `pyramid` field names a registered resizer (``sysnoise list
resizers``) that the model then resamples with ("model": its own). The noise is
``pyramid=<resizer>`` (category ``resize``). A model without its own resampler (a
`pyramid_resizer` attribute, as `sysnoise.detection.mtcnn.MTCNNDetector` has) is *not
applicable*, with the reason: for torchvision's detectors and for classifiers the resize noises
already reach every resize, in the pipeline.
"""

from __future__ import annotations

import copy
from typing import Any

from sysnoise.errors import SysnoiseError
from sysnoise.noises.resizers import RESIZERS


def pyramid_reason(model: Any, resizer: str) -> str | None:
    """Why resampling `model`'s pyramid with `resizer` changes nothing or cannot apply (None: it
    applies). `model` may be a detector or one wrapped as `PackedDetector`."""
    if resizer == "model":
        return None
    inner = getattr(model, "detector", model)
    if not hasattr(inner, "pyramid_resizer"):
        name = type(getattr(inner, "model", inner)).__name__
        return f"{name} has no image pyramid of its own: the resize noises reach all its resizing"
    return None


def patch_pyramid(model: Any, resizer: str) -> Any:
    """`model` (shallow copy, weights shared) resampling its pyramid with `resizer` (itself for
    "model")."""
    if resizer == "model":
        return model
    if resizer not in RESIZERS:
        valid = ", ".join(["model", *RESIZERS.names()])
        raise SysnoiseError(f"unknown pyramid resizer {resizer!r}; valid: {valid}")
    reason = pyramid_reason(model, resizer)
    if reason is not None:
        raise SysnoiseError(f"pyramid noise not applicable: {reason}")
    inner = getattr(model, "detector", None)
    if inner is None:
        patched = copy.copy(model)
        patched.pyramid_resizer = resizer
        return patched
    patched = copy.copy(model)
    patched._modules = dict(model._modules)  # a shallow copy shares its sub-module table
    patched.detector = patch_pyramid(inner, resizer)
    return patched
