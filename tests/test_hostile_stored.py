"""A stored ImageNet-S set is checked before it is read, and its results can join the board."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sysnoise.cli import main
from sysnoise.errors import SysnoiseError
from sysnoise.imagenet_s import layout
from sysnoise.imagenet_s.dataset import StoredSet

import images
from registry_guard import restored_registries

VARIANTS = "pil/pil-bilinear,cv2/pil-bilinear,pil/pil-nearest"


@pytest.fixture(scope="module", autouse=True)
def registries():
    with restored_registries():
        yield


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("stored")
    data = base / "images"
    data.mkdir()
    (data / "a.jpg").write_bytes(images.china_jpeg())
    (data / "b.jpg").write_bytes(images.baseline_420())
    (data / "labels.txt").write_text("a.jpg 3\nb.jpg 1\n")
    argv = ["imagenet-s", "generate", "--out", str(base / "set"), "--data", str(data)]
    argv += ["--variants", VARIANTS, "--model", "mobilenet_v2", "--no-progress"]
    argv += ["--cache-dir", str(base / "cache")]
    assert main(argv) == 0
    return base / "set"


def _bench(root: Path, tmp_path: Path) -> list[str]:
    return [
        "bench",
        "--imagenet-s",
        str(root),
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
    ]


def _copy(stored: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "set"
    shutil.copytree(stored, copy, symlinks=True)
    (copy / ".verified.json").unlink(missing_ok=True)
    return copy


def test_a_damaged_variant_is_refused_not_evaluated(stored, tmp_path, capsys):
    root = _copy(stored, tmp_path)
    target = layout.data_path(root, "cv2/pil-bilinear")
    data = bytearray(target.read_bytes())
    data[-1000] ^= 0xFF  # one pixel, same size: only the hash can tell
    target.write_bytes(bytes(data))
    assert main(_bench(root, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "cv2__pil-bilinear.npy does not match its sha256 in the manifest" in err
    assert f"run `sysnoise imagenet-s verify {root}`" in err
    assert not (tmp_path / "out").exists()


def test_a_damaged_failures_list_or_a_resized_file_is_refused(stored, tmp_path):
    root = _copy(stored, tmp_path)
    failures = layout.failures_path(root, "pil/pil-nearest")
    original = failures.read_text()
    failures.write_text(original + " ")  # the same JSON, another sha256
    with pytest.raises(SysnoiseError, match="failures.json does not match its sha256"):
        StoredSet(root).variant("pil/pil-nearest")
    target = layout.data_path(root, "pil/pil-bilinear")
    with open(target, "ab") as handle:
        handle.write(b"\0")
    failures.write_text(original)
    with pytest.raises(SysnoiseError, match="bytes, the manifest says"):
        StoredSet(root).array("pil/pil-bilinear")


def test_a_verified_file_is_not_hashed_again_until_it_changes(stored, tmp_path, monkeypatch):
    root = _copy(stored, tmp_path)
    assert StoredSet(root).array("pil/pil-bilinear").shape[0] == 2
    hashed = []
    real = layout.sha256_file
    monkeypatch.setattr(layout, "sha256_file", lambda path: hashed.append(path) or real(path))
    StoredSet(root).array("pil/pil-bilinear")
    assert all(not str(p).endswith(".npy") for p in hashed)
    target = layout.data_path(root, "pil/pil-bilinear")
    target.touch()  # a new modification time: hashed again
    StoredSet(root).array("pil/pil-bilinear")
    assert target in hashed


def test_a_stored_imagenet_s_result_can_be_submitted(stored, tmp_path, capsys):
    root = _copy(stored, tmp_path)
    assert main(_bench(root, tmp_path)) == 0
    [result] = (tmp_path / "out").glob("*.json")
    document = json.loads(result.read_text())
    assert document["suite"]["name"] == "imagenet-s-stored"
    entries = tmp_path / "entries"
    assert main(["submit", str(result), "--entries", str(entries)]) == 0
    assert len(list(entries.glob("*.json"))) == 1
    assert main(["leaderboard", "show", "--entries", str(entries)]) == 0
    assert "suite imagenet-s-stored" in capsys.readouterr().out


def test_a_decompression_bomb_is_a_recorded_failure_of_every_stored_variant(tmp_path):
    import hostile_files

    data = tmp_path / "images"
    data.mkdir()
    (data / "photo.jpg").write_bytes(images.baseline_420())
    (data / "bomb.png").write_bytes(hostile_files.png_bomb())
    argv = ["imagenet-s", "generate", "--out", str(tmp_path / "set"), "--data", str(data)]
    argv += ["--variants", "pil/pil-bilinear,torchvision/pil-bilinear,cv2/cv2-area"]
    argv += ["--no-progress", "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    stored = StoredSet(tmp_path / "set")
    bomb = stored.image_ids.index("bomb.png")
    for variant in stored.variants.values():
        assert list(variant.failures) == [bomb], variant.name
        assert "image of 1600000000 pixels is over the limit of" in variant.failures[bomb]
        assert not stored.array(variant.name)[bomb].any()
