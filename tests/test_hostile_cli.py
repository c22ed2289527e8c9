"""User mistakes and environment faults: one line naming the problem and the fix, exit status 2,
never a traceback, and checked before the work where they can be."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch

from sysnoise.cli import main
from sysnoise.datasets import load_folder
from sysnoise.errors import SysnoiseError

import hostile_files
import images
from registry_guard import restored_registries
from tiny import bench_argv


@pytest.fixture(scope="module", autouse=True)
def registries():
    """Side-environment entries that `imagenet-s generate` registers are gone after this module."""
    with restored_registries():
        yield


def _bench(tmp_path: Path, *extra: str) -> list[str]:
    return bench_argv(tmp_path, "--suite", "quick", *extra)


def _one_line_error(capsys, expected: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("sysnoise: error:")]
    assert len(lines) == 1, err
    assert expected in lines[0], lines[0]
    return lines[0]


def _folder(tmp_path: Path, labels_name: str | None = None, labels: bytes = b"") -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(images.china_jpeg())
    (folder / "b.jpg").write_bytes(images.baseline_420())
    if labels_name is not None:
        (folder / labels_name).write_bytes(labels)
    return folder


# ---- labels: BOMs, exact headers, and text that is not UTF-8


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("LOC_val_solution.csv", "ImageId,PredictionString\na,n01440764 1 2 3 4\nb,n01443537\n"),
        ("labels.txt", "a.jpg 0\nb.jpg 1\n"),
        ("labels.txt", "file label\na.jpg 0\nb.jpg n01443537\n"),
        ("labels.txt", "image,class\na.jpg,0\nb.jpg,1\n"),
    ],
)
def test_a_byte_order_mark_loses_no_label(tmp_path, name, text):
    folder = _folder(tmp_path, name, "\ufeff".encode() + text.encode())
    assert [r.label for r in load_folder(folder).records] == [0, 1]


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [
        ("a.jpg 1000", ":1: expected '<file name or stem> <label>'"),  # out of range, not a header
        ("file name", ":1: expected"),  # two words, but not a labels header
        ("\ufeffa.jpg 1000", ":1: expected"),
    ],
)
def test_a_first_line_that_is_neither_a_header_nor_valid_is_an_error(
    tmp_path, first_line, expected
):
    folder = _folder(tmp_path, "labels.txt", f"{first_line}\nb.jpg 1\n".encode())
    with pytest.raises(SysnoiseError, match=expected):
        load_folder(folder)


def test_labels_that_are_not_utf8_are_one_line_errors(tmp_path, capsys):
    folder = _folder(tmp_path, "labels.txt", "a.jpg 0\nb.jpg 1 caf\xe9\n".encode("latin-1"))
    assert main(_bench(tmp_path, "--data", str(folder))) == 2
    _one_line_error(capsys, "is not UTF-8 text (byte 19 is 0xe9)")
    jpeg = folder / "a.jpg"
    (folder / "labels.txt").unlink()
    assert main(_bench(tmp_path, "--data", str(folder), "--labels", str(jpeg))) == 2
    _one_line_error(capsys, f"labels file {jpeg} is not UTF-8 text")
    assert not (tmp_path / "out").exists()


# ---- weights files


def _weights(tmp_path: Path, kind: str) -> Path:
    import torchvision

    path = tmp_path / f"{kind}.pth"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        torch.save(torchvision.models.mobilenet_v2().state_dict(), path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "pickle":
        torch.save({"weights": _Unsafe()}, path)
    elif kind == "wrong-arch":
        torch.save(torchvision.models.resnet18().state_dict(), path)
    elif kind == "wrong-shape":
        state = torchvision.models.mobilenet_v2().state_dict()
        state["classifier.1.weight"] = torch.zeros(10, 1280)
        torch.save(state, path)
    return path


class _Unsafe:
    def __reduce__(self):
        return (os.system, ("touch /tmp/sysnoise-should-never-exist",))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("empty", "is empty; pass a checkpoint saved by torch.save"),
        ("truncated", "is not a readable torch checkpoint (truncated or not saved by torch.save"),
        ("list", "holds a list, not a state dict of tensors"),
        ("pickle", "holds objects the safe loader refuses"),
        ("wrong-arch", "does not fit mobilenet_v2: 314 missing keys (features.0.0.weight"),
        ("wrong-shape", "1 shape mismatches (checkpoint vs model: classifier.1.weight (10, 1280)"),
    ],
)
def test_bad_weights_files_are_one_line_errors(tmp_path, capsys, kind, expected):
    path = _weights(tmp_path, kind)
    assert main(_bench(tmp_path, "--weights", str(path), "--limit", "2")) == 2
    _one_line_error(capsys, expected)
    assert not Path("/tmp/sysnoise-should-never-exist").exists()


def test_nan_weights_stop_with_a_clear_error_instead_of_zero_accuracy(tmp_path, capsys):
    import torchvision

    state = torchvision.models.mobilenet_v2().state_dict()
    state["classifier.1.bias"] = torch.full((1000,), float("nan"))
    torch.save(state, tmp_path / "nan.pth")
    argv = _bench(tmp_path, "--weights", str(tmp_path / "nan.pth"), "--limit", "2")
    assert main(argv) == 2
    line = _one_line_error(capsys, "the model gave non-finite logits (NaN or inf) for ")
    assert "no accuracy can be measured; check the weights file" in line
    assert not (tmp_path / "out").exists()


# ---- outputs, cache and disk


@pytest.mark.parametrize("option", ["--out", "--cache-dir"])
def test_an_output_folder_that_is_a_file_is_refused_before_the_work(tmp_path, capsys, option):
    (tmp_path / "taken").write_text("a file")
    argv = _bench(tmp_path, option, str(tmp_path / "taken"), "--limit", "2")
    assert main(argv) == 2
    _one_line_error(capsys, f"{option} {tmp_path / 'taken'} is an existing file, not a folder")
    assert not (tmp_path / "cache").exists() or option == "--out"
    assert not (tmp_path / "cache" / "predictions.sqlite").exists()


def test_a_damaged_prediction_cache_says_what_to_delete(tmp_path, capsys):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "predictions.sqlite").write_bytes(b"not a database, " * 512)
    assert main(_bench(tmp_path, "--limit", "2")) == 2
    _one_line_error(capsys, "predictions.sqlite is damaged (file is not a database); delete it")


def test_a_full_disk_while_writing_results_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    import sysnoise.bench

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "x.json"))

    monkeypatch.setattr(sysnoise.bench, "write_result", full)
    assert main(_bench(tmp_path, "--limit", "2")) == 2
    _one_line_error(capsys, "cannot write " + str(tmp_path / "out" / "x.json"))


# ---- a hostile folder end to end


def test_a_hostile_folder_is_benchmarked_with_failures_recorded_the_same_in_every_run(
    tmp_path, capsys, caplog, monkeypatch
):
    monkeypatch.setenv("SYSNOISE_MAX_FILE_BYTES", str(hostile_files.MAX_FILE_BYTES))
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "photo.jpg").write_bytes(images.china_jpeg())
    with open(os.fsencode(folder) + b"/caf\xe9.jpg", "wb") as handle:  # not UTF-8
        handle.write(images.baseline_420())
    (folder / "bomb.png").write_bytes(hostile_files.png_bomb())
    (folder / "broken.jpg").write_bytes(b"not an image")
    os.mkfifo(folder / "fifo.jpg")
    os.symlink("/dev/zero", folder / "zero.jpg")
    (folder / "animation.gif").write_bytes(images.png())
    documents = []
    for run in ("one", "two"):
        argv = _bench(tmp_path / run, "--data", str(folder))
        caplog.clear()
        assert main(argv) == 0
        assert "skipped 3 files that are not readable images" in caplog.text
        [path] = (tmp_path / run / "out").glob("*.json")
        documents.append(json.loads(path.read_text(encoding="utf-8")))
    first, second = documents
    assert first["reference"]["errors"] == second["reference"]["errors"]
    assert first["dataset"]["fingerprint"] == second["dataset"]["fingerprint"]
    errors = first["reference"]["errors"]
    assert errors["count"] == 2
    assert "over the limit of" in errors["first"]["bomb.png"]
    assert "not an image file" in errors["first"]["broken.jpg"]
    assert first["reference"]["n_images"] == 2  # the photo and caf\xe9.jpg
    assert [r["errors"] for r in first["rows"]] == [r["errors"] for r in second["rows"]]


@pytest.mark.parametrize("variable", ["SYSNOISE_MAX_PIXELS", "SYSNOISE_MAX_FILE_BYTES"])
def test_a_malformed_limit_is_refused_before_the_work(tmp_path, capsys, monkeypatch, variable):
    monkeypatch.setenv(variable, "-5")
    assert main(_bench(tmp_path, "--limit", "2")) == 2
    _one_line_error(capsys, f"{variable}='-5' must be a positive number")
    assert not (tmp_path / "cache").exists()


def test_an_error_raised_in_a_decoding_worker_is_printed_as_its_own_line():
    from sysnoise.cli import one_line

    folded = SysnoiseError(
        "Caught SysnoiseError in DataLoader worker process 0.\nOriginal Traceback (most recent "
        'call last):\n  File "x.py", line 1, in f\nsysnoise.errors.SysnoiseError: the prediction '
        "cache c.sqlite is damaged (x); delete it\n"
    )
    assert one_line(folded) == "the prediction cache c.sqlite is damaged (x); delete it"
    assert one_line(SysnoiseError("plain")) == "plain"


def test_a_damaged_cache_row_is_a_clear_error_not_a_wrong_prediction(tmp_path):
    import sqlite3

    import numpy as np

    from sysnoise.store import Prediction, PredictionStore

    store = PredictionStore(tmp_path / "p.sqlite", "model")
    top5 = np.arange(5, dtype=np.int64)
    store.put("image", "pil", Prediction(top5, np.ones(5, np.float32), "h", 0, 0.0))
    store.close()
    with sqlite3.connect(tmp_path / "p.sqlite") as db:
        db.execute("UPDATE predictions SET top5 = ?", (b"\x01\x00",))
    store = PredictionStore(tmp_path / "p.sqlite", "model")
    with pytest.raises(SysnoiseError, match="p.sqlite is damaged .*; delete it"):
        store.lookup("image", ["pil"])
    store.close()


def test_a_full_disk_while_submitting_writes_nothing(
    tmp_path, tmp_path_factory, capsys, monkeypatch
):
    import sysnoise.leaderboard.store as board_store

    from results_factory import generated_result

    document = generated_result(tmp_path_factory.getbasetemp())
    (tmp_path / "result.json").write_text(json.dumps(document))

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(board_store, "atomic_write_text", full)
    entries = tmp_path / "entries"
    assert main(["submit", str(tmp_path / "result.json"), "--entries", str(entries)]) == 2
    _one_line_error(capsys, "No space left on device; free space or choose another folder")
    assert not any(entries.iterdir())


def test_a_full_disk_while_generating_a_stored_set_is_a_one_line_error(
    tmp_path, capsys, monkeypatch
):
    from sysnoise.imagenet_s import layout

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(layout.RowFile, "write", full)
    folder = _folder(tmp_path)
    argv = ["imagenet-s", "generate", "--out", str(tmp_path / "set"), "--data", str(folder)]
    argv += ["--variants", "pil/pil-bilinear", "--no-progress", "--cache-dir", str(tmp_path / "c")]
    assert main(argv) == 2
    _one_line_error(capsys, "cannot write: No space left on device; free space")


def test_a_damaged_cache_found_by_a_decoding_worker_is_one_line(tmp_path, capsys):
    import sqlite3

    argv = _bench(tmp_path, "--limit", "2", "--workers", "1")
    assert main(argv) == 0
    with sqlite3.connect(tmp_path / "cache" / "predictions.sqlite") as db:
        db.execute("UPDATE predictions SET top5 = ?", (b"\x01\x00",))
    assert main(argv) == 2
    _one_line_error(capsys, "predictions.sqlite is damaged (a row holds 2 bytes of classes")
