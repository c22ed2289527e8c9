"""Reference pipelines given by name or spelled out, for models that carry no preprocessing.

``torchvision-v1`` is torchvision's classic ImageNet evaluation (Pillow decode, Pillow bilinear
shorter side 256, centre crop 224, ImageNet mean and std). A zoo model's name borrows that
model's reference. A spec is comma-separated ``field=value`` pairs over those defaults, e.g.
``resizer=pil-bicubic,resize_size=256,crop_size=224,mean=0.5,std=0.5`` (mean and std: one value
or three separated by ``/``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline

NAMED = {"torchvision-v1": Pipeline()}
# The fields a reference spec may set.
REFERENCE_FIELDS = (
    "decoder",
    "resizer",
    "resize_size",
    "resize_protocol",
    "crop_size",
    "mean",
    "std",
)


def parse_reference(text: str | Pipeline) -> Pipeline:
    """The Pipeline `text` names or spells out; a Pipeline is returned as it is."""
    if isinstance(text, Pipeline):
        return text
    text = text.strip()
    if text in NAMED:
        return NAMED[text]
    if "=" not in text:
        from sysnoise.zoo import resolve_model

        try:
            return resolve_model(text).reference
        except SysnoiseError as exc:
            raise SysnoiseError(
                f"unknown reference {text!r}: not {', '.join(NAMED)}, a zoo model or a "
                f"field=value spec ({exc})"
            ) from None
    changes: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        field, _, value = part.partition("=")
        field = field.strip()
        if field not in REFERENCE_FIELDS:
            raise SysnoiseError(
                f"reference field {field!r} is not a pixel-side field; valid: "
                f"{', '.join(REFERENCE_FIELDS)}"
            )
        changes[field] = _coerce(field, value.strip())
    pipeline = dataclasses.replace(Pipeline(), **changes)
    _check_names(pipeline)
    return pipeline


def _coerce(field: str, value: str) -> Any:
    try:
        if field in ("resize_size", "crop_size"):
            return int(value)
        if field in ("mean", "std"):
            numbers = tuple(float(v) for v in value.split("/"))
            if len(numbers) == 1:
                numbers = numbers * 3
            if len(numbers) != 3:
                raise ValueError(value)
            return numbers
    except ValueError:
        raise SysnoiseError(f"reference {field}={value!r}: expected a number") from None
    return value


def _check_names(pipeline: Pipeline) -> None:
    from sysnoise.noises.decoders import DECODERS
    from sysnoise.noises.resizers import RESIZERS

    DECODERS.get(pipeline.decoder)
    RESIZERS.get(pipeline.resizer)
