"""Inference backends. Heavy libraries are imported only when a backend is chosen."""

from sysnoise.backends.base import Backend, BackendUnavailable
from sysnoise.registry import Registry

BACKENDS: Registry[type[Backend]] = Registry("backend", Backend)
BACKENDS.add("torch", "sysnoise.backends.torch_eager:TorchEagerBackend")

__all__ = ["BACKENDS", "Backend", "BackendUnavailable"]
