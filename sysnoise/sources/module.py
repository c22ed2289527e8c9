"""An in-memory model: an `nn.Module` or a callable on normalised NCHW batches."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline
from sysnoise.sources.base import LoadedModel, ModelSource
from sysnoise.zoo import ModelSpec


class ModuleSource(ModelSource):
    """A model object handed over in Python, with the reference pipeline it expects (torchvision's
    classic preprocessing unless told otherwise)."""

    kind = "module"
    description = "an nn.Module or a callable on normalised batches (Python API only)"

    def __init__(self, spec: ModelSpec, module: Any = None) -> None:
        super().__init__(spec)
        self.module = module

    @classmethod
    def open(cls, name: str, reference: Pipeline | None = None) -> ModuleSource:
        raise SysnoiseError(
            "a module model is an object, not a name: pass it to sysnoise.evaluate(model, ...) "
            "or ModuleSource.from_object(model, reference)"
        )

    @classmethod
    def from_object(
        cls,
        model: Any,
        reference: Pipeline | None = None,
        name: str | None = None,
        num_classes: int = 1000,
    ) -> ModuleSource:
        """A source for `model`: an `nn.Module`, or any callable from a normalised float32 NCHW
        torch batch to logits (a tensor or an array). `reference` defaults to torchvision's
        classic preprocessing (Pillow, bilinear, 256/224, ImageNet mean and std)."""
        if not isinstance(model, torch.nn.Module):
            if not callable(model):
                raise SysnoiseError(
                    f"model must be an nn.Module, a callable, or a model name; got {model!r}"
                )
            model = _CallableModule(model)
        arch = type(model).__name__ if not isinstance(model, _CallableModule) else _name(model.fn)
        spec = ModelSpec(
            name=name or arch,
            arch=arch,
            weights_tag="in-memory",
            weights_url="",
            reference=reference or Pipeline(),
            num_classes=num_classes,
            published_top1=None,
            source=cls.kind,
        )
        return cls(spec, model)

    def load(self, weights_file: Path | None = None) -> LoadedModel:
        if self.module is None:
            raise SysnoiseError("this module source has no model object: use from_object")
        if weights_file is not None:
            raise SysnoiseError("an in-memory model carries its own weights; drop weights_file")
        if isinstance(self.module, _CallableModule):
            # Nothing identifies what a callable computes (closures, globals): a fresh id, so its
            # predictions are never taken from the cache of another run.
            return LoadedModel(
                self.module,
                hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
                patchable=False,
                backends=("torch",),
                limit_reason="the model is a Python callable; only torch eager can run it",
            )
        return LoadedModel(self.module.eval(), module_sha256(self.module))


def module_sha256(module: Any) -> str:
    """sha256 of a module's class (and its source code where readable), structure and every
    parameter and buffer."""
    digest = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    digest.update(repr(module).encode())
    for cls in type(module).__mro__[:-2]:  # the code of forward and friends, where readable
        with contextlib.suppress(OSError, TypeError):
            digest.update(inspect.getsource(cls).encode())
    for key, tensor in module.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


class _CallableModule(torch.nn.Module):
    """A callable on normalised float NCHW torch batches, wrapped as a module."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        logits = self.fn(batch)
        return logits if isinstance(logits, torch.Tensor) else torch.as_tensor(np.asarray(logits))
