"""The engine shares work, survives bad images, and resumes after an interruption."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from sysnoise.engine import EngineOptions, evaluate
from sysnoise.noises import decoders
from sysnoise.pipeline import Pipeline
from sysnoise.store import PredictionStore

import images
from tiny import CountingBackend, tiny_classifier, write_dataset

REFERENCE = Pipeline()
CV2 = REFERENCE.with_changes(decoder="cv2")
PYAV = REFERENCE.with_changes(decoder="pyav")
NEAREST = REFERENCE.with_changes(resizer="pil-nearest")
OPTIONS = EngineOptions(batch_size=4, workers=0, progress=False)


@pytest.fixture()
def photos(tmp_path: Path):
    china = images.china_jpeg()
    files = {"a.jpg": china, "b.jpg": images.baseline_420(), "c.jpg": images.grayscale()}
    return write_dataset(tmp_path / "data", files, labels={"a.jpg": 3})


def _run(dataset, pipelines, tmp_path, backend=None, options=OPTIONS):
    backend = backend or CountingBackend()
    backend.prepare(tiny_classifier())
    store = PredictionStore(tmp_path / "cache.sqlite", "tiny")
    try:
        return evaluate(dataset, pipelines, backend, store, options), backend
    finally:
        store.close()


def test_bit_identical_decoders_share_one_forward_pass(photos, tmp_path):
    result, backend = _run(photos, [REFERENCE, CV2], tmp_path)
    # Pillow and OpenCV decode these JPEGs bit-identically: one forward per image, not two.
    assert backend.rows == result.forwards == 3
    np.testing.assert_array_equal(result.top5[REFERENCE.key], result.top5[CV2.key])
    assert (result.max_abs_diff[CV2.key] == 0).all()


def test_a_decoder_that_differs_gets_its_own_forward_pass(photos, tmp_path):
    result, backend = _run(photos, [REFERENCE, CV2, PYAV], tmp_path)
    assert backend.rows == 6
    assert (result.max_abs_diff[PYAV.key] > 0).all()
    assert np.isfinite(result.mse[PYAV.key]).all()


def test_each_decoder_runs_once_per_image_and_resizes_are_shared(photos, tmp_path, monkeypatch):
    calls: dict[str, int] = {}

    def counting(decoder):
        def decode(data: bytes, min_side: int) -> np.ndarray:
            calls[decoder.name] = calls.get(decoder.name, 0) + 1
            return decoder.decode(data, min_side)

        return dataclasses.replace(decoder, decode=decode)

    for name in ("pil", "cv2"):
        monkeypatch.setitem(decoders.DECODERS._entries, name, counting(decoders.DECODERS.get(name)))
    pipelines = [REFERENCE, CV2, NEAREST, CV2.with_changes(resizer="pil-nearest")]
    result, backend = _run(photos, pipelines, tmp_path)
    assert calls == {"pil": 3, "cv2": 3}
    # two distinct inputs per image (bilinear, nearest); the cv2 twins share them
    assert backend.rows == 6
    assert result.forwards == 6


def test_second_run_takes_everything_from_the_cache(photos, tmp_path):
    first, _ = _run(photos, [REFERENCE, PYAV], tmp_path)
    second, backend = _run(photos, [REFERENCE, PYAV], tmp_path)
    assert backend.rows == 0 and second.cached == 6
    for key in first.top5:
        np.testing.assert_array_equal(first.top5[key], second.top5[key])
        np.testing.assert_array_equal(first.mse[key], second.mse[key])


def test_adding_one_noise_costs_one_noise(photos, tmp_path):
    _run(photos, [REFERENCE, PYAV], tmp_path)
    result, backend = _run(photos, [REFERENCE, PYAV, NEAREST], tmp_path)
    assert backend.rows == 3
    assert result.cached == 6


def test_interrupted_run_resumes_where_it_stopped(photos, tmp_path):
    pipelines = [REFERENCE, PYAV, NEAREST]
    options = dataclasses.replace(OPTIONS, batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        _run(photos, pipelines, tmp_path, CountingBackend(fail_after_batches=2), options)
    resumed, backend = _run(photos, pipelines, tmp_path, options=options)
    assert resumed.cached == 4  # two batches of two finished before the interruption
    assert backend.rows == 9 - 4
    fresh, _ = _run(photos, pipelines, tmp_path / "fresh", options=options)
    for key in fresh.top5:
        np.testing.assert_array_equal(fresh.top5[key], resumed.top5[key])


def test_bad_images_are_recorded_and_the_run_goes_on(tmp_path):
    files = {
        "good.jpg": images.baseline_420(),
        "truncated.jpg": images.truncated(),
        "garbage.jpg": b"this is not an image",
        "picture.png": images.png(),
    }
    dataset = write_dataset(tmp_path / "data", files)
    turbo = REFERENCE.with_changes(decoder="turbo-fastdct")
    result, _ = _run(dataset, [REFERENCE, turbo], tmp_path)
    ids = result.image_ids
    failed_ref = {ids[i] for i in np.flatnonzero(result.failed(REFERENCE.key))}
    failed_turbo = {ids[i] for i in np.flatnonzero(result.failed(turbo.key))}
    assert failed_ref == {"truncated.jpg", "garbage.jpg"}
    assert failed_turbo == {"truncated.jpg", "garbage.jpg", "picture.png"}
    assert "turbo-fastdct" in result.errors[turbo.key]["picture.png"]
    assert result.top5[REFERENCE.key][ids.index("good.jpg"), 0] >= 0


def test_unreadable_file_is_a_failure_not_a_crash(photos, tmp_path):
    missing = dataclasses.replace(photos.records[0], path=tmp_path / "gone.jpg")
    dataset = dataclasses.replace(photos, records=(missing, *photos.records[1:]))
    result, _ = _run(dataset, [REFERENCE], tmp_path)
    assert "cannot read" in result.errors[REFERENCE.key][missing.image_id]
    assert result.failed(REFERENCE.key).sum() == 1


def test_workers_give_the_same_predictions(photos, tmp_path):
    inline, _ = _run(photos, [REFERENCE, PYAV], tmp_path / "inline")
    parallel, _ = _run(
        photos,
        [REFERENCE, PYAV],
        tmp_path / "workers",
        options=dataclasses.replace(OPTIONS, workers=2),
    )
    for key in inline.top5:
        np.testing.assert_array_equal(inline.top5[key], parallel.top5[key])


def test_files_with_identical_pixels_share_a_forward_pass(tmp_path):
    # a progressive and a baseline encoding of one image decode to the same pixels
    files = {"baseline.jpg": images.baseline_420(), "progressive.jpg": images.progressive()}
    dataset = write_dataset(tmp_path / "data", files)
    result, backend = _run(dataset, [REFERENCE], tmp_path)
    assert backend.rows == 1
    top5 = result.top5[REFERENCE.key]
    np.testing.assert_array_equal(top5[0], top5[1])
