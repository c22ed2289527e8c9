"""PyTorch eager mode: FP32 (the reference), FP16, BF16, INT8, and a channels-last variant.

FP16 and BF16 cast a copy of the model and the input; the logits come back as float32. Both run on
the CPU too (torch 2.14 has half-precision CPU convolutions, slowly). INT8 is PyTorch's own x86
path, FX graph mode post-training static quantization (`backends/torch_int8.py`); it runs on the
CPU only. The channels-last variant runs the same model with NHWC memory format, which picks other
convolution kernels and so sums in another order: a real, small numeric difference.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sysnoise.backends.base import (
    Backend,
    BackendContext,
    BackendUnavailable,
    require_calibration,
    resolve_device,
)

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchEagerBackend(Backend):
    """PyTorch eager mode on `device` ("cpu", "cuda" or "auto"); FP32 is the reference."""

    name = "torch"
    precisions = ("fp32", "fp16", "bf16", "int8")
    family = "torch"
    instrumentable = True
    memory_format = torch.contiguous_format

    def __init__(
        self,
        precision: str = "fp32",
        context: BackendContext | None = None,
        *,
        device: str | None = None,
    ) -> None:
        super().__init__(precision, context, device=device)
        self.device_name = self.context.device
        self._model: Any = None
        self._calibration_size = 0

    def _prepare(self, model: Any, example: np.ndarray | None) -> None:
        if self.precision == "int8":
            self._prepare_int8(model)
            return
        self.device_name = resolve_device(self.context.device, torch.cuda.is_available(), self.name)
        self._device = torch.device(self.device_name)
        dtype = _DTYPES[self.precision]
        if dtype != torch.float32 or self.memory_format != torch.contiguous_format:
            model = copy.deepcopy(model)  # casting in place would change the caller's model
        model = model.to(self._device, dtype=dtype).eval()
        self._model = model.to(memory_format=self.memory_format)
        self._dtype = dtype
        if dtype != torch.float32 and example is not None:
            try:  # some torch builds lack half-precision kernels on some devices
                self.infer(example[:1])
            except (RuntimeError, NotImplementedError) as exc:
                self._model = None
                raise BackendUnavailable(
                    f"{self.name} {self.precision} on {self.device_name}: {exc}"
                ) from exc

    def _prepare_int8(self, model: Any) -> None:
        from sysnoise.backends.torch_int8 import quantize_fx_x86

        if self.context.device.startswith("cuda"):
            raise BackendUnavailable(
                f"torch int8: PyTorch's x86 INT8 kernels run on the CPU only, not on "
                f"{self.context.device!r}; use --device cpu or auto"
            )
        calibration = require_calibration(self.context, "torch")
        self.device_name = "cpu"
        self._device = torch.device("cpu")
        self._dtype = torch.float32  # the quantized model takes and returns float tensors
        self._model = quantize_fx_x86(model, calibration)
        self._calibration_size = len(calibration)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        tensor = tensor.to(self._device, dtype=self._dtype)
        tensor = tensor.contiguous(memory_format=self.memory_format)
        with torch.inference_mode():
            logits = self._model(tensor)
        return logits.float().cpu().numpy()

    def predict(
        self,
        crops: np.ndarray,
        table: np.ndarray,
        k: int,
        check: Callable[[np.ndarray], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """On a GPU: uint8 crops from pinned memory to the device, normalisation by table look-up
        (the same float32 values as on the CPU), forward, and top-k by a stable sort on the
        device; only k classes and scores per input come back. Elsewhere: `Backend.predict`."""
        if self._device.type != "cuda":
            return super().predict(crops, table, k, check)
        host = torch.from_numpy(np.ascontiguousarray(crops)).pin_memory()
        device_crops = host.to(self._device, non_blocking=True)
        lookup, offsets = self._device_table(table)
        index = device_crops.permute(0, 3, 1, 2).int() + offsets  # (N, 3, H, W) into the table
        batch = lookup[index].to(self._dtype).contiguous(memory_format=self.memory_format)
        with torch.inference_mode():
            logits = self._model(batch).float()
            if check is not None:  # the check's conditions on the device; logits come back if met
                finite = torch.isfinite(logits).all()
                constant = logits.shape[1] > 1 and bool((logits.amax(1) == logits.amin(1)).all())
                if not bool(finite) or constant:
                    check(logits.cpu().numpy())
            top = torch.sort(-logits, dim=1, stable=True).indices[:, :k]
            scores = torch.gather(logits, 1, top)
        return top.cpu().numpy().astype(np.int64), scores.cpu().numpy()

    def _device_table(self, table: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The flattened table on the device, and each channel's offset into it."""
        cached = getattr(self, "_table", None)
        if cached is None or not np.array_equal(cached[0], table):
            lookup = torch.from_numpy(np.ascontiguousarray(table).reshape(-1)).to(self._device)
            offsets = torch.arange(3, device=self._device, dtype=torch.int32).view(1, 3, 1, 1)
            self._table = (table.copy(), lookup, offsets * table.shape[1])
        return self._table[1], self._table[2]

    def describe(self) -> dict[str, Any]:
        facts = {
            **super().describe(),
            "device": self.device_name,
            "library": "torch",
            "library_version": torch.__version__,
            "memory_format": "channels_last"
            if self.memory_format == torch.channels_last
            else "contiguous",
        }
        if self.device_name.startswith("cuda"):
            facts["gpu"] = torch.cuda.get_device_name(torch.device(self.device_name))
            facts["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
            facts["matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
        if self.precision == "int8":
            from sysnoise.backends.torch_int8 import describe_int8

            facts.update(describe_int8(self._calibration_size))
        return facts

    def release(self) -> None:
        self._model = None
        super().release()


class TorchChannelsLastBackend(TorchEagerBackend):
    """PyTorch eager mode with model and input in channels-last (NHWC) memory format."""

    name = "torch-channels-last"
    precisions = ("fp32", "bf16")
    memory_format = torch.channels_last
