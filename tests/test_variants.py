"""Model variants: one prepared backend per distinct model side, patches that change nothing are
dropped or reported not applicable, and the engine runs each variant on its own inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sysnoise import bench
from sysnoise.backends import BACKENDS
from sysnoise.backends.base import BackendContext
from sysnoise.backends.torch_eager import TorchEagerBackend
from sysnoise.cli import main
from sysnoise.engine import EngineOptions
from sysnoise.leaderboard.validate import validate
from sysnoise.noises.suites import SUITES, Noise, Suite
from sysnoise.pipeline import Pipeline
from sysnoise.variants import ModelVariants

import images
from tiny import pooled_classifier, tiny_classifier, write_dataset

REFERENCE = Pipeline()
EXAMPLE = np.zeros((1, 3, 224, 224), np.float32)
OPTIONS = EngineOptions(batch_size=4, workers=0, progress=False)


def _variants(model, tmp_path, calibration=None) -> ModelVariants:
    context = BackendContext(
        device="cpu", cache_dir=tmp_path / "artefacts", model_id="m", calibration=calibration
    )
    return ModelVariants(model, EXAMPLE, context)


def test_patches_that_change_nothing_are_not_applicable_or_dropped(tmp_path):
    variants = _variants(tiny_classifier(), tmp_path)
    ceil = REFERENCE.with_changes(ceil_mode="flipped")
    assert "no max-pool" in variants.not_applicable(ceil, REFERENCE)
    assert variants.not_applicable(REFERENCE, REFERENCE) is None
    stacked = REFERENCE.with_changes(ceil_mode="flipped", decoder="pyav")
    assert variants.not_applicable(stacked, REFERENCE) is None  # the decoder still changes
    assert variants.model_side(stacked) == variants.model_side(REFERENCE)
    pooled = _variants(pooled_classifier(), tmp_path)
    assert pooled.not_applicable(ceil, REFERENCE) is None
    assert pooled.model_side(ceil) != pooled.model_side(REFERENCE)


def test_int8_predictions_are_keyed_by_their_calibration(tmp_path):
    int8 = REFERENCE.with_changes(backend="onnxruntime", precision="int8")
    a = _variants(tiny_classifier(), tmp_path, np.zeros((2, 3, 224, 224), np.float32))
    b = _variants(tiny_classifier(), tmp_path, np.ones((2, 3, 224, 224), np.float32))
    assert a.store_key(REFERENCE) == b.store_key(REFERENCE) == REFERENCE.key
    assert a.store_key(int8) != b.store_key(int8)
    assert a.store_key(int8).startswith(int8.key)


def test_a_backend_that_cannot_run_here_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    variants = _variants(tiny_classifier(), tmp_path)
    trt = REFERENCE.with_changes(backend="tensorrt")
    not_prepared = variants.prepare([REFERENCE, trt])
    assert list(not_prepared) == [trt.key]
    assert not_prepared[trt.key].status == "unavailable"
    assert "tensorrt" in not_prepared[trt.key].reason and "GPU" in not_prepared[trt.key].reason
    variants.close()


class _BuggyBackend(TorchEagerBackend):
    """A backend with a bug: preparing it raises a TypeError."""

    name = "buggy"

    def _prepare(self, model, example):
        return super()._prepare(model, example, "an argument too many")


@pytest.fixture
def buggy_backend():
    BACKENDS.add("buggy", _BuggyBackend)
    try:
        yield REFERENCE.with_changes(backend="buggy")
    finally:
        del BACKENDS._entries["buggy"]


def test_a_bug_in_a_backend_is_a_failure_not_unavailability(tmp_path, buggy_backend):
    variants = _variants(tiny_classifier(), tmp_path)
    not_prepared = variants.prepare([REFERENCE, buggy_backend])
    assert not_prepared[buggy_backend.key].status == "failed"
    assert "TypeError" in not_prepared[buggy_backend.key].reason
    assert isinstance(variants.error(buggy_backend), TypeError)
    assert variants.error(REFERENCE) is None
    variants.close()


def test_a_failed_noise_is_reported_and_refused_by_the_leaderboard(
    tmp_path, buggy_backend, monkeypatch, capsys
):
    noises = [
        Noise("backend=buggy", {"backend": "buggy"}),
        Noise("decoder=cv2", {"decoder": "cv2"}),
    ]
    SUITES.add("with-a-bug", Suite("with-a-bug", "a suite with a buggy backend", lambda: noises))
    model = tiny_classifier()
    monkeypatch.setattr(bench, "load_model", lambda spec, weights=None: (model, "0" * 64))
    files = {"a.jpg": images.china_jpeg(), "b.jpg": images.baseline_420()}
    write_dataset(tmp_path / "data", files)
    args = ["bench", "--suite", "with-a-bug", "--data", str(tmp_path / "data"), "--device", "cpu"]
    args += ["--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    try:
        assert main([*args, "--no-progress"]) == 1
        [path] = (tmp_path / "out").glob("*.json")
        document = json.loads(path.read_text())
        problems = validate(document)
    finally:
        del SUITES._entries["with-a-bug"]
    printed = capsys.readouterr()
    (failed,) = document["not_evaluated"]
    assert failed["status"] == "failed" and "TypeError" in failed["reason"]
    assert [row["noise"] for row in document["rows"]] == ["decoder=cv2"]
    assert "failed" in printed.out and "TypeError" in printed.out  # the report's table
    assert "1 noise(s) failed with an error (backend=buggy)" in printed.err
    assert any("backend=buggy failed" in p and "TypeError" in p for p in problems), problems


def test_the_reference_backend_label_names_any_cuda_device():
    assert bench.reference_backend_label("cuda:1") == "torch-fp32-cuda"
    assert bench.reference_backend_label("cpu") == "torch-fp32"
