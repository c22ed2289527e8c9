"""A detector's model side (precision, backend) reaches its networks only.

A detector is networks plus the code around them: MTCNN's image pyramid, box regression and NMS
between its P-, R- and O-Net; a torchvision detector's anchors, box decoding, RoI pooling and NMS
around its backbone and heads. Deployments run the networks in the chosen runtime and precision
and keep that code in FP32 (exported detection graphs keep box arithmetic in FP32 too: box
corners of an 800-pixel image in BF16 are 4 pixels apart). So here:

- MTCNN: each of the P-, R- and O-Net is prepared on the chosen registered backend (torch FP16 or
  BF16, channels-last, ONNX Runtime with P-Net exported with dynamic height and width), and the
  cascade of facenet-pytorch calls them in place of its torch nets, in torch FP32.
- torchvision detectors in torch: the backbone and heads are cast to FP16 or BF16 (or
  channels-last) in place; each takes its inputs cast to its precision and gives FP32 back, so
  anchors, box decoding, RoI Align and NMS run in FP32.
- torchvision detectors in ONNX Runtime: the whole detector exported as torchvision documents it
  (`sysnoise.detection.onnx_detector`), FP32, box code and NMS included: that is what the
  runtime deploys. Post-processing noises stay in torch (the graph has its own NMS).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from sysnoise.backends.base import Backend, BackendContext, BackendUnavailable, resolve_device
from sysnoise.errors import SysnoiseError

MTCNN_BACKENDS = ("torch", "torch-channels-last", "onnxruntime", "onnxruntime-noopt")
MTCNN_LIMIT = (
    "MTCNN's model side reaches its P-, R- and O-Net: torch FP32, FP16, BF16 and channels-last, "
    "ONNX Runtime FP32; TensorRT engines here are built for one input size and P-Net runs at "
    "every pyramid scale, and INT8 would need calibration inputs for each net"
)
TORCHVISION_BACKENDS = ("torch", "torch-channels-last", "onnxruntime", "onnxruntime-noopt")
TORCHVISION_LIMIT = (
    "a torchvision detector runs in torch (backbone and heads in FP32, FP16, BF16 or "
    "channels-last) or whole in ONNX Runtime FP32; TensorRT engines here take one fixed-shape "
    "batch, and the exported detector takes one image of any size and returns as many boxes as "
    "it finds (data-dependent shapes); INT8 would need detection calibration images"
)
DETECTOR_PRECISIONS = ("fp32", "fp16", "bf16")
# Modules of a torchvision detector that are networks (all its weights); the rest is box code.
_TORCHVISION_NETS = (
    "backbone",
    "head",
    "rpn.head",
    "roi_heads.box_head",
    "roi_heads.box_predictor",
    "roi_heads.mask_head",
    "roi_heads.mask_predictor",
    "roi_heads.keypoint_head",
    "roi_heads.keypoint_predictor",
)
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_MTCNN_INPUTS = {"pnet": None, "rnet": 24, "onet": 48}  # P-Net: any size (the pyramid's)


def detector_backend(
    backend_class: type[Backend], precision: str, context: BackendContext
) -> Backend:
    """The backend that runs a `PackedDetector` for a model side: the registry's own for torch
    FP32 (the reference), else a `DetectorNetsBackend`."""
    if (backend_class.name, precision) == ("torch", "fp32"):
        return backend_class(precision=precision, context=context)
    return DetectorNetsBackend(backend_class, precision, context)


class DetectorNetsBackend(Backend):
    """A `PackedDetector` whose networks run on `backend_class` in `precision`; everything else
    in torch FP32 on the CPU (see the module docstring). `infer` returns the packed rows."""

    def __init__(
        self, backend_class: type[Backend], precision: str, context: BackendContext
    ) -> None:
        self.name = backend_class.name
        self.family = backend_class.family
        self.precisions = tuple(p for p in backend_class.precisions if p in DETECTOR_PRECISIONS)
        super().__init__(precision, context)
        self._backend_class = backend_class
        self._nets: dict[str, Backend] = {}
        self._model: Any = None
        self._device = torch.device("cpu")
        self._facts: dict[str, Any] = {}

    def _prepare(self, model: Any, example: np.ndarray | None) -> None:
        detector = model.detector
        if detector.family == "mtcnn":
            detector.nets = tuple(self._mtcnn_net(name, detector) for name in _MTCNN_INPUTS)
        elif self._backend_class.family == "torch":
            self._device = torch.device(
                resolve_device(self.context.device, torch.cuda.is_available(), self.name)
            )
            model.to(self._device)
            memory_format = getattr(self._backend_class, "memory_format", torch.contiguous_format)
            cast_torchvision_nets(detector.model, _DTYPES[self.precision], memory_format)
            self._facts = {"library": "torch", "library_version": torch.__version__}
        elif self._backend_class.family == "onnxruntime":
            self._onnx_detector(detector, example)
        else:
            raise BackendUnavailable(f"{self.name}: {TORCHVISION_LIMIT}")
        self._model = model.eval()
        if example is not None and self.precision != "fp32" and not self._nets:
            # (MTCNN's nets were each tried by their backend.) Some torch builds lack
            # half-precision kernels on some devices.
            try:
                self.infer(example[:1])
            except (RuntimeError, NotImplementedError) as exc:
                self._model = None
                raise BackendUnavailable(f"{self.name} {self.precision}: {exc}") from exc

    def _mtcnn_net(self, name: str, detector: Any) -> CascadeNet:
        net = getattr(detector, name)
        side = _MTCNN_INPUTS[name]
        example = torch.zeros(2, 3, side or 48, side or 48)
        with torch.no_grad():
            splits = [output.shape[1] for output in net(example)]
        context = dataclasses.replace(
            self.context, model_id=f"{self.context.model_id}-{name}", dynamic_size=side is None
        )
        backend = self._backend_class(precision=self.precision, context=context)
        backend.prepare(ConcatenatedOutputs(net), example.numpy())
        self._nets[name] = backend
        return CascadeNet(backend, splits)

    def _onnx_detector(self, detector: Any, example: np.ndarray | None) -> None:
        import onnxruntime

        from sysnoise.backends.onnxruntime_backend import OPTIMIZATION_LEVELS, session_providers
        from sysnoise.detection.onnx_detector import OPSET, OnnxDetectorModel, cached_onnx_detector

        if any(setting != "model" for setting in detector.postprocess):
            raise BackendUnavailable(
                f"{self.name}: the exported detector runs the graph's own NMS and box decoding; "
                "post-processing noises apply to the torch detector"
            )
        height, width = example.shape[-2:] if example is not None else (320, 320)
        # A random image, so that the traced graph sees boxes survive every stage.
        image = torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))
        path = cached_onnx_detector(detector.model, image, self.cache_root(), self.context.model_id)
        options = onnxruntime.SessionOptions()
        level = OPTIMIZATION_LEVELS[getattr(self._backend_class, "optimization", "all")]
        options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, level)
        options.intra_op_num_threads = torch.get_num_threads()
        providers = session_providers(self.context.device, self.name)
        session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        detector.model = OnnxDetectorModel(session)
        on_gpu = "CUDAExecutionProvider" in session.get_providers()
        self._facts = {
            "device": "cuda" if on_gpu else "cpu",
            "library": "onnxruntime",
            "library_version": onnxruntime.__version__,
            "providers": session.get_providers(),
            "graph_optimization_level": getattr(self._backend_class, "optimization", "all"),
            "onnx_exporter": "torchscript",
            "onnx_opset": OPSET,
            "onnx_file": path.name,
        }

    def infer(self, batch: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self._device)
        with torch.inference_mode():
            return self._model(tensor).float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {**super().describe(), "device": str(self._device), **self._facts}
        if self._nets:
            facts["nets"] = {name: backend.describe() for name, backend in self._nets.items()}
        whole = facts.get("library") == "onnxruntime"
        facts["box_code"] = "in the exported graph" if whole else "torch fp32"
        return facts

    def release(self) -> None:
        for backend in self._nets.values():
            backend.release()
        self._nets.clear()
        self._model = None
        super().release()


class ConcatenatedOutputs(nn.Module):
    """A network with several outputs of equal rank (MTCNN's box regression, landmarks and face
    probability) as one output, concatenated along dim 1, as a backend's `infer` returns."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.net(x), dim=1)


