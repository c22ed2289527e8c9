"""INT8 post-training static quantization of an ONNX model into QDQ format, cached.

One QDQ model serves ONNX Runtime and TensorRT, so their INT8 results differ only by the backend.
That fixes the recipe to what TensorRT's explicit quantization accepts and what ONNX Runtime's
quantizer documents for GPU/TensorRT targets: symmetric signed int8 activations and weights
(S8S8, zero point 0), per-channel weights, float biases (TensorRT has no int32
DequantizeLinear), a Q/DQ pair on each weight and a dedicated Q/DQ pair per consumer. For x86
CPUs alone ONNX Runtime would suggest uint8 activations (U8S8); S8S8 is the only recipe both
backends take.

Weights are 8-bit, as deployment uses them, except for ONNX Runtime on x86 CPUs without VNNI or
AMX (`needs_reduce_range`): there its fused int8 kernels (graph optimisation "extended" and up)
add pairs of 8-bit products in 16 bits and saturate, so ONNX Runtime advises 7-bit weights
(`reduce_range`). Measured on an AVX2-only CPU, a small conv net's top-1 agreement with FP32 fell
from 0.86 (graph optimisation off) to 0.27 (on) with 8-bit weights, and stayed 0.86 with 7-bit
ones. TensorRT always gets 8-bit weights. The choice and its reason are in the model's metadata
and so in the results. `quant_pre_process` (shape inference and graph optimisation) runs first,
as ONNX Runtime recommends, and is skipped with a note in the metadata if it fails.

Activation ranges come from `sysnoise.backends.int8_ranges` (minmax, TensorRT-style entropy and
percentile; ONNX Runtime's own "entropy", as `quantize_static` runs it, is min/max) and reach
`quantize_static` as its calibration cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.backends.base import check_calibration_method
from sysnoise.errors import SysnoiseError
from sysnoise.fileio import atomic_write

RECIPE = {
    "format": "QDQ",
    "activation_type": "int8",
    "weight_type": "int8",
    "activation_symmetric": True,
    "weight_symmetric": True,
    "per_channel": True,
    "quantize_bias": False,
}
# CPU flags (Linux /proc/cpuinfo names) of the int8 dot-product instructions that let ONNX
# Runtime's x86 kernels use full 8-bit weights without saturating.
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
_EXTRA_OPTIONS = {
    "ActivationSymmetric": True,
    "WeightSymmetric": True,
    "QuantizeBias": False,
    "AddQDQPairToWeight": True,
    "DedicatedQDQPair": True,
}


@functools.cache
def cpu_int8_flags() -> tuple[str, ...]:
    """The VNNI/AMX flags this CPU reports in /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.partition(":")[2].split())
                    return tuple(flag for flag in VNNI_FLAGS if flag in flags)
    except OSError:
        pass
    return ()


