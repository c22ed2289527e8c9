"""PyTorch's own x86 INT8 path: FX graph mode post-training static quantization.

`torch.ao.quantization` FX mode (`prepare_fx` / `convert_fx` with the "x86" qconfig mapping) works
on torch 2.14.1 for torchvision classifiers and small conv nets, although it is deprecated in
favour of torchao's PT2E flow (`torch.ao.quantization.quantize_pt2e` is gone from torch 2.14; it
lives in the separate torchao package, which sysnoise does not depend on). The deprecation
warnings are silenced here because they say nothing about the run. The x86 default recipe is used
as PyTorch ships it: per-channel symmetric int8 weights, uint8 activations from a histogram
observer with reduce_range; `BackendContext.calibration_method` applies to the ONNX QDQ path only.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch

from sysnoise.backends.base import BackendUnavailable

_ENGINE = "x86"
_CALIBRATION_BATCH = 16


def quantize_fx_x86(model: torch.nn.Module, calibration: np.ndarray) -> torch.nn.Module:
    """A quantized copy of `model` (CPU, float in, float out), calibrated on `calibration`."""
    if _ENGINE not in torch.backends.quantized.supported_engines:
        raise BackendUnavailable(
            f"torch int8: this torch build has no {_ENGINE!r} quantized engine "
            f"(it has {', '.join(torch.backends.quantized.supported_engines)})"
        )
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = _ENGINE
    float_model = copy.deepcopy(model).cpu().float().eval()
    example = (torch.from_numpy(calibration[:1]),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            prepared = prepare_fx(float_model, get_default_qconfig_mapping(_ENGINE), example)
        except Exception as exc:  # FX symbolic tracing fails on data-dependent control flow
            raise BackendUnavailable(
                f"torch int8: FX graph mode cannot trace this model: {exc}"
            ) from exc
        with torch.inference_mode():
            for start in range(0, len(calibration), _CALIBRATION_BATCH):
                prepared(torch.from_numpy(calibration[start : start + _CALIBRATION_BATCH]))
        return convert_fx(prepared).eval()


def describe_int8(calibration_size: int) -> dict[str, Any]:
    """The facts of the torch INT8 recipe, for the results file."""
    return {
        "quantization": "torch.ao FX graph mode post-training static",
        "quantized_engine": _ENGINE,
        "qconfig": "get_default_qconfig_mapping('x86')",
        "weights": "int8 per-channel symmetric (PerChannelMinMaxObserver)",
        "activations": "uint8 per-tensor affine (HistogramObserver, reduce_range)",
        "calibration_method": "histogram (PyTorch x86 default)",
        "calibration_size": calibration_size,
        "per_channel": True,
    }
