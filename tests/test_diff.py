"""`sysnoise diff`: per-layer comparison finds where a noise's difference starts."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
import torch
import torch.nn as nn

from sysnoise.diff import DiffConfig, DiffSubject, diff_model, format_diff
from sysnoise.diff.noise_lookup import find_noise
from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline

import images
from tiny import write_dataset

# Small crops keep every forward pass (and the ONNX export) fast.
REFERENCE = Pipeline(resize_size=64, crop_size=56)
LAYERS = ["input", "0", "1", "2", "3", "4", "5", "6", "7", "8", "output"]


def stem_net() -> nn.Module:
    """ResNet-like stem: conv 7x7/2, BN, ReLU, max-pool 3/2 (56 -> 28 -> 14, or 15 with
    ceil_mode), then a conv and a classifier."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 7, stride=2, padding=3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    bn = model[1]
    bn.running_mean.uniform_(-0.2, 0.2)
    bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    files = {
        "a.jpg": images.china_jpeg(),
        "b.jpg": images.baseline_420(),
        "c.jpg": images.baseline_444(),
        "d.jpg": images.progressive(),
    }
    return write_dataset(tmp_path_factory.mktemp("data"), files)


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    """One artefact cache for the ONNX Runtime tests: the tiny model is exported once."""
    return tmp_path_factory.mktemp("onnx-cache")


def _diff(photos, tmp_path, noisy: Pipeline, images: int = 2, cache=None, **config):
    subject = DiffSubject("stem", "test-noise", "test", REFERENCE, noisy, model_id="stem-test")
    config = DiffConfig(images=images, cache_dir=cache or tmp_path / "cache", **config)
    return diff_model(stem_net(), photos, subject, config)


def _names(report) -> list[str]:
    return [layer.name for layer in report.layers]


def test_identical_pipelines_never_diverge(photos, tmp_path):
    report = _diff(photos, tmp_path, REFERENCE)
    assert _names(report) == LAYERS
    assert all(layer.max_abs == 0 and not layer.diverged for layer in report.layers)
    assert report.first_diverged is None
    assert report.final.max_abs == 0 and report.final.top1_agree == report.final.n_images == 2
    text = format_diff(report)
    assert "never diverges beyond tol 0.001: every layer is identical" in text
    assert "top-1 agreement 2/2" in text


def test_bf16_first_diverges_at_the_first_conv(photos, tmp_path):
    report = _diff(photos, tmp_path, REFERENCE.with_changes(precision="bf16"))
    first = report.first_diverged
    assert first.name == "0" and first.op == "Conv2d"
    assert report.layers[0].max_abs == 0  # the pipelines make the same float32 input
    assert 0 < first.rel_err < 0.05  # bf16 keeps 8 bits of mantissa
    assert report.final.max_abs > 0


def test_ceil_mode_flip_first_diverges_at_the_pool_with_another_shape(photos, tmp_path):
    report = _diff(photos, tmp_path, REFERENCE.with_changes(ceil_mode="flipped"))
    first = report.first_diverged
    assert first.name == "3" and first.op == "MaxPool2d"
    assert first.shape_differs and first.shape[-1] == 14 and first.noisy_shape[-1] == 15
    before = report.layers[: _names(report).index("3")]
    assert all(layer.max_abs == 0 for layer in before)
    assert "shape differs" in format_diff(report)


def test_a_patch_that_changes_nothing_is_not_applicable(photos, tmp_path):
    with pytest.raises(SysnoiseError, match="not applicable"):
        _diff(photos, tmp_path, REFERENCE.with_changes(upsample="bilinear"))


def test_a_pixel_noise_diverges_at_the_input_already(photos, tmp_path):
    report = _diff(photos, tmp_path, REFERENCE.with_changes(resizer="cv2-linear"))
    assert report.first_diverged.name == "input"
    assert report.layers[1].name == "0" and report.layers[1].diverged


def test_top_k_lists_the_largest_errors_and_json_has_every_layer(photos, tmp_path):
    report = _diff(photos, tmp_path, REFERENCE.with_changes(precision="bf16"))
    text = format_diff(report, top=3)
    assert f"(the 3 largest of {len(LAYERS)} layers)" in text
    document = json.loads(json.dumps(report.to_dict()))  # plain JSON, no NaN
    assert document["first_diverged"] == "0"
    assert [layer["name"] for layer in document["layers"]] == LAYERS
    assert document["final"]["top1_agree"] == 2


