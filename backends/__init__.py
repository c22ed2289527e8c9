"""Inference backends. Heavy libraries are imported only when a backend is chosen."""

from sysnoise.backends.base import Backend, BackendContext, BackendUnavailable
from sysnoise.registry import Registry

BACKENDS: Registry[type[Backend]] = Registry("backend", Backend)
BACKENDS.add("torch", "sysnoise.backends.torch_eager:TorchEagerBackend")
BACKENDS.add("torch-channels-last", "sysnoise.backends.torch_eager:TorchChannelsLastBackend")
BACKENDS.add("onnxruntime", "sysnoise.backends.onnxruntime_backend:OnnxRuntimeBackend")
BACKENDS.add("onnxruntime-noopt", "sysnoise.backends.onnxruntime_backend:OnnxRuntimeNoOptBackend")
BACKENDS.add("tensorrt", "sysnoise.backends.tensorrt_backend:TensorRTBackend")

__all__ = ["BACKENDS", "Backend", "BackendContext", "BackendUnavailable"]
