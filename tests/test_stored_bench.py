"""`bench --imagenet-s DIR` is `bench` with stored crops as the image source: the same model
variants, calibration and workers, and the same numbers as decoding the files on the fly."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from sysnoise import bench, weights
from sysnoise.config import BenchConfig
from sysnoise.imagenet_s.dataset import StoredSet
from sysnoise.imagenet_s.evaluate import run_stored_bench
from sysnoise.imagenet_s.generate import GenerateConfig, generate
from sysnoise.imagenet_s.plan import plan_stored
from sysnoise.imagenet_s.prepare import error_text
from sysnoise.imagenet_s.source import StoredSource
from sysnoise.noises import decoders
from sysnoise.noises.suites import SUITES, Noise, Suite
from sysnoise.pipeline import Pipeline
from sysnoise.store import PredictionStore

import images
from registry_guard import restored_registries
from tiny import tiny_classifier, write_dataset

pytest.importorskip("onnxruntime")

FILES = {
    "a.jpg": images.china_jpeg(),
    "b.jpg": images.baseline_420(),
    "c.jpg": images.progressive(),
    "d.jpg": images.grayscale(),
    "e.png": images.png(),
    "garbage.jpg": b"not an image",
}
NOISES = [
    Noise("decoder=cv2", {"decoder": "cv2", "resizer": "cv2-area"}),
    Noise("precision=torch-bf16", {"precision": "bf16"}),
    Noise("precision=onnxruntime-int8", {"backend": "onnxruntime", "precision": "int8"}),
    Noise("colour=yuv420", {"colour": "yuv420-bt601-full"}),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stored-bench")
    write_dataset(tmp / "data", FILES)
    with restored_registries():
        generate(
            GenerateConfig(
                out=tmp / "set",
                data=tmp / "data",
                variants="pil/pil-bilinear,cv2/cv2-area",
                protocol="shorter",  # the on-the-fly reference's protocol, for equal pixels
                progress=False,
                cache_dir=tmp / "gen-cache",
            )
        )
    SUITES.add("stored-test", Suite("stored-test", "model and pixel noises", lambda: NOISES))
    patch = pytest.MonkeyPatch()
    model = tiny_classifier()
    for module in (bench, weights):
        patch.setattr(module, "load_model", lambda spec, weights=None: (model, "0" * 64))
    yield tmp
    patch.undo()
    del SUITES._entries["stored-test"]


def _config(tmp, name: str, **changes) -> BenchConfig:
    config = BenchConfig(
        suite="stored-test",
        calibration_size=2,
        batch_size=3,
        out_dir=tmp / name,
        cache_dir=tmp / "cache",  # shared artefacts; stored predictions have their own keys
        progress=False,
        device="cpu",
    )
    return dataclasses.replace(config, **changes)


def test_a_suite_on_stored_crops_equals_decoding_on_the_fly(setup):
    live = bench.run_bench(_config(setup, "live", data=setup / "data")).document
    stored = run_stored_bench(_config(setup, "stored", workers=2), setup / "set").document
    for document in (live, stored):  # error texts may name Python objects by address
        for part in [*document["rows"], document["reference"]]:
            part["errors"]["first"] = {k: error_text(v) for k, v in part["errors"]["first"].items()}
    assert stored["rows"] == [row for row in live["rows"] if row["noise"] != "colour=yuv420"]
    assert stored["reference"] == live["reference"]
    assert stored["calibration"] == live["calibration"]
    assert stored["dataset"]["fingerprint"] == live["dataset"]["fingerprint"]
    assert {r["noise"] for r in stored["rows"]} == {n.name for n in NOISES[:3]}
    assert stored["backends"]["onnxruntime-int8"]["precision"] == "int8"
    (not_stored,) = stored["not_evaluated"]
    assert not_stored["noise"] == "colour=yuv420" and not_stored["status"] == "unavailable"
    assert "holds no variant with its pixels" in not_stored["reason"]


def test_the_stored_source_pickles_for_spawned_workers(setup):
    stored = StoredSet(setup / "set")
    source = StoredSource(stored, plan_stored(stored, Pipeline()))
    clone = pickle.loads(pickle.dumps(source))
    store = PredictionStore(setup / "pickle.sqlite", "tiny")
    pipelines = {Pipeline().key: Pipeline()}
    try:
        work, again = source.prepare(0, pipelines, store), clone.prepare(0, pipelines, store)
    finally:
        store.close()
    assert work.image_hash == again.image_hash and work.inputs == again.inputs


def test_stored_pixels_need_no_decoder_here(setup):
    with restored_registries():
        cv2 = decoders.DECODERS.get("cv2")
        gone = dataclasses.replace(cv2, availability=lambda: "not installed here")
        decoders.DECODERS._entries["cv2"] = gone
        config = _config(setup, "no-cv2", suite=BenchConfig().suite, calibration_size=None)
        document = run_stored_bench(config, setup / "set").document
    assert [row["noise"] for row in document["rows"]] == ["cv2/cv2-area"]
    assert document["not_evaluated"] == []