class CascadeNet:
    """An MTCNN network as facenet-pytorch's cascade calls it, run by a prepared backend: a float32
    tensor in, its outputs (split back from the backend's one array) as float32 tensors out."""

    def __init__(self, backend: Backend, splits: list[int]) -> None:
        self.backend = backend
        self.splits = splits

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.backend.infer(x.detach().float().cpu().numpy())
        return torch.split(torch.from_numpy(out).to(x.device), self.splits, dim=1)

    def parameters(self) -> Iterator[torch.Tensor]:
        """One empty float32 tensor: the cascade casts the image to its nets' parameter dtype, and
        it stays in FP32 whatever the nets run in."""
        yield torch.zeros(0)


def torchvision_nets(model: nn.Module) -> dict[str, nn.Module]:
    """{dotted name: module} of a torchvision detector's networks; a SysnoiseError when some
    weights sit outside them (an architecture whose box code holds weights)."""
    nets = {}
    for name in _TORCHVISION_NETS:
        module: Any = model
        for part in name.split("."):
            module = getattr(module, part, None)
        if isinstance(module, nn.Module):
            nets[name] = module
    covered = {id(p) for net in nets.values() for p in net.parameters()}
    outside = [name for name, p in model.named_parameters() if id(p) not in covered]
    if outside:
        raise SysnoiseError(
            f"{type(model).__name__} has weights outside its backbone and heads "
            f"({', '.join(outside[:3])}); its precision cannot be set per network"
        )
    return nets


def cast_torchvision_nets(
    model: nn.Module, dtype: torch.dtype, memory_format: torch.memory_format
) -> None:
    """Cast `model`'s networks to `dtype` (and `memory_format`) in place; each casts its inputs
    to that and its outputs back to float32, so the box code between them stays FP32."""
    for net in torchvision_nets(model).values():
        net.to(dtype=dtype, memory_format=memory_format)
        net.register_forward_pre_hook(_inputs_to(dtype, memory_format))
        net.register_forward_hook(_outputs_to_float)


def _inputs_to(dtype: torch.dtype, memory_format: torch.memory_format) -> Any:
    def hook(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return _cast(args, dtype, memory_format)

    return hook


def _outputs_to_float(module: nn.Module, args: Any, output: Any) -> Any:
    return _cast(output, torch.float32, torch.contiguous_format)


def _cast(value: Any, dtype: torch.dtype, memory_format: torch.memory_format) -> Any:
    """Floating tensors in nested tuples, lists and dicts cast to `dtype` (4-d ones to
    `memory_format`); everything else unchanged."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return value
        value = value.to(dtype)
        return value.contiguous(memory_format=memory_format) if value.dim() == 4 else value
    if isinstance(value, dict):
        return type(value)((key, _cast(v, dtype, memory_format)) for key, v in value.items())
    if isinstance(value, (list, tuple)):
        items = [_cast(v, dtype, memory_format) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return value
