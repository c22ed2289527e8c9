"""The two torch models to hook: the FP32 eager reference and the noisy variant, built as the
torch backends (`sysnoise.backends.torch_eager`) build them: cast, laid out, or quantized."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass
class TorchPair:
    """The reference and the noisy module, where the reference runs, and the noisy input cast."""

    reference: Any
    noisy: Any
    reference_device: str
    cast: Callable[[Any], Any]
    notes: list[str] = field(default_factory=list)


def torch_pair(
    model: Any,
    patched: Any,
    backend: str,
    precision: str,
    device: str,
    calibration: Any = None,
) -> TorchPair:
    """`model` in FP32 on `device`, and `patched` (the model with the noise's patches) as
    `backend` runs it in `precision`. INT8 is PyTorch's x86 path and runs on the CPU."""
    import torch

    if precision == "int8":
        return _int8_pair(model, patched, calibration)
    reference = copy.deepcopy(model).to(device).eval()
    dtype = getattr(torch, _DTYPES[precision])
    noisy = copy.deepcopy(patched).to(device=device, dtype=dtype).eval()
    from sysnoise.backends import BACKENDS

    memory_format = BACKENDS.get(backend).memory_format
    if memory_format == torch.contiguous_format:
        memory_format = None
    if memory_format is not None:
        noisy = noisy.to(memory_format=memory_format)

    def cast(batch: Any) -> Any:
        batch = batch.to(device=device, dtype=dtype)
        return batch.contiguous(memory_format=memory_format) if memory_format else batch

    return TorchPair(reference, noisy, device, cast)


def _int8_pair(model: Any, patched: Any, calibration: Any) -> TorchPair:
    from torch.ao.quantization.quantize_fx import fuse_fx

    from sysnoise.backends.base import BackendContext, require_calibration
    from sysnoise.backends.torch_int8 import quantize_fx_x86

    batch = require_calibration(BackendContext(device="cpu", calibration=calibration), "torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        # Quantization fuses conv+bn(+relu) into one module named after the conv; the reference
        # is fused the same way (in FP32) so that each row compares the same computation.
        fused = fuse_fx(copy.deepcopy(model).cpu().float().eval()).eval()
    note = (
        "torch int8 fuses conv+bn(+relu) into one quantized module named after the conv, so its "
        "layers are compared with the FP32 model fused the same way (BN folded into the conv); "
        "quantized outputs are compared dequantized, so a layer's error includes rounding and "
        "clipping to its calibrated range (a clipped negative tail before a ReLU does no harm); "
        "the summary's final logits are compared with the plain FP32 reference"
    )
    return TorchPair(fused, quantize_fx_x86(patched, batch), "cpu", _on_cpu, [note])


def _on_cpu(batch: Any) -> Any:
    return batch.cpu().float()
