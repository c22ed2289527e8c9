"""timm models (``timm:NAME``), with the reference pipeline read from the pretrained config.

The reference is what timm's own eval transform (`timm.data.create_transform` with
`resolve_data_config`) does to a Pillow image: resize to ``floor(size / crop_pct)`` (shorter
side for crop_mode "center", both sides for "squash", the longer side for "border") with
Pillow's filter for the config's interpolation, centre crop to ``size`` (for "border", padded
with the mean colour), then normalise with the config's mean and std. timm is an
optional extra (``pip install 'sysnoise[timm]'``). Weights come from a file (``--weights``) or
from the local Hugging Face cache, never from the network.
"""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path
from typing import Any

from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline
from sysnoise.sources.base import LoadedModel, ModelSource
from sysnoise.zoo import ModelSpec

CROP_MODES = {"center": "shorter", "squash": "squash", "border": "border"}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def require_timm() -> Any:
    """The timm module, or a SysnoiseError that says how to install it."""
    try:
        import timm
    except ImportError:
        raise SysnoiseError(
            "timm models need timm: `pip install 'sysnoise[timm]'` (or `pip install timm`)"
        ) from None
    return timm


def timm_reference(config: dict[str, Any]) -> Pipeline:
    """The Pipeline equivalent to timm's eval transform for a resolved data config."""
    _, height, width = config["input_size"]
    if height != width:
        raise SysnoiseError(f"timm input size {height}x{width}: only square inputs are supported")
    crop_mode = config.get("crop_mode") or "center"
    if crop_mode not in CROP_MODES:
        raise SysnoiseError(
            f"timm crop_mode {crop_mode!r} is not supported; supported: {', '.join(CROP_MODES)}"
        )
    crop_pct = config.get("crop_pct") or 0.875
    interpolation = config.get("interpolation") or "bilinear"
    return Pipeline(
        decoder="pil",
        resizer=f"pil-{interpolation}",
        resize_size=math.floor(height / crop_pct),
        resize_protocol=CROP_MODES[crop_mode],
        crop_size=height,
        mean=tuple(float(v) for v in config["mean"]),
        std=tuple(float(v) for v in config["std"]),
    )


class TimmSource(ModelSource):
    """A timm model by name; weights from --weights or the local Hugging Face cache."""

    kind = "timm"
    description = "timm models (timm:NAME, optional extra), weights from a file or the HF cache"

    @classmethod
    def open(cls, name: str, reference: Pipeline | None = None) -> TimmSource:
        timm = require_timm()
        if not timm.is_model(name):
            import difflib

            close = difflib.get_close_matches(name, timm.list_models(pretrained=True), n=5)
            hint = f"; did you mean: {', '.join(close)}" if close else ""
            raise SysnoiseError(f"unknown timm model {name!r}{hint}")
        try:
            cfg = timm.models.get_pretrained_cfg(name)
        except RuntimeError as exc:  # timm's answer to an unknown pretrained tag
            raise SysnoiseError(f"timm model {name!r}: {exc}") from None
        if cfg is None:
            raise SysnoiseError(f"timm model {name!r} has no pretrained config to read")
        from timm.data import resolve_data_config

        spec = ModelSpec(
            name=f"timm:{name}",
            arch=name,
            weights_tag=cfg.tag or "default",
            weights_url=cfg.hf_hub_id or cfg.url or "",
            reference=reference
            or timm_reference(resolve_data_config({}, pretrained_cfg=cfg.to_dict())),
            num_classes=int(cfg.num_classes or 1000),
            published_top1=None,
            source=cls.kind,
        )
        return cls(spec)

    def load(self, weights_file: Path | None = None) -> LoadedModel:
        timm = require_timm()
        from timm.models import load_checkpoint

        from sysnoise.weights import sha256_file

        path = weights_file or self._cached_weights()
        if not path.is_file():
            raise SysnoiseError(f"weights file {path} does not exist")
        model = timm.create_model(self.spec.arch, pretrained=False)
        try:
            load_checkpoint(model, str(path), strict=True)
        except (RuntimeError, KeyError, ValueError, OSError, pickle.UnpicklingError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise SysnoiseError(f"{path} does not fit timm {self.spec.arch}: {first}") from None
        return LoadedModel(model.eval(), sha256_file(path))

    def _cached_weights(self) -> Path:
        hub_id = self.spec.weights_url if "/" in self.spec.weights_url else ""
        if hub_id and not hub_id.startswith(("http:", "https:")):
            from huggingface_hub import try_to_load_from_cache

            for file_name in WEIGHT_FILES:
                found = try_to_load_from_cache(hub_id, file_name)
                if isinstance(found, str):
                    return Path(found)
        cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME", "~/.cache/huggingface")
        raise SysnoiseError(
            f"weights for {self.spec.name} are not on this machine and sysnoise does not "
            f"download: pass --weights FILE, or put {hub_id or self.spec.weights_url} in the "
            f"Hugging Face cache ({cache})"
        )
