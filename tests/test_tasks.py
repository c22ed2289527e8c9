"""The task layer: the one engine loop serves classification and dense tasks alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sysnoise.engine import EngineOptions, evaluate
from sysnoise.pipeline import Pipeline
from sysnoise.store import DensePrediction, PredictionStore
from sysnoise.tasks import task_for
from sysnoise.tasks.dense import (
    DenseTask,
    decode_arrays,
    decode_label_map,
    encode_arrays,
    encode_label_map,
    resize_whole,
)

import images
from tiny import CountingBackend, write_dataset

OPTIONS = EngineOptions(batch_size=4, workers=0, progress=False)
DENSE = Pipeline(resize_size=96, crop_size=0)


class _ArgmaxTask(DenseTask):
    """The dense plumbing alone: per-pixel argmax stored as a PNG label map."""

    name = "argmax"

    def forward(self, runner, model_side, crops, table, check):
        from sysnoise.preprocess import normalise_with_table

        logits = runner.infer(model_side, normalise_with_table(crops, table))
        check(logits)
        return [encode_label_map(np.argmax(row, axis=0)) for row in logits]

    def document(self, run, evaluation):
        raise AssertionError("not scored here")

    predictions_frame = document


def _tiny_dense() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1)).eval()


def test_label_maps_and_arrays_round_trip():
    labels = np.random.default_rng(0).integers(0, 21, (37, 53)).astype(np.uint8)
    np.testing.assert_array_equal(decode_label_map(encode_label_map(labels)), labels)
    boxes = np.arange(8, dtype=np.float32).reshape(2, 4)
    back = decode_arrays(encode_arrays(boxes=boxes, labels=np.array([1, 2])))
    np.testing.assert_array_equal(back["boxes"], boxes)


def test_dense_inputs_keep_the_aspect_and_longer_pads_to_the_canvas():
    image = np.full((100, 150, 3), 200, np.uint8)
    assert resize_whole(image, DENSE).shape == (96, 144, 3)
    longer = resize_whole(image, DENSE.with_changes(resize_protocol="longer"))
    assert longer.shape == (64, 96, 3)  # 64x96 content, already multiples of 32
    odd = resize_whole(image, DENSE.with_changes(resize_protocol="longer", resize_size=90))
    assert odd.shape == (64, 96, 3) and not odd[60:].any() and odd[:60, :90].all()
    with pytest.raises(ValueError, match="crops"):
        resize_whole(image, DENSE.with_changes(resize_protocol="crop-resize"))


def test_the_engine_batches_dense_inputs_by_size_and_caches_their_masks(tmp_path: Path):
    files = {"a.jpg": images.china_jpeg(), "b.jpg": images.baseline_420(), "c.png": b"broken"}
    dataset = write_dataset(tmp_path / "data", files)
    nearest = DENSE.with_changes(resizer="pil-nearest")
    task = _ArgmaxTask()

    def run() -> tuple:
        backend = CountingBackend()
        backend.prepare(_tiny_dense())
        store = PredictionStore(tmp_path / "cache.sqlite", "dense", kind="dense")
        try:
            return evaluate(dataset, [DENSE, nearest], backend, store, OPTIONS, task), backend
        finally:
            store.close()

    first, backend = run()
    assert first.task == "argmax" and backend.rows == first.forwards == 4
    assert list(task.failed(first.predictions[DENSE.key])) == [False, False, True]
    masks = [decode_label_map(first.predictions[DENSE.key][i]) for i in range(2)]
    assert masks[0].shape[0] == 96 and masks[0].shape != masks[1].shape  # each its own size
    assert "c.png" in first.errors[nearest.key]
    second, backend = run()
    assert backend.rows == 0 and second.cached == 6
    assert second.predictions == first.predictions


def test_dense_batches_are_capped_by_pixels_and_classification_keeps_its_batch():
    from sysnoise.tasks.dense import BATCH_PIXELS

    assert _ArgmaxTask().max_batch((1040, 1040, 3), 32) == BATCH_PIXELS // 1040**2 == 2
    assert _ArgmaxTask().max_batch((4000, 4000, 3), 32) == 1
    assert _ArgmaxTask().max_batch((64, 64, 3), 32) == 32
    assert task_for("classification").max_batch((224, 224, 3), 32) == 32


def test_dense_inputs_of_many_sizes_do_not_pile_up_in_memory(tmp_path: Path, monkeypatch):
    from sysnoise import engine

    files = {
        "a.jpg": images.china_jpeg(),  # 640x427
        "b.jpg": images.baseline_420(),  # 512x512
        "c.jpg": images.exif_rotated(),
    }
    dataset = write_dataset(tmp_path / "data", files)
    queued: list[int] = []
    add = engine.Forwarder.add

    def counting_add(self, *args):
        add(self, *args)
        queued.append(self.queued())

    monkeypatch.setattr(engine.Forwarder, "add", counting_add)
    backend = CountingBackend()
    backend.prepare(_tiny_dense())
    store = PredictionStore(tmp_path / "cache.sqlite", "dense", kind="dense")
    options = EngineOptions(batch_size=2, workers=0, progress=False)
    pipelines = [DENSE, DENSE.with_changes(resize_size=80)]  # no two inputs of one size
    result = evaluate(dataset, pipelines, backend, store, options, _ArgmaxTask())
    store.close()
    assert result.forwards == 6 and not any(result.errors.values())
    assert max(queued) == _ArgmaxTask().queue_limit(2) == 4  # 6 without the limit


def test_a_store_holds_one_kind_of_rows(tmp_path: Path):
    store = PredictionStore(tmp_path / "p.sqlite", "m", kind="dense")
    store.put("img", "pipe", DensePrediction(b"png", "h", 0, 0.0))
    assert store.lookup("img", ["pipe"])["pipe"].output == b"png"
    with pytest.raises(ValueError, match="needs a 'top5' store"):
        evaluate([], [Pipeline()], CountingBackend(), store, OPTIONS, task_for("classification"))
    store.close()
