"""The Python API: evaluate, Result, load_results, and the README's notebook example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sysnoise
from sysnoise.errors import SysnoiseError

from tiny import tiny_classifier

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_notebook_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    match = re.search(r"<!-- readme-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "README has no marked example"
    code = match.group(1)
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYSNOISE_CACHE", str(tmp_path / "cache"))
    exec(compile(code, "README.md", "exec"), {})
    saved = sysnoise.load_results(tmp_path / "my-run.json")
    noises = ["decoder=cv2", "resize=cv2-linear", "decoder=cv2,resize=cv2-area"]
    assert list(saved.rows["noise"]) == noises
    assert len(saved.predictions) == 8


def test_evaluate_takes_a_module_and_a_callable(tmp_path):
    model = tiny_classifier()
    options = dict(suite=["resize=cv2-linear"], limit=4, cache_dir=tmp_path, device="cpu")
    by_module = sysnoise.evaluate(model, **options)
    by_callable = sysnoise.evaluate(lambda batch: model(batch), **options)
    assert by_module.rows["flip_rate"].tolist() == by_callable.rows["flip_rate"].tolist()
    assert (by_module.predictions["reference"] == by_callable.predictions["reference"]).all()
    # A callable can only run in torch eager: other backends are not applicable, with a reason.
    onnx = sysnoise.evaluate(
        lambda batch: model(batch), **(options | {"suite": ["backend=onnxruntime"]})
    )
    assert onnx.rows.empty
    assert "Python callable" in onnx.not_evaluated["reason"][0]


def test_load_results_refuses_what_is_not_a_results_document(tmp_path):
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(SysnoiseError, match="not a sysnoise results document"):
        sysnoise.load_results(tmp_path / "x.json")
    with pytest.raises(SysnoiseError, match="does not exist"):
        sysnoise.load_results(tmp_path / "absent.json")
