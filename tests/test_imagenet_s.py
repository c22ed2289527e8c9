"""Stored ImageNet-S sets: generate, verify, resume, read, and evaluate exactly as on the fly."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sysnoise.cli import main
from sysnoise.datasets import load_folder
from sysnoise.engine import EngineOptions, evaluate
from sysnoise.errors import SysnoiseError
from sysnoise.imagenet_s import generate as generate_module
from sysnoise.imagenet_s import layout
from sysnoise.imagenet_s.dataset import ImageNetS, StoredSet
from sysnoise.imagenet_s.generate import GenerateConfig, generate
from sysnoise.imagenet_s.plan import plan_stored
from sysnoise.imagenet_s.prepare import error_text
from sysnoise.imagenet_s.source import StoredSource
from sysnoise.imagenet_s.variants import parse_variants
from sysnoise.imagenet_s.verify import verify
from sysnoise.noises import decoders
from sysnoise.noises.suites import Noise, Suite
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import model_input
from sysnoise.results import RunInputs, build_result
from sysnoise.store import PredictionStore
from sysnoise.zoo import ModelSpec

import images
from registry_guard import restored_registries
from tiny import CountingBackend, tiny_classifier, write_dataset

VARIANTS = (
    "pil/pil-bilinear,cv2/cv2-area,pyav/pil-bilinear,pil/pil-nearest,turbo-fastdct/torch-bilinear"
)
FILES = {
    "a.jpg": images.china_jpeg(),
    "b.jpg": images.baseline_420(),
    "c.jpg": images.grayscale(),
    "d.jpg": images.progressive(),
    "garbage.jpg": b"this is not an image",
    "picture.png": images.png(),  # simplejpeg (turbo-fastdct) reads JPEG only
}


@pytest.fixture(scope="module", autouse=True)
def registries():
    """Side-environment entries (Pillow-SIMD) registered here are gone after this module."""
    with restored_registries():
        yield


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    write_dataset(folder, FILES)
    (folder / "labels.txt").write_text("a.jpg 3\nb.jpg n01440764\n")
    return folder


def _config(data_dir: Path, out: Path, **changes) -> GenerateConfig:
    config = GenerateConfig(out=out, data=data_dir, variants=VARIANTS, chunk_size=2, progress=False)
    return dataclasses.replace(config, **changes)


@pytest.fixture(scope="module")
def generated(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("set") / "set"
    generate(_config(data_dir, out))
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / layout.VARIANTS_DIR).iterdir())}


def _stable_manifest(root: Path) -> dict:
    manifest = json.loads((root / layout.MANIFEST).read_text())
    del manifest["created"], manifest["tool"]  # the clock, and a git hash others may move
    return manifest


def test_each_variant_holds_exactly_the_on_the_fly_model_inputs(generated, data_dir):
    stored = StoredSet(generated)
    assert stored.names == VARIANTS.split(",")
    assert stored.image_ids == sorted(FILES)
    assert stored.labels.tolist() == [3, 0, -1, -1, -1, -1]
    for name, variant in stored.variants.items():
        array = stored.array(name)
        assert array.shape == (len(FILES), 224, 224, 3) and isinstance(array, np.memmap)
        for index, image_id in enumerate(stored.image_ids):
            if index in variant.failures:
                assert not array[index].any()
                continue
            expected = model_input((data_dir / image_id).read_bytes(), variant.pipeline)
            np.testing.assert_array_equal(array[index], expected, err_msg=f"{name} {image_id}")


def test_bad_images_are_recorded_per_variant_not_fatal(generated):
    stored = StoredSet(generated)
    garbage = stored.image_ids.index("garbage.jpg")
    png = stored.image_ids.index("picture.png")
    for name, variant in stored.variants.items():
        expected = {garbage, png} if name.startswith("turbo-fastdct") else {garbage}
        assert set(variant.failures) == expected, name
        assert "refuses this file: not an image" in variant.failures[garbage]
    manifest = _stable_manifest(generated)
    assert [v["n_failed"] for v in manifest["variants"]] == [1, 1, 1, 1, 2]
    assert manifest["images"]["sha256"][garbage] is not None


def test_manifest_says_what_each_variant_is_and_what_made_it(generated):
    manifest = _stable_manifest(generated)
    assert manifest["format"] == "sysnoise-imagenet-s" and manifest["format_version"] == 1
    entry = manifest["variants"][1]
    assert entry["name"] == "cv2/cv2-area" and entry["file"] == "variants/cv2__cv2-area.npy"
    assert entry["pipeline"] == Pipeline(
        decoder="cv2", resizer="cv2-area", resize_protocol="squash", exif="apply"
    ).to_dict()
    assert manifest["protocol"]["name"] == "published"
    assert entry["bytes"] == (generated / entry["file"]).stat().st_size
    assert entry["bytes"] == len(FILES) * 224 * 224 * 3 + 128  # rows plus the .npy header
    assert "Pillow" in manifest["library_versions"]
    assert len(manifest["dataset"]["fingerprint"]) == 64
    sums = (generated / layout.CHECKSUMS).read_text().splitlines()
    assert f"{entry['sha256']}  {entry['file']}" in sums


def test_verify_passes_then_finds_one_corrupt_byte_and_a_missing_file(generated, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in generated.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(generated)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    assert all(check.status == "ok" for check in verify(copy))
    assert main(["imagenet-s", "verify", str(copy)]) == 0
    data = copy / "variants" / "cv2__cv2-area.npy"
    with data.open("r+b") as handle:
        handle.seek(5000)
        byte = handle.read(1)
        handle.seek(5000)
        handle.write(bytes([byte[0] ^ 1]))
    (copy / "variants" / "pil__pil-nearest.npy").unlink()
    status = {check.name: check.status for check in verify(copy)}
    assert status["cv2/cv2-area"] == "damaged" and status["pil/pil-nearest"] == "missing"
    assert status["pil/pil-bilinear"] == "ok"
    assert main(["imagenet-s", "verify", str(copy)]) == 1
    out = capsys.readouterr()
    assert "damaged" in out.out and "2 damaged or missing" in out.err


def test_interrupted_after_a_chunk_resumes_to_the_same_bytes(data_dir, tmp_path, generated):
    out = tmp_path / "set"

    def stop_after_second_chunk(chunk: int) -> None:
        if chunk == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(_config(data_dir, out), after_chunk=stop_after_second_chunk)
    assert not (out / layout.MANIFEST).exists()
    record = json.loads(layout.progress_path(out, "cv2/cv2-area").read_text())
    assert record["images_done"] == 4 and not record["done"]
    resumed = generate(_config(data_dir, out))
    assert resumed.images_processed == len(FILES) - 4
    assert _files(out) == _files(generated)
    assert _stable_manifest(out) == _stable_manifest(generated)


def test_a_kill_in_the_middle_of_a_chunk_loses_only_that_chunk(
    data_dir, tmp_path, generated, monkeypatch
):
    out = tmp_path / "set"
    store = generate_module._store
    calls = []

    def crash_on_the_fifth_image(file, index, output, name, chunk):
        calls.append(index)
        if index == 4 and name == "pil/pil-nearest":
            raise SystemExit("killed")
        store(file, index, output, name, chunk)

    monkeypatch.setattr(generate_module, "_store", crash_on_the_fifth_image)
    with pytest.raises(SystemExit):
        generate(_config(data_dir, out))
    monkeypatch.setattr(generate_module, "_store", store)
    record = json.loads(layout.progress_path(out, "pil/pil-bilinear").read_text())
    assert record["images_done"] == 4  # image 4's rows were written, but never committed
    generate(_config(data_dir, out, workers=2))
    assert _files(out) == _files(generated)


def test_a_variant_is_done_only_once_hashed(data_dir, tmp_path, generated, monkeypatch):
    out = tmp_path / "set"

    def no_hash(path: Path) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(layout, "sha256_file", no_hash)
    with pytest.raises(KeyboardInterrupt):
        generate(_config(data_dir, out))
    monkeypatch.undo()
    records = [json.loads(p.read_text()) for p in (out / "progress").glob("*__*.json")]
    assert records and not any(record["done"] for record in records)
    assert all(record["images_done"] == len(FILES) for record in records)
    again = generate(_config(data_dir, out))
    assert again.images_processed == 0  # only hashing was left
    assert _files(out) == _files(generated)


def test_a_rerun_of_a_finished_set_does_nothing_and_a_new_variant_adds_to_it(data_dir, tmp_path):
    out = tmp_path / "set"
    generate(_config(data_dir, out, variants="pil/pil-bilinear"))
    again = generate(_config(data_dir, out, variants="pil/pil-bilinear"))
    assert again.images_processed == 0 and again.reused == ["pil/pil-bilinear"]
    more = generate(_config(data_dir, out, variants="cv2/cv2-linear"))
    assert more.written == ["cv2/cv2-linear"]
    assert StoredSet(out).names == ["cv2/cv2-linear", "pil/pil-bilinear"]


def test_other_images_or_settings_in_the_same_folder_are_refused(data_dir, tmp_path):
    out = tmp_path / "set"
    generate(_config(data_dir, out, variants="pil/pil-bilinear", limit=3))
    with pytest.raises(SysnoiseError, match="other images"):
        generate(_config(data_dir, out, variants="pil/pil-bilinear"))
    with pytest.raises(SysnoiseError, match="other settings"):
        generate(_config(data_dir, out, variants="pil/pil-bilinear", limit=3, crop_size=128))


def test_an_unavailable_variant_is_skipped_with_its_reason(data_dir, tmp_path, monkeypatch, caplog):
    absent = dataclasses.replace(
        decoders.DECODERS.get("pil"), name="absent", availability=lambda: "needs a GPU"
    )
    monkeypatch.setitem(decoders.DECODERS._entries, "absent", absent)
    out = tmp_path / "set"
    outcome = generate(_config(data_dir, out, variants="pil/pil-bilinear,absent/pil-bilinear"))
    assert outcome.skipped == {"absent/pil-bilinear": "decoder 'absent': needs a GPU"}
    assert "skipping variant absent/pil-bilinear" in caplog.text
    manifest = _stable_manifest(out)
    assert [v["name"] for v in manifest["variants"]] == ["pil/pil-bilinear"]
    assert manifest["skipped"][0]["reason"] == "decoder 'absent': needs a GPU"
    assert not layout.data_path(out, "absent/pil-bilinear").exists()
    with pytest.raises(SysnoiseError, match="skipped when generated: decoder 'absent'"):
        StoredSet(out).variant("absent/pil-bilinear")
    with pytest.raises(SysnoiseError, match="none of the requested variants"):
        generate(_config(data_dir, tmp_path / "none", variants="absent/pil-bilinear"))


def test_variant_names_presets_and_errors():
    base = Pipeline()
    assert len(parse_variants("imagenet-s", base)) == 33
    names = [v.name for v in parse_variants("cv2-area, pyav, pil/pil-bilinear, cv2-area", base)]
    assert names == ["pil/cv2-area", "pyav/pil-bilinear", "pil/pil-bilinear"]
    with pytest.raises(SysnoiseError, match="unknown variant 'nope'"):
        parse_variants("nope", base)
    with pytest.raises(SysnoiseError, match="unknown resizer 'bogus'"):
        parse_variants("pil/bogus", base)


def test_the_torch_dataset_gives_the_model_inputs_and_labels(generated, data_dir):
    dataset = ImageNetS(generated, "cv2/cv2-area")
    assert len(dataset) == len(FILES)
    pipeline = Pipeline(decoder="cv2", resizer="cv2-area", resize_protocol="squash", exif="apply")
    image, label = dataset[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 224, 224) and label == 3
    expected = model_input((data_dir / "a.jpg").read_bytes(), pipeline)
    assert torch.equal(image, torch.from_numpy(expected).permute(2, 0, 1))
    assert dataset.failed.tolist() == [False, False, False, False, True, False]
    halved = ImageNetS(generated, "cv2/cv2-area", transform=lambda x: x[:, ::2, ::2])
    assert halved[0][0].shape == (3, 112, 112)
    clone = pickle.loads(pickle.dumps(dataset))  # DataLoader workers get a copy
    assert torch.equal(clone[1][0], dataset[1][0])
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=2)
    batches = list(loader)
    assert [len(labels) for _, labels in batches] == [4, 2]


def _spec(reference: Pipeline) -> ModelSpec:
    return ModelSpec("tiny", "tiny", "seed0", "", reference, 1000, None)


def _without_addresses(document: dict) -> dict:
    """Error texts may name Python objects by address: compare them without."""
    for part in [*document["rows"], document["reference"]]:
        first = part["errors"]["first"]
        part["errors"]["first"] = {k: error_text(v) for k, v in first.items()}
    return document


def test_stored_evaluation_equals_the_on_the_fly_engine_exactly(generated, data_dir, tmp_path):
    stored = StoredSet(generated)
    plan = plan_stored(stored, Pipeline())
    # a published (squashed) set is evaluated under its own protocol
    assert plan.reference == Pipeline(resize_protocol="squash")
    assert [n.name for n, _ in plan.noises] == VARIANTS.split(",")[1:]
    backend = CountingBackend()
    backend.prepare(tiny_classifier())
    stored_store = PredictionStore(tmp_path / "stored.sqlite", "tiny")
    options = EngineOptions(batch_size=4, workers=0, progress=False)
    from_disk = evaluate(StoredSource(stored, plan), plan.pipelines, backend, stored_store, options)
    dataset = load_folder(data_dir)
    live_store = PredictionStore(tmp_path / "live.sqlite", "tiny")
    on_the_fly = evaluate(dataset, plan.pipelines, backend, live_store, options)
    assert from_disk.image_ids == on_the_fly.image_ids
    assert from_disk.image_hashes == on_the_fly.image_hashes
    assert from_disk.forwards == on_the_fly.forwards
    for pipeline in plan.pipelines:
        key = pipeline.key
        np.testing.assert_array_equal(from_disk.top5[key], on_the_fly.top5[key])
        np.testing.assert_array_equal(from_disk.max_abs_diff[key], on_the_fly.max_abs_diff[key])
        np.testing.assert_array_equal(from_disk.mse[key], on_the_fly.mse[key])
        assert from_disk.errors[key].keys() == on_the_fly.errors[key].keys()
    assert (from_disk.top5[plan.reference.key][:, 0] >= 0).sum() == len(FILES) - 1
    live_suite = Suite("s", "", lambda: [Noise(n.name, dict(n.changes)) for n, _ in plan.noises])
    documents = []
    for suite, noises, evaluation in (
        (plan.suite, plan.noises, from_disk),
        (live_suite, live_suite.resolve(plan.reference), on_the_fly),
    ):
        run = RunInputs(
            spec=_spec(plan.reference),
            weights_sha256="0" * 64,
            model_fingerprint="tiny",
            dataset=dataset,
            suite=suite,
            noises=noises,
            backend="torch-fp32",
            seconds=0.0,
        )
        documents.append(_without_addresses(build_result(run, evaluation).to_dict()))
    assert documents[0]["rows"] == documents[1]["rows"]
    assert documents[0]["reference"] == documents[1]["reference"]
    assert documents[0]["dataset"]["fingerprint"] == documents[1]["dataset"]["fingerprint"]
    assert documents[0]["dataset"]["fingerprint"] == stored.manifest["dataset"]["fingerprint"]
    # a second stored run is served from the cache, with the same numbers
    again = evaluate(StoredSource(stored, plan), plan.pipelines, backend, stored_store, options)
    assert again.forwards == 0 and again.cached > 0
    for key in from_disk.top5:
        np.testing.assert_array_equal(again.top5[key], from_disk.top5[key])
    stored_store.close()
    live_store.close()


def test_a_set_without_the_reference_variant_is_a_clear_error(generated, tmp_path):
    bicubic = Pipeline(resizer="pil-bicubic")
    with pytest.raises(SysnoiseError, match="no variant with the model's reference pixels"):
        plan_stored(StoredSet(generated), bicubic)
    with pytest.raises(SysnoiseError, match="has no manifest.json"):
        StoredSet(tmp_path)


def test_cli_generates_and_bench_evaluates_mobilenet_on_the_stored_set(data_dir, tmp_path, capsys):
    out = tmp_path / "set"
    generate_args = ["imagenet-s", "generate", "--out", str(out), "--data", str(data_dir)]
    generate_args += ["--variants", "pil/pil-bilinear,cv2/cv2-area", "--limit", "3"]
    assert main([*generate_args, "--no-progress", "--model", "mobilenet_v2"]) == 0
    assert "published protocol: wrote 2 variants" in capsys.readouterr().out
    bench = ["bench", "--imagenet-s", str(out), "--out", str(tmp_path / "results")]
    assert main([*bench, "--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 0
    report = capsys.readouterr().out
    assert "cv2/cv2-area" in report and "imagenet-s-stored" in report
    [json_path] = (tmp_path / "results").glob("mobilenet_v2-imagenet-s-stored-*.json")
    document = json.loads(json_path.read_text())
    assert [row["noise"] for row in document["rows"]] == ["cv2/cv2-area"]
    assert document["imagenet_s"]["variants"].keys() == {"pil/pil-bilinear", "cv2/cv2-area"}
    assert document["reference_pipeline"]["resize_protocol"] == "squash"  # the set's protocol
    top1 = [document["reference"]["top1"], document["rows"][0]["top1"]]
    robustart = document["robustart"]  # the one summary, as for an on-the-fly run
    assert robustart["n_variants"] == 2 and not robustart["complete"]
    assert robustart["top1_mean"] == pytest.approx(np.mean(top1))
    assert robustart["top1_std"] == pytest.approx(np.std(top1))  # population std
    assert main([*bench, "--data", str(data_dir)]) == 2
    assert "leave out --data, --labels" in capsys.readouterr().err
    assert main(["imagenet-s", "generate", "--out", str(out), "--variants", "nope"]) == 2
    assert "unknown variant 'nope'" in capsys.readouterr().err