needs_onnxruntime = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed"
)


@needs_onnxruntime
def test_onnxruntime_int8_errors_show_in_the_matched_tensors(photos, tmp_path, onnx_cache):
    noisy = REFERENCE.with_changes(backend="onnxruntime", precision="int8")
    report = _diff(photos, tmp_path, noisy, cache=onnx_cache, calibration_size=2)
    assert "ONNX Runtime" in report.method and "as ONNX Runtime optimises it" in report.method
    matched = report.layers[1:-1]
    assert matched and any(layer.max_abs > 0 for layer in matched)
    assert report.layers[0].max_abs == 0 and report.first_diverged is not None
    # The table's noisy run is the optimised graph the benchmark runs, to the last bit.
    assert not any("differ from the noisy run" in note for note in report.notes)
    assert any("calibrated" in note for note in report.notes)


@needs_onnxruntime
def test_onnxruntime_fp32_matches_the_unoptimised_graph_closely(photos, tmp_path, onnx_cache):
    noisy = REFERENCE.with_changes(backend="onnxruntime")
    report = _diff(photos, tmp_path, noisy, cache=onnx_cache)
    assert len(report.layers) > 2 and report.first_diverged is None
    assert max(layer.rel_err for layer in report.layers) < 1e-4
    assert not any("differ from the noisy run" in note for note in report.notes)


def test_torch_int8_compares_the_quantized_modules_with_the_fused_reference(photos, tmp_path):
    noisy = REFERENCE.with_changes(precision="int8")
    report = _diff(photos, tmp_path, noisy, calibration_size=2)
    first = report.first_diverged
    assert first.name == "0" and first.op == "ConvReLU2d -> quantized ConvReLU2d"
    assert "1" not in _names(report)  # the BN has no module of its own any more
    assert not any("differ from the noisy run" in note for note in report.notes)


def test_unknown_noise_names_close_matches():
    with pytest.raises(SysnoiseError, match="did you mean: precision=torch-bf16"):
        find_noise("precision=bf16")
    noise, suite = find_noise("combined/5:precision=onnxruntime-int8")
    assert suite == "sysnoise" and noise.changes["precision"] == "int8"


def test_gpu_only_noise_is_a_clear_error(photos, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SysnoiseError, match="cannot run here"):
        _diff(photos, tmp_path, REFERENCE.with_changes(backend="tensorrt"))


def test_cli_writes_the_json(photos, tmp_path, capsys, monkeypatch):
    from sysnoise import datasets, weights
    from sysnoise.cli import main

    # The real command on a tiny model and four photos: mobilenet_v2 works the same, slower.
    monkeypatch.setattr(weights, "load_model", lambda spec, path=None: (stem_net(), "0" * 64))
    monkeypatch.setattr(datasets, "sample_dataset", lambda cache_dir: photos)
    out = tmp_path / "diff.json"
    args = ["diff", "mobilenet_v2", "--noise", "decoder=pyav", "--images", "3", "--top", "4"]
    args += ["--json", str(out)]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    assert "first diverges beyond tol 0.001 at the input" in printed and "(the 4 largest" in printed
    document = json.loads(out.read_text())
    assert document["model"] == "mobilenet_v2" and document["noise"] == "decoder=pyav"
    assert document["first_diverged"] == "input" and document["n_images"] == 3
    assert [layer["name"] for layer in document["layers"]] == LAYERS
    assert document["noisy_pipeline"]["decoder"] == "pyav"
    assert math.isfinite(document["final"]["logits_max_abs"])


def test_cli_unknown_noise_is_one_line(tmp_path, capsys):
    from sysnoise.cli import main

    assert main(["diff", "--noise", "decoder=pyavv", "--cache-dir", str(tmp_path)]) == 2
    assert "did you mean: decoder=pyav" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["craft", "mtcnn"])
def test_cli_refuses_dense_models_in_one_line(model, tmp_path, capsys):
    from sysnoise.cli import main

    argv = ["diff", model, "--noise", "upsample=nearest", "--cache-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"sysnoise bench --model {model} --noises upsample=nearest" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
