"""Model-level noises: the same weights with a layer's behaviour switched, as another framework or
an inference converter may run them.

- `ceil_mode="flipped"`: every max-pool's ceil_mode is inverted (SysNoise's ceil-mode noise; on
  ResNet's stem a 112x112 map pools to 57x57 instead of 56x56).
- `upsample=<op>`: every upsampling of a 4-D tensor (`nn.Upsample` or `F.interpolate`, which
  `nn.Upsample` calls) runs with another op: `nearest`, `nearest-exact`, `bilinear`
  (align_corners=False) or `bilinear-align-corners`; output sizes are kept.

A patch that finds nothing to change in a model is *not applicable* to it, and says why: that
model has no such noise, which is not the same as a noise of zero.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

from sysnoise.errors import SysnoiseError

CEIL_MODES = ("model", "flipped")
UPSAMPLE_OPS = {  # name -> (interpolate mode, align_corners)
    "nearest": ("nearest", None),
    "nearest-exact": ("nearest-exact", None),
    "bilinear": ("bilinear", False),
    "bilinear-align-corners": ("bilinear", True),
}


def check_model_fields(ceil_mode: str, upsample: str) -> None:
    """Fail with the valid values when a pipeline names an unknown patch."""
    if ceil_mode not in CEIL_MODES:
        raise SysnoiseError(f"unknown ceil_mode {ceil_mode!r}; valid: {', '.join(CEIL_MODES)}")
    if upsample != "model" and upsample not in UPSAMPLE_OPS:
        raise SysnoiseError(
            f"unknown upsample op {upsample!r}; valid: model, {', '.join(UPSAMPLE_OPS)}"
        )


def max_pools(model: Any) -> list[str]:
    """Names of the model's max-pool modules."""
    import torch.nn as nn

    kinds = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
    return [name for name, module in model.named_modules() if isinstance(module, kinds)]


def flip_ceil_mode(model: Any) -> Any:
    """A copy of `model` with every max-pool's ceil_mode inverted."""
    patched = copy.deepcopy(model)
    names = set(max_pools(patched))
    for name, module in patched.named_modules():
        if name in names:
            module.ceil_mode = not module.ceil_mode
    return patched


@contextlib.contextmanager
def swapped_interpolate(
    op: str | None, calls: list[tuple[str, bool]] | None = None
) -> Iterator[None]:
    """Within the block, 4-D `F.interpolate` calls run with `op` (None: unchanged).

    Each 4-D call's original (mode, align_corners) is appended to `calls` when given, to tell
    whether a model upsamples at all.
    """
    import torch.nn.functional as F

    original = F.interpolate

    def interpolate(input: Any, *args: Any, **kwargs: Any) -> Any:
        if input.dim() != 4:
            return original(input, *args, **kwargs)
        names = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")
        bound = dict(zip(names, args, strict=False)) | kwargs
        if calls is not None:
            calls.append((bound.get("mode", "nearest"), bool(bound.get("align_corners"))))
        if op is not None:
            bound["mode"], bound["align_corners"] = UPSAMPLE_OPS[op]
        return original(input, **bound)

    F.interpolate = interpolate
    try:
        yield
    finally:
        F.interpolate = original


def upsampling_calls(model: Any, example: Any) -> list[tuple[str, bool]]:
    """(mode, align_corners) of each 4-D upsampling call in one forward of `model` on `example`."""
    import torch

    calls: list[tuple[str, bool]] = []
    with torch.inference_mode(), swapped_interpolate(None, calls):
        model(example[:1])
    return calls


def swap_upsampling(model: Any, op: str) -> Any:
    """A copy of `model` whose forward runs every 4-D upsampling with `op`.

    The copy keeps the model's class (a subclass of it) and its module names, so per-layer
    comparisons line up, and torch.onnx traces the swapped op.
    """
    patched = copy.copy(model)
    base = type(model)

    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        with swapped_interpolate(op):
            return base.forward(self, *args, **kwargs)

    patched.__class__ = type(f"{base.__name__}Upsample{op.title()}", (base,), {"forward": forward})
    return patched


def not_applicable_reason(model: Any, example: Any, ceil_mode: str, upsample: str) -> str | None:
    """Why the patches of (`ceil_mode`, `upsample`) change nothing in `model`, or None."""
    reasons = []
    if ceil_mode == "flipped" and not max_pools(model):
        reasons.append(f"{type(model).__name__} has no max-pool layer")
    if upsample != "model":
        calls = upsampling_calls(model, example)
        mode, align_corners = UPSAMPLE_OPS[upsample]
        if not calls:
            reasons.append(f"{type(model).__name__} does no upsampling")
        elif set(calls) == {(mode, bool(align_corners))}:
            reasons.append(f"{type(model).__name__} already upsamples with {upsample}")
    return "; ".join(reasons) or None


def patch_model(model: Any, ceil_mode: str, upsample: str) -> Any:
    """`model` with the patches a pipeline's model side asks for (itself when none)."""
    check_model_fields(ceil_mode, upsample)
    if ceil_mode == "flipped":
        model = flip_ceil_mode(model)
    if upsample != "model":
        model = swap_upsampling(model, upsample)
    return model