def needs_reduce_range() -> tuple[bool, str]:
    """Whether ONNX Runtime on this CPU needs 7-bit weights, and why."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return False, f"{machine} CPU: ONNX Runtime's int8 kernels take 8-bit weights"
    flags = cpu_int8_flags()
    if flags:
        return False, f"x86 CPU with {', '.join(flags)}: 8-bit weights do not saturate"
    return True, "x86 CPU without VNNI/AMX (no avx512_vnni, avx_vnni, amx_int8 in /proc/cpuinfo)"


def quantize_qdq(
    onnx_path: Path,
    calibration: np.ndarray,
    method: str,
    out_path: Path,
    reduce_range: bool = False,
) -> None:
    """Write the INT8 QDQ model of `onnx_path`, calibrated on `calibration` with `method`;
    `reduce_range`: 7-bit weights (ONNX Runtime on x86 CPUs without VNNI)."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

    from sysnoise.backends.int8_ranges import activation_ranges

    calibration = _check_calibration(calibration, method)
    with tempfile.TemporaryDirectory(prefix="sysnoise-qdq-") as scratch:
        source, preprocessed = _preprocess(onnx_path, Path(scratch) / "preprocessed.onnx")
        ranges = activation_ranges(source, calibration, method)
        # The ranges go in as ONNX Runtime's calibration cache: it then calibrates nothing itself.
        cache = Path(scratch) / "ranges.json"
        data = {
            name: TensorData(lowest=np.float32(low), highest=np.float32(high))
            for name, (low, high) in ranges.items()
        }
        save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), cache)
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                str(source),
                str(out_path),
                None,
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                reduce_range=reduce_range,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options=dict(_EXTRA_OPTIONS),
                calibration_cache_path=cache,
            )
    model = onnx.load(str(out_path))
    facts = {
        **{f"sysnoise.quant.{key}": json.dumps(value) for key, value in RECIPE.items()},
        "sysnoise.quant.reduce_range": json.dumps(reduce_range),
        "sysnoise.quant.weight_bits": json.dumps(7 if reduce_range else 8),
        "sysnoise.quant.calibration_method": json.dumps(method),
        "sysnoise.quant.calibration_settings": json.dumps(_settings(method)),
        "sysnoise.quant.calibration_size": json.dumps(len(calibration)),
        "sysnoise.quant.preprocessed": json.dumps(preprocessed),
        "sysnoise.quant.onnxruntime_version": json.dumps(onnxruntime.__version__),
    }
    source_props = onnx.load(str(onnx_path), load_external_data=False).metadata_props
    exported = {prop.key: prop.value for prop in source_props}  # exporter, dtype, opset
    onnx.helper.set_model_props(model, {**exported, **facts})
    onnx.save(model, str(out_path))


def cached_qdq(
    onnx_path: Path, calibration: np.ndarray, method: str, reduce_range: bool = False
) -> Path:
    """The QDQ model beside `onnx_path`, keyed by the calibration batch, method and weight bits."""
    import onnxruntime

    from sysnoise.backends import int8_ranges

    calibration = _check_calibration(calibration, method)
    digest = hashlib.sha256()
    recipe = [RECIPE, reduce_range, method, _settings(method), onnxruntime.__version__]
    digest.update(json.dumps([*recipe, calibration.shape, int8_ranges.__doc__]).encode())
    digest.update(calibration.tobytes())
    bits = 7 if reduce_range else 8
    name = f"{onnx_path.stem}.int8-w{bits}-{method}-{digest.hexdigest()[:12]}.onnx"
    path = onnx_path.with_name(name)
    if not path.is_file():
        atomic_write(
            path, lambda tmp: quantize_qdq(onnx_path, calibration, method, tmp, reduce_range)
        )
    return path


def _settings(method: str) -> dict[str, Any]:
    from sysnoise.backends import int8_ranges

    if method == "minmax":
        return {}
    settings: dict[str, Any] = {"histogram": "|x|", "histogram_bins": int8_ranges.HISTOGRAM_BINS}
    if method == "entropy":
        return {**settings, "quantized_bins": int8_ranges.QUANTIZED_BINS, "divergence": "KL"}
    return {**settings, "percentile": int8_ranges.PERCENTILE}


def qdq_facts(metadata: dict[str, str]) -> dict[str, Any]:
    """The quantization settings stored in a QDQ model's metadata, as JSON-ready values."""
    prefix = "sysnoise.quant."
    return {
        key[len(prefix) :]: json.loads(value)
        for key, value in metadata.items()
        if key.startswith(prefix)
    }


def _check_calibration(calibration: np.ndarray | None, method: str) -> np.ndarray:
    check_calibration_method(method)
    if calibration is None or len(calibration) == 0:
        raise SysnoiseError("int8 needs calibration images; the calibration batch is empty")
    return np.ascontiguousarray(calibration, dtype=np.float32)


def _preprocess(onnx_path: Path, out_path: Path) -> tuple[Path, bool]:
    """ONNX Runtime's quantization pre-processing, or the model as it is when that fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(onnx_path), str(out_path))
    except Exception:  # symbolic shape inference does not know every op; quantize unprocessed
        return onnx_path, False
    return out_path, True
