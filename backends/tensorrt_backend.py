"""TensorRT: engines built from the exported ONNX, run with torch CUDA tensors as I/O buffers.

Every network is strongly typed (TensorRT 11 allows nothing else; 10.x opts in with the
STRONGLY_TYPED flag), so the precision lives in the ONNX graph, not in builder flags:
FP32 engines come from the FP32 export, FP16 engines from an export of the model cast to half
(what the torch FP16 backend runs), and INT8 engines from the QDQ model that ONNX Runtime INT8
also runs (explicit quantization), so the two differ only by the backend. TF32 stays at
TensorRT's default and is recorded. Engines are cached by ONNX file (model id, input size,
calibration), precision, batch range, TensorRT version and GPU name.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
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
from sysnoise.fileio import atomic_write


class TensorRTBackend(Backend):
    """NVIDIA TensorRT engines (FP32, FP16, INT8 from QDQ) built from the ONNX export."""

    name = "tensorrt"
    family = "tensorrt"
    precisions = ("fp32", "fp16", "int8")

    def __init__(
        self,
        precision: str = "fp32",
        context: BackendContext | None = None,
        *,
        max_batch: int = 64,
        device: str | None = None,
    ) -> None:
        super().__init__(precision, context, device=device)
        if max_batch < 1:
            raise SysnoiseError(f"tensorrt: max_batch must be at least 1, got {max_batch}")
        self.max_batch = max_batch
        self._execution: Any = None
        self._facts: dict[str, Any] = {}
        self._fixed_batch: int | None = None

    @classmethod
    def availability(cls, precision: str = "fp32") -> str | None:
        import torch

        if not torch.cuda.is_available():
            return (
                "TensorRT needs an NVIDIA GPU; none is visible (torch.cuda.is_available() is False)"
            )
        try:
            import tensorrt  # noqa: F401
        except Exception as exc:  # ImportError, or a missing libnvinfer behind it
            return f"cannot import tensorrt ({exc}); pip install 'sysnoise[gpu]'"
        return None

    def _prepare(self, model: Any, example: np.ndarray | None) -> None:
        import tensorrt as trt
        import torch

        from sysnoise.backends.onnx_export import cached_onnx, onnx_metadata
        from sysnoise.backends.quantize import cached_qdq, qdq_facts

        device = resolve_device(self.context.device, torch.cuda.is_available(), self.name)
        if device == "cpu":
            raise BackendUnavailable("tensorrt runs on a CUDA GPU only; device 'cpu' asked for")
        self._device = torch.device(device)
        if getattr(model, "format", None) == "tensorrt-engine":  # sysnoise.sources.files
            self._prepare_engine_file(model.path, device, trt, torch)
            return
        context = dataclasses.replace(self.context, cache_dir=self.cache_root())
        onnx_path = cached_onnx(
            model, example, context, "fp16" if self.precision == "fp16" else "fp32"
        )
        if self.precision == "int8":
            calibration = require_calibration(self.context, self.name)
            onnx_path = cached_qdq(onnx_path, calibration, self.context.calibration_method)
        self._logger = trt.Logger(trt.Logger.WARNING)
        gpu = torch.cuda.get_device_name(self._device)
        engine_path = self._engine_path(context, onnx_path, trt.__version__, gpu)
        with torch.cuda.device(self._device):
            if not engine_path.is_file():
                plan = build_engine(onnx_path, self.max_batch, self._logger)
                atomic_write(engine_path, lambda tmp: tmp.write_bytes(plan))
            self._runtime = trt.Runtime(self._logger)
            self._engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
            if self._engine is None:
                raise SysnoiseError(f"TensorRT could not load {engine_path}; delete it to rebuild")
            self._execution = self._engine.create_execution_context()
            self._stream = torch.cuda.Stream(device=self._device)
        self._bind_io(trt, torch)
        metadata = onnx_metadata(onnx_path)
        self._facts = {
            "device": device,
            "gpu": gpu,
            "library": "tensorrt",
            "library_version": trt.__version__,
            "strongly_typed": True,
            "tf32": _tf32_default(trt, self._logger),
            "max_batch": self.max_batch,
            "onnx_exporter": metadata.get("sysnoise.exporter", "unknown"),
            "onnx_opset": int(metadata.get("sysnoise.opset", -1)),
            "onnx_file": onnx_path.name,
            "engine_file": engine_path.name,
        }
        if self.precision == "int8":
            reason = "TensorRT: 8-bit weights"
            self._facts["quantization"] = {**qdq_facts(metadata), "weight_bits_reason": reason}

    def _prepare_engine_file(self, path: Path, device: str, trt: Any, torch: Any) -> None:
        """Run a prebuilt engine as it is: its precision and batch range were fixed when built."""
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(self._device):
            self._runtime = trt.Runtime(self._logger)
            self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if self._engine is None:
                raise SysnoiseError(
                    f"TensorRT {trt.__version__} cannot load {path.name} on this GPU: an engine "
                    "runs only with the TensorRT version and GPU model it was built for"
                )
            self._execution = self._engine.create_execution_context()
            self._stream = torch.cuda.Stream(device=self._device)
        self._bind_io(trt, torch)
        shape = tuple(self._engine.get_tensor_shape(self._input))
        self._fixed_batch = shape[0] if shape[0] > 0 else None
        if self._fixed_batch is None:
            self.max_batch = int(self._engine.get_tensor_profile_shape(self._input, 0)[2][0])
        else:
            self.max_batch = self._fixed_batch
        self._facts = {
            "device": device,
            "gpu": torch.cuda.get_device_name(self._device),
            "library": "tensorrt",
            "library_version": trt.__version__,
            "prebuilt_engine": True,
            "max_batch": self.max_batch,
            "engine_file": path.name,
        }

    def _engine_path(
        self, context: BackendContext, onnx_path: Path, version: str, gpu: str
    ) -> Path:
        gpu_slug = re.sub(r"[^A-Za-z0-9]+", "-", gpu).strip("-").lower()
        name = f"{onnx_path.stem}.{self.precision}.b{self.max_batch}.trt{version}.{gpu_slug}.engine"
        return Path(context.cache_dir or ".") / "tensorrt" / name

    def _bind_io(self, trt: Any, torch: Any) -> None:
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or not outputs:
            raise SysnoiseError(f"tensorrt: expected one input and an output, got {names}")
        self._input, self._output = inputs[0], outputs[0]

        def torch_dtype(name: str) -> Any:
            numpy_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            return torch.from_numpy(np.empty(0, dtype=numpy_dtype)).dtype

        self._input_dtype = torch_dtype(self._input)
        self._output_dtype = torch_dtype(self._output)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        chunks = [
            self._run(batch[start : start + self.max_batch])
            for start in range(0, len(batch), self.max_batch)
        ]
        if not chunks:
            classes = self._engine.get_tensor_shape(self._output)[-1]
            return np.zeros((0, classes), dtype=np.float32)
        return np.concatenate(chunks)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        import torch

        rows = len(chunk)
        if self._fixed_batch is not None and rows < self._fixed_batch:
            padding = np.repeat(chunk[-1:], self._fixed_batch - rows, axis=0)
            chunk = np.concatenate([chunk, padding])
        with torch.cuda.device(self._device), torch.cuda.stream(self._stream):
            inputs = torch.from_numpy(chunk).to(self._device).to(self._input_dtype).contiguous()
            self._execution.set_input_shape(self._input, tuple(inputs.shape))
            shape = tuple(self._execution.get_tensor_shape(self._output))
            outputs = torch.empty(shape, dtype=self._output_dtype, device=self._device)
            self._execution.set_tensor_address(self._input, inputs.data_ptr())
            self._execution.set_tensor_address(self._output, outputs.data_ptr())
            if not self._execution.execute_async_v3(self._stream.cuda_stream):
                raise SysnoiseError("tensorrt: execute_async_v3 failed; see TensorRT's log")
            self._stream.synchronize()
        return outputs.float().cpu().numpy()[:rows]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self._facts}

    def release(self) -> None:
        self._execution = None
        self._engine = None
        self._runtime = None
        super().release()


def build_engine(onnx_path: Path, max_batch: int, logger: Any) -> bytes:
    """A serialized, strongly typed TensorRT engine for batch sizes 1..max_batch."""
    import tensorrt as trt

    builder = trt.Builder(logger)
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    flags = 0 if strongly_typed is None else 1 << int(strongly_typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SysnoiseError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    tensor = network.get_input(0)
    sample_shape = tuple(tensor.shape)[1:]
    profile.set_shape(
        tensor.name, (1, *sample_shape), (max_batch, *sample_shape), (max_batch, *sample_shape)
    )
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise SysnoiseError(
            f"TensorRT could not build an engine from {onnx_path.name}; see its log"
        )
    return bytes(memoryview(plan))


def _tf32_default(trt: Any, logger: Any) -> bool | None:
    """Whether TensorRT may run FP32 layers in TF32 (on by default); None when it has no flag."""
    flag = getattr(trt.BuilderFlag, "TF32", None)
    if flag is None:
        return None
    return bool(trt.Builder(logger).create_builder_config().get_flag(flag))
