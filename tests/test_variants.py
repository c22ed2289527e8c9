"""Model variants: one prepared backend per distinct model side, patches that change nothing are
dropped or reported not applicable, and the engine runs each variant on its own inputs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import images  # noqa: E402
from tiny import tiny_classifier, write_dataset  # noqa: E402

from sysnoise.backends.base import BackendContext  # noqa: E402
from sysnoise.engine import EngineOptions, evaluate  # noqa: E402
from sysnoise.pipeline import Pipeline  # noqa: E402
from sysnoise.store import PredictionStore  # noqa: E402
from sysnoise.variants import ModelVariants  # noqa: E402

REFERENCE = Pipeline()
EXAMPLE = np.zeros((1, 3, 224, 224), np.float32)
OPTIONS = EngineOptions(batch_size=4, workers=0, progress=False)


def pooled_classifier() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=2),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(3, stride=2),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 1000),
    ).eval()


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
    assert variants.variant(stacked) == variants.variant(REFERENCE)
    pooled = _variants(pooled_classifier(), tmp_path)
    assert pooled.not_applicable(ceil, REFERENCE) is None
    assert pooled.variant(ceil) != pooled.variant(REFERENCE)


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
    unavailable = variants.prepare([REFERENCE, trt])
    assert list(unavailable) == [trt.key]
    assert "tensorrt" in unavailable[trt.key] and "GPU" in unavailable[trt.key]
    variants.close()


def test_engine_runs_each_variant_on_its_own_forward_passes(tmp_path):
    files = {"a.jpg": images.china_jpeg(), "b.jpg": images.baseline_420()}
    dataset = write_dataset(tmp_path / "data", files)
    bf16 = REFERENCE.with_changes(precision="bf16")
    pooled = REFERENCE.with_changes(ceil_mode="flipped")
    cv2 = REFERENCE.with_changes(decoder="cv2")
    variants = _variants(pooled_classifier(), tmp_path)
    pipelines = [REFERENCE, cv2, bf16, pooled]
    assert variants.prepare(pipelines) == {}
    store = PredictionStore(tmp_path / "cache.sqlite", "pooled")
    try:
        result = evaluate(dataset, pipelines, variants, store, OPTIONS)
        # cv2 decodes these JPEGs as Pillow does: it shares the reference's forward passes.
        assert result.forwards == 2 * 3
        np.testing.assert_array_equal(result.top5[cv2.key], result.top5[REFERENCE.key])
        assert (result.max_abs_diff[bf16.key] == 0).all()  # same pixels, another precision
        again = evaluate(dataset, pipelines, variants, store, OPTIONS)
        assert again.forwards == 0 and again.cached == 2 * 4
    finally:
        store.close()
        variants.close()
