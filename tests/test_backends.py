"""Every backend and precision against the torch FP32 reference, plus caching and errors.

Inputs are 64x64 crops of real photos; the model is a small conv net with BatchNorm whose head is
a nearest-prototype classifier, so its top-1 classes are spread out and confident like a trained
model's (see tests/tiny.py). Tolerances, on logits of magnitude up to about 8:

- fp32: atol 1e-4, rtol 1e-4 on the CPU (TF32 on a GPU: atol 5e-3).
- fp16: atol 0.02; bf16: atol 0.15. Top-1 agreement >= 0.9, and a top-1 may change only where
  the reference's top-2 margin is within twice that tolerance (a near-tie).
- int8: top-1 agreement >= 0.75 on 64 inputs (measured 0.86-0.89; the same model quantized with
  a wrongly scaled calibration set scores 0.14, see test_int8_agreement_check_can_fail).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sysnoise.backends import BACKENDS, Backend, BackendContext, BackendUnavailable
from sysnoise.backends.onnx_export import (
    cached_onnx,
    onnx_metadata,
    with_all_outputs,
)
from sysnoise.backends.quantize import cached_qdq
from sysnoise.backends.torch_eager import TorchEagerBackend
from sysnoise.errors import SysnoiseError

from tiny import photo_crops, tiny_bn_classifier

FP32_TOLERANCE = {"cpu": 1e-4, "cuda": 5e-3}
LOW_PRECISION_ATOL = {"fp16": 0.02, "bf16": 0.15}
LOW_PRECISION_AGREEMENT = 0.9
INT8_AGREEMENT = 0.75
CASES = [(name, p) for name in BACKENDS.names() for p in BACKENDS.get(name).precisions]


@dataclasses.dataclass(frozen=True)
class Data:
    model: torch.nn.Module
    inputs: np.ndarray  # (64, 3, 64, 64) normalised crops
    calibration: np.ndarray  # 16 other crops
    reference: np.ndarray  # torch FP32 eager logits of `inputs`


@pytest.fixture(scope="module")
def data() -> Data:
    crops = photo_crops(10 + 16 + 64, seed=0)
    prototypes, calibration, inputs = crops[:10], crops[10:26], crops[26:]
    model = tiny_bn_classifier(prototypes)
    with torch.inference_mode():
        reference = model(torch.from_numpy(inputs)).numpy()
    assert len(np.unique(reference.argmax(1))) >= 8  # a spread of classes, not one
    return Data(model, inputs, calibration, reference)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backend-cache")


def _context(data: Data, cache_dir: Path, device: str = "cpu", **changes) -> BackendContext:
    context = BackendContext(
        device=device, cache_dir=cache_dir, model_id="tiny-bn-0", calibration=data.calibration
    )
    return dataclasses.replace(context, **changes)


def check_backend(name: str, precision: str, data: Data, context: BackendContext) -> Backend:
    """The contract: prepare, infer any N as float32 logits close to the reference, describe."""
    backend_class = BACKENDS.get(name)
    reason = backend_class.availability(precision)
    if reason is not None:
        pytest.skip(reason)
    backend = backend_class(precision=precision, context=context)
    try:
        backend.prepare(data.model, data.inputs[:2])
    except BackendUnavailable as exc:  # e.g. a CPU-only onnxruntime asked for CUDA
        pytest.skip(str(exc))
    try:
        logits = backend.infer(data.inputs)
        for n in (1, 5):
            part = backend.infer(data.inputs[:n])
            assert part.dtype == np.float32 and part.shape == (n, data.reference.shape[1])
        facts = backend.describe()
    finally:
        backend.release()
    assert logits.dtype == np.float32 and logits.shape == data.reference.shape
    assert next(data.model.parameters()).dtype == torch.float32  # the caller's model is intact
    assert {"backend", "precision", "device"} <= facts.keys() and facts["precision"] == precision
    json.dumps(facts)
    device = "cuda" if context.device.startswith("cuda") else "cpu"
    _check_logits(precision, logits, data.reference, device)
    return backend


def _check_logits(precision: str, logits: np.ndarray, reference: np.ndarray, device: str) -> None:
    agreement = (logits.argmax(1) == reference.argmax(1)).mean()
    if precision == "fp32":
        tolerance = FP32_TOLERANCE[device]
        np.testing.assert_allclose(logits, reference, atol=tolerance, rtol=tolerance)
    elif precision in LOW_PRECISION_ATOL:
        atol = LOW_PRECISION_ATOL[precision]
        np.testing.assert_allclose(logits, reference, atol=atol, rtol=0)
        assert agreement >= LOW_PRECISION_AGREEMENT
        top2 = np.sort(reference, axis=1)[:, -2:]
        flipped = logits.argmax(1) != reference.argmax(1)
        assert np.all(top2[flipped, 1] - top2[flipped, 0] <= 2 * atol)  # near-ties only
    else:
        assert agreement >= INT8_AGREEMENT, f"int8 top-1 agreement {agreement:.3f}"


@pytest.mark.parametrize(("name", "precision"), CASES)
def test_backend_matches_the_torch_reference(name, precision, data, cache_dir):
    check_backend(name, precision, data, _context(data, cache_dir))


@pytest.mark.gpu
@pytest.mark.parametrize(("name", "precision"), CASES)
def test_backend_matches_the_torch_reference_on_gpu(name, precision, data, cache_dir):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    if name == "torch" and precision == "int8":
        pytest.skip("PyTorch's x86 INT8 kernels run on the CPU only")
    check_backend(name, precision, data, _context(data, cache_dir, device="cuda"))


def test_int8_agreement_check_can_fail(data, cache_dir):
    """Calibrating on inputs 20x too small clips every activation: the int8 check catches it."""
    wrong = _context(data, cache_dir, calibration=data.calibration * 0.05)
    with pytest.raises(AssertionError, match="int8 top-1 agreement"):
        check_backend("onnxruntime", "int8", data, wrong)


def test_second_prepare_reuses_the_cached_onnx_export(data, cache_dir, monkeypatch):
    import sysnoise.backends.onnx_export as onnx_export

    path = cached_onnx(data.model, data.inputs[:2], _context(data, cache_dir))
    stamp = path.stat().st_mtime_ns
    exports = []
    real_export = onnx_export.export_onnx
    monkeypatch.setattr(
        onnx_export, "export_onnx", lambda *args: exports.append(args) or real_export(*args)
    )
    backend = BACKENDS.get("onnxruntime")(context=_context(data, cache_dir))
    backend.prepare(data.model, data.inputs[:2])
    assert backend.describe()["onnx_file"] == path.name
    backend.release()
    assert exports == [] and path.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in path.parent.glob("*.tmp")) == []  # no half-written files


def test_cache_keys_separate_models_and_calibrations(data, cache_dir, monkeypatch):
    import sysnoise.backends.onnx_export as onnx_export

    first = cached_onnx(data.model, data.inputs[:2], _context(data, cache_dir))
    monkeypatch.setattr(onnx_export, "export_onnx", lambda model, example, path, dtype: None)
    other_id = _context(data, cache_dir, model_id="tiny-bn-1")
    assert cached_onnx(data.model, data.inputs[:2], other_id) != first
    other_size = data.inputs[:2, :, :32, :32]
    assert cached_onnx(data.model, other_size, _context(data, cache_dir)) != first
    qdq = cached_qdq(first, data.calibration, "minmax")
    stamp = qdq.stat().st_mtime_ns
    assert cached_qdq(first, data.calibration, "minmax").stat().st_mtime_ns == stamp
    assert cached_qdq(first, data.calibration[:8], "minmax") != qdq
    assert qdq.parent == first.parent and qdq.name.startswith(first.stem)


def test_export_falls_back_to_the_torchscript_exporter(data, tmp_path, monkeypatch):
    import sysnoise.backends.onnx_export as onnx_export

    real_export = onnx_export._export

    def dynamo_fails(model, args, path, dynamo):
        if dynamo:
            raise RuntimeError("dynamo cannot export this model")
        real_export(model, args, path, dynamo)

    monkeypatch.setattr(onnx_export, "_export", dynamo_fails)
    path = cached_onnx(data.model, data.inputs[:2], _context(data, tmp_path))
    assert onnx_metadata(path)["sysnoise.exporter"] == "torchscript"
    backend = BACKENDS.get("onnxruntime")(context=_context(data, tmp_path))
    backend.prepare(data.model, data.inputs[:2])
    logits = backend.infer(data.inputs)
    np.testing.assert_allclose(logits, data.reference, atol=1e-4, rtol=1e-4)
    assert backend.describe()["onnx_exporter"] == "torchscript"


def test_export_needs_an_example_batch(data, cache_dir):
    backend = BACKENDS.get("onnxruntime")(context=_context(data, cache_dir))
    with pytest.raises(SysnoiseError, match="needs an example batch"):
        backend.prepare(data.model, None)


def test_with_all_outputs_exposes_intermediate_tensors(data, cache_dir):
    import onnxruntime

    path = cached_onnx(data.model, data.inputs[:2], _context(data, cache_dir))
    model = with_all_outputs(path)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [output.name for output in session.get_outputs()]
    values = session.run(None, {session.get_inputs()[0].name: data.inputs[:3]})
    assert len(names) == len({out for node in model.graph.node for out in node.output})
    logits = values[names.index("logits")]
    np.testing.assert_allclose(logits, data.reference[:3], atol=1e-4, rtol=1e-4)
    assert any(value.ndim == 4 and value.shape[0] == 3 for value in values)  # feature maps


@pytest.mark.parametrize("name", ["torch", "onnxruntime"])
def test_int8_without_calibration_says_what_it_needs(name, data, cache_dir):
    backend = BACKENDS.get(name)("int8", _context(data, cache_dir, calibration=None))
    with pytest.raises(SysnoiseError, match="int8 needs calibration images"):
        backend.prepare(data.model, data.inputs[:2])


def test_unknown_precision_names_the_valid_ones():
    with pytest.raises(SysnoiseError, match="valid precisions: fp32, int8"):
        BACKENDS.get("onnxruntime")("fp16")
    with pytest.raises(SysnoiseError, match="valid precisions: fp32, fp16, bf16, int8"):
        BACKENDS.get("torch")("int4")


def test_bad_options_fail_at_construction():
    with pytest.raises(SysnoiseError, match="valid levels: disable, basic, extended, all"):
        BACKENDS.get("onnxruntime")(optimization="max")
    with pytest.raises(SysnoiseError, match="valid devices"):
        BackendContext(device="tpu")
    with pytest.raises(SysnoiseError, match="valid methods: minmax, entropy, percentile"):
        BackendContext(calibration_method="mse")


def test_torch_backend_keeps_its_device_keyword(data):
    backend = TorchEagerBackend(device="cpu")
    assert backend.precision == "fp32" and backend.context.device == "cpu"
    backend.prepare(data.model)
    np.testing.assert_array_equal(backend.infer(data.inputs[:4]), data.reference[:4])
    assert backend.describe()["device"] == "cpu"
    with pytest.raises(SysnoiseError, match="does not support precision 'cpu'"):
        TorchEagerBackend("cpu")  # the first argument is the precision


def test_noopt_variant_disables_graph_optimisation():
    backend = BACKENDS.get("onnxruntime-noopt")()
    assert backend.optimization == "disable" and BACKENDS.get("onnxruntime")().optimization == "all"


def test_importing_backends_loads_no_inference_library():
    code = (
        "import sys, sysnoise.backends; "
        "print(sorted(m for m in ('onnxruntime', 'onnx', 'tensorrt') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_tensorrt_says_it_needs_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    reason = BACKENDS.get("tensorrt").availability("fp16")
    assert reason is not None and "GPU" in reason
