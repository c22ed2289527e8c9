"""The command line for your own models and noises: suite files, --noises, list noises, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sysnoise.cli import main

from tiny import bench_argv


def _bench(tmp_path: Path, *extra: str) -> list[str]:
    return bench_argv(tmp_path, "--limit", "3", *extra)


def _suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_suite.toml"
    path.write_text(
        'name = "my-suite"\n'
        'description = "what my deployment changes"\n'
        'noises = ["resize=cv2-linear", "decoder=cv2,resize=cv2-area", '
        '"precision=onnxruntime-int8"]\n'
    )
    return path


def test_list_noises_of_a_suite_file_and_a_builtin_suite(tmp_path, capsys):
    assert main(["list", "noises", str(_suite_file(tmp_path))]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == [
        "resize=cv2-linear",
        "decoder=cv2,resize=cv2-area",
        "precision=onnxruntime-int8",
    ]
    assert "[decoder+resize]" in lines[1] and "backend=onnxruntime, precision=int8" in lines[2]
    assert main(["list", "noises", "quick"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 8


def test_bench_with_noises_runs_exactly_those(tmp_path, capsys):
    args = _bench(tmp_path, "--noises", "decoder=pyav,decoder=cv2+resize=cv2-area")
    assert main(args) == 0
    [json_path] = (tmp_path / "out").glob("mobilenet_v2-custom-*.json")
    rows = json.loads(json_path.read_text())["rows"]
    assert [row["noise"] for row in rows] == ["decoder=pyav", "decoder=cv2,resize=cv2-area"]
    assert rows[1]["category"] == "decoder+resize"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--noises", "resize=cv2-lin"],
            "unknown noise 'resize=cv2-lin'; did you mean: resize=cv2-linear",
        ),
        (["--suite", "absent.toml"], "suite file absent.toml does not exist"),
        (["--model", "mobilenetv2"], "unknown model 'mobilenetv2'; did you mean: mobilenet_v2"),
        (["--model", "model.onnx"], "model file model.onnx does not exist"),
        (["--model", "efficientnet_lite0", "--reference", "bicubic"], "unknown reference"),
    ],
)
def test_bad_names_are_one_line_errors_with_close_names(args, expected, tmp_path, capsys):
    assert main(_bench(tmp_path, *args)) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_noise_in_a_suite_file_names_the_closest(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('noises = ["decoder=pillow"]\n')
    assert main(["list", "noises", str(path)]) == 2
    assert "did you mean: decoder=pil" in capsys.readouterr().err


def test_timm_without_timm_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "timm", None)  # import timm now raises ImportError
    assert main(_bench(tmp_path, "--model", "timm:resnet18.tv_in1k")) == 2
    assert "pip install 'sysnoise[timm]'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_tensorrt_engine_without_a_gpu_is_a_clear_error(tmp_path, capsys):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\0" * 16)
    args = _bench(tmp_path, "--model", str(engine), "--reference", "torchvision-v1")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the reference cannot run: tensorrt" in err and "GPU" in err


@pytest.mark.parametrize("model", ["efficientnet_lite0", "timm:resnet18.tv_in1k"])
def test_a_broken_weights_file_is_a_one_line_error(model, tmp_path, capsys):
    if model.startswith("timm:"):
        pytest.importorskip("timm")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    assert main(_bench(tmp_path, "--model", model, "--weights", str(broken))) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
