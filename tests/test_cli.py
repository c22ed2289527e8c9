"""The command line: listings, a real end-to-end run, and user errors without tracebacks."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
import torch

from sysnoise.cli import main
from sysnoise.noises.colour import COLOURS
from sysnoise.noises.decoders import DECODERS
from sysnoise.noises.resizers import RESIZERS

from tiny import bench_argv


def _bench(tmp_path: Path, *extra: str) -> list[str]:
    return bench_argv(tmp_path, *extra)


@pytest.mark.parametrize(
    ("kind", "count"),
    [
        ("decoders", len(DECODERS)),
        ("resizers", len(RESIZERS)),
        ("suites", 4),
        ("colours", len(COLOURS)),
    ],
)
def test_list_prints_one_line_per_entry(kind, count, capsys):
    assert main(["list", kind]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == count


def test_list_models_shows_torchvision_classifiers(capsys):
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v2" in out and "resnet50" in out and "71.88%" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "resnet5"], "unknown model 'resnet5'; did you mean: resnet50"),
        (
            ["--suite", "everything"],
            "unknown suite 'everything'; valid names: decoders-x-resizers, imagenet-s, quick",
        ),
        (["--data", "/no/such/folder"], "does not exist"),
        (["--weights", "/no/such/file.pth"], "weights file /no/such/file.pth does not exist"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(args, expected, tmp_path, capsys):
    assert main(_bench(tmp_path, *args)) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error(tmp_path, capsys):
    assert main(_bench(tmp_path, "--device", "cuda", "--limit", "1")) == 2
    assert "torch sees no CUDA GPU here; use --device cpu" in capsys.readouterr().err


def test_missing_resnet50_weights_say_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert main(_bench(tmp_path, "--model", "resnet50")) == 2
    err = capsys.readouterr().err
    assert "resnet50-0676ba61.pth" in err and "--weights FILE" in err


def test_bench_runs_mobilenet_end_to_end_and_writes_results(tmp_path, capsys):
    assert main(_bench(tmp_path, "--suite", "quick", "--limit", "4", "--batch", "8")) == 0
    out = capsys.readouterr().out
    assert "reference top-1" in out and "resize=cv2-linear" in out
    [json_path] = (tmp_path / "out").glob("mobilenet_v2-quick-*.json")
    document = json.loads(json_path.read_text())
    assert document["schema_version"] == 3
    for field in (
        "tool",
        "created",
        "environment",
        "model",
        "dataset",
        "suite",
        "rows",
        "categories",
        "reference",
        "reference_pipeline",
    ):
        assert field in document
    assert document["model"]["weights_sha256"].startswith("b0353104")
    assert document["dataset"]["n_images"] == 4 and len(document["dataset"]["fingerprint"]) == 64
    assert isinstance(document["reference"]["top1"], float)
    assert len(document["rows"]) == 8
    for row in document["rows"]:
        assert isinstance(row["flip_rate"], float) and 0 <= row["flip_rate"] <= 1
        assert row["delta_top1"] is None or math.isfinite(row["delta_top1"])
    by_name = {row["noise"]: row for row in document["rows"]}
    assert by_name["decoder=cv2"]["identical_input_rate"] == 1.0
    assert by_name["resize=cv2-linear"]["input_max_abs_diff"] > 0
    with gzip.open(json_path.parent / document["predictions_file"], "rt") as handle:
        lines = handle.read().strip().splitlines()
    assert len(lines) == 5 and "resize=squash" in lines[0]
    # a second run is served from the prediction cache
    assert main(_bench(tmp_path, "--suite", "quick", "--limit", "4")) == 0
    again = json.loads(json_path.read_text())
    assert again["run"]["forward_passes"] == 0
    assert [r["flip_rate"] for r in again["rows"]] == [r["flip_rate"] for r in document["rows"]]
