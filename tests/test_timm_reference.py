"""timm models: the reference pipeline read from the pretrained config is timm's own eval
transform, bit for bit, on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sysnoise.datasets import sample_dataset
from sysnoise.errors import SysnoiseError
from sysnoise.preprocess import model_input, normalise

from images import china_path

timm = pytest.importorskip("timm")
from timm.data import create_transform, resolve_data_config  # noqa: E402

from sysnoise.sources.timm_source import timm_reference  # noqa: E402

CONFIGS = [
    # (model, overrides of its pretrained config)
    ("convnext_tiny.fb_in1k", {}),  # bicubic, crop_pct 0.875, center
    ("resnet50.a1_in1k", {}),  # bicubic, crop_pct 0.95
    ("vit_base_patch16_224.augreg_in21k_ft_in1k", {}),  # bicubic, crop_pct 0.9, mean/std 0.5
    ("resnet18.tv_in1k", {"interpolation": "bilinear", "crop_mode": "squash"}),
    ("efficientnet_b0.ra_in1k", {"crop_pct": 1.0, "crop_mode": "squash"}),
    ("resnet50.a1_in1k", {"crop_mode": "border"}),  # longer side to 235, crop 224: pads
    ("vit_base_patch16_224.augreg_in21k_ft_in1k", {"crop_mode": "border", "crop_pct": 1.0}),
]


def _data_config(name: str, overrides: dict | None = None) -> dict:
    pretrained_cfg = timm.models.get_pretrained_cfg(name).to_dict()
    return resolve_data_config(overrides or {}, pretrained_cfg=pretrained_cfg)


def _photos(tmp_path: Path) -> list[Path]:
    records = sample_dataset(tmp_path).records
    return [china_path(), *(r.path for r in records[::7])]


@pytest.mark.parametrize(("name", "overrides"), CONFIGS)
def test_reference_matches_timm_eval_transform_bit_for_bit(name, overrides, tmp_path):
    config = _data_config(name, overrides)
    for key, value in overrides.items():
        assert config[key] == value
    transform = create_transform(**config, is_training=False)
    reference = timm_reference(config)
    for path in _photos(tmp_path):
        expected = transform(Image.open(path).convert("RGB"))
        ours = normalise(model_input(path.read_bytes(), reference)[None], reference)[0]
        assert torch.equal(torch.from_numpy(ours), expected), f"{name} differs on {path.name}"


def test_every_shipped_pretrained_config_maps_or_is_refused_clearly():
    seen = set()
    for name in timm.list_pretrained()[::40]:
        config = _data_config(name)
        try:
            reference = timm_reference(config)
        except SysnoiseError as exc:
            assert "not supported" in str(exc)
            continue
        seen.add(reference.resize_protocol)
        assert reference.crop_size == config["input_size"][1]
    assert "shorter" in seen


def test_timm_model_without_local_weights_says_where_they_go(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from sysnoise.zoo import open_model

    source = open_model("timm:resnet18.tv_in1k")
    with pytest.raises(SysnoiseError, match="does not download: pass --weights FILE"):
        source.load()
    weights = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18.tv_in1k").state_dict(), weights)
    loaded = source.load(weights)
    assert loaded.module(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
    assert np.isfinite(loaded.module(torch.zeros(1, 3, 224, 224)).detach().numpy()).all()


def test_bench_runs_a_timm_model_from_a_weights_file(tmp_path):
    from sysnoise.bench import run_bench
    from sysnoise.config import BenchConfig

    weights = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18.tv_in1k").state_dict(), weights)
    config = BenchConfig(
        model="timm:resnet18.tv_in1k",
        weights=weights,
        noises="resize=cv2-linear",
        limit=2,
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        progress=False,
        device="cpu",
    )
    document = run_bench(config).document
    assert document["model"]["name"] == "timm:resnet18.tv_in1k"
    assert document["reference_pipeline"]["resizer"] == "pil-bilinear"
    assert [row["noise"] for row in document["rows"]] == ["resize=cv2-linear"]


def test_timm_weights_are_found_in_the_local_hugging_face_cache(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    from sysnoise.zoo import open_model

    snapshot = tmp_path / "models--timm--resnet18.tv_in1k" / "snapshots" / "0"
    snapshot.mkdir(parents=True)
    (tmp_path / "models--timm--resnet18.tv_in1k" / "refs").mkdir()
    (tmp_path / "models--timm--resnet18.tv_in1k" / "refs" / "main").write_text("0")
    state = timm.create_model("resnet18.tv_in1k").state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, snapshot / "model.safetensors")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    loaded = open_model("timm:resnet18.tv_in1k").load()
    assert torch.equal(loaded.module.state_dict()["fc.weight"], state["fc.weight"])
