"""ONNX Runtime: the model exported to ONNX, FP32 or INT8 (static QDQ), on CPU or CUDA."""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

import numpy as np

from sysnoise.backends.base import (
    Backend,
    BackendContext,
    BackendUnavailable,
    require_calibration,
    resolve_device,
)
from sysnoise.errors import SysnoiseError

OPTIMIZATION_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime with full graph optimisation; CUDA provider first when there is one."""

    name = "onnxruntime"
    precisions = ("fp32", "int8")
    family = "onnxruntime"
    instrumentable = True
    optimization = "all"

    def __init__(
        self,
        precision: str = "fp32",
        context: BackendContext | None = None,
        *,
        optimization: str | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__(precision, context, device=device)
        optimization = optimization or self.optimization
        if optimization not in OPTIMIZATION_LEVELS:
            raise SysnoiseError(
                f"unknown ONNX Runtime optimization level {optimization!r}; "
                f"valid levels: {', '.join(OPTIMIZATION_LEVELS)}"
            )
        self.optimization = optimization
        self._session: Any = None
        self._facts: dict[str, Any] = {}
        self._layout, self._fixed_batch = "nchw", None

    @classmethod
    def availability(cls, precision: str = "fp32") -> str | None:
        for module, distribution in (("onnxruntime", "onnxruntime"), ("onnx", "onnx")):
            if importlib.util.find_spec(module) is None:
                return f"{distribution} is not installed (pip install {distribution})"
        return None

    def _prepare(self, model: Any, example: np.ndarray | None) -> None:
        import onnxruntime
        import torch

        from sysnoise.backends.onnx_export import cached_onnx
        from sysnoise.backends.quantize import cached_qdq, needs_reduce_range, qdq_facts

        providers = session_providers(self.context.device, self.name)
        context = dataclasses.replace(self.context, cache_dir=self.cache_root())
        path = cached_onnx(model, example, context)
        # ONNX Runtime's x86 CPU kernels saturate with 8-bit weights unless the CPU has VNNI/AMX.
        on_cpu = providers == ["CPUExecutionProvider"]
        reduce_range, why = needs_reduce_range() if on_cpu else (False, "CUDA execution provider")
        if self.precision == "int8":
            _check_calibration_layout(path, self.name)
            calibration = require_calibration(self.context, self.name)
            method = self.context.calibration_method
            path = cached_qdq(path, calibration, method, reduce_range)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = getattr(
            onnxruntime.GraphOptimizationLevel, OPTIMIZATION_LEVELS[self.optimization]
        )
        options.intra_op_num_threads = torch.get_num_threads()
        self._session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        self._layout, self._fixed_batch = input_layout(self._session.get_inputs()[0].shape)
        metadata = self._session.get_modelmeta().custom_metadata_map
        self._facts = {
            "library": "onnxruntime",
            "library_version": onnxruntime.__version__,
            "providers": self._session.get_providers(),
            "graph_optimization_level": self.optimization,
            "intra_op_num_threads": options.intra_op_num_threads,
            "onnx_exporter": metadata.get("sysnoise.exporter", "unknown"),
            "onnx_opset": int(metadata.get("sysnoise.opset", -1)),
            "onnx_file": path.name,
        }
        if self.precision == "int8":
            self._facts["quantization"] = {**qdq_facts(metadata), "weight_bits_reason": why}

    def infer(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        if self._layout == "nhwc":  # a model file converted from TensorFlow
            batch = batch.transpose(0, 2, 3, 1)
        batch = np.ascontiguousarray(batch)
        if self._fixed_batch is None:
            (logits,) = self._session.run([self._output], {self._input: batch})
            return np.asarray(logits, dtype=np.float32)
        # A model file exported with a fixed batch size: run it chunk by chunk, padding the last.
        size, chunks = self._fixed_batch, []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), axis=0)])
            (logits,) = self._session.run([self._output], {self._input: padded})
            chunks.append(np.asarray(logits, dtype=np.float32)[: len(chunk)])
        return np.concatenate(chunks)

    def describe(self) -> dict[str, Any]:
        facts = {**super().describe(), **self._facts}
        if self._facts:
            on_gpu = "CUDAExecutionProvider" in self._facts["providers"]
            facts["device"] = "cuda" if on_gpu else "cpu"
        return facts

    def release(self) -> None:
        self._session = None
        super().release()


class OnnxRuntimeNoOptBackend(OnnxRuntimeBackend):
    """ONNX Runtime with graph optimisation disabled: every exported node runs as it is."""

    name = "onnxruntime-noopt"
    optimization = "disable"


def session_providers(device: str, backend: str = "onnxruntime") -> list[Any]:
    """ONNX Runtime providers for `device`: CUDA first where asked for (or "auto" with a visible
    GPU and onnxruntime-gpu), else the CPU; BackendUnavailable when CUDA is asked for and absent."""
    import onnxruntime

    has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    if device == "auto":
        device = "cuda" if has_cuda and _cuda_visible() else "cpu"
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if not has_cuda:
        raise BackendUnavailable(
            f"{backend}: device {device!r} asked for, but this onnxruntime has no "
            "CUDAExecutionProvider (install onnxruntime-gpu instead of onnxruntime)"
        )
    resolve_device(device, _cuda_visible(), backend)  # raises when no GPU is visible
    device_id = int(device.split(":")[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]


def input_layout(shape: list[Any]) -> tuple[str, int | None]:
    """("nchw" or "nhwc", the fixed batch size or None) of an ONNX model's image input."""
    if len(shape) != 4:
        raise SysnoiseError(f"the ONNX model takes a rank-{len(shape)} input {shape}; need NCHW")
    layout = "nhwc" if shape[3] == 3 and shape[1] != 3 else "nchw"
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    return layout, batch


def _check_calibration_layout(path: Any, backend: str) -> None:
    """INT8 calibration feeds NCHW batches of any size: a model file that takes NHWC input or a
    fixed batch size cannot be calibrated here."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initialisers = {tensor.name for tensor in graph.initializer}
    (image,) = [i for i in graph.input if i.name not in initialisers]
    shape = [d.dim_value or d.dim_param or None for d in image.type.tensor_type.shape.dim]
    layout, fixed_batch = input_layout(shape)
    if layout != "nchw" or fixed_batch is not None:
        what = "NHWC input" if layout != "nchw" else f"a fixed batch size of {fixed_batch}"
        raise BackendUnavailable(
            f"{backend} int8: this model file takes {what}; INT8 calibration here needs NCHW "
            "input with a dynamic batch axis (re-export it so)"
        )


def _cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()
