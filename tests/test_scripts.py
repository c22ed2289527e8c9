"""scripts/: thin entry points over the library, run as a maintainer runs them."""

from __future__ import annotations

import runpy
from pathlib import Path

from sysnoise import bench

import images
from tiny import tiny_classifier, write_dataset

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def test_run_models_benches_and_submits_each_model(tmp_path, monkeypatch, capsys):
    write_dataset(tmp_path / "data", {"a.jpg": images.china_jpeg(), "b.jpg": images.progressive()})
    monkeypatch.setattr(
        bench, "load_model", lambda spec, weights=None: (tiny_classifier(), "0" * 64)
    )
    monkeypatch.setenv("SYSNOISE_CACHE", str(tmp_path / "cache"))
    main = runpy.run_path(str(SCRIPTS / "run_models.py"))["main"]
    args = ["mobilenet_v2", "resnet18", "no-such-model", "--suite", "quick"]
    args += ["--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")]
    assert main([*args, "--entries", str(tmp_path / "entries"), "--device", "cpu"]) == 1
    captured = capsys.readouterr()
    assert len(list((tmp_path / "entries").glob("*.json"))) == 2
    assert "mobilenet_v2: added" in captured.out and "resnet18: added" in captured.out
    assert "no-such-model: unknown model" in captured.err
