"""Model patches: ceil_mode and upsampling swaps change the models they apply to, and say so
when they do not apply."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sysnoise.errors import SysnoiseError
from sysnoise.noises.model_patches import (
    max_pools,
    not_applicable_reason,
    patch_model,
    upsampling_calls,
)


class StemNet(nn.Module):
    """ResNet-like stem (conv, max-pool) and a decoder-like upsampling, then a classifier."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 7, stride=2, padding=3)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.pool(torch.relu(self.conv(x))))
        y = F.interpolate(y, size=(4, 4), mode="bilinear", align_corners=False)
        return self.head(y.flatten(1))


class PlainNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((2, 3))


X = torch.randn(2, 3, 30, 30, generator=torch.Generator().manual_seed(1))


def test_ceil_mode_flip_changes_the_pooled_size_and_the_output():
    model = StemNet().eval()
    patched = patch_model(model, "flipped", "model")
    assert patched.pool.ceil_mode and not model.pool.ceil_mode  # the original is untouched
    with torch.no_grad():
        # On an even map ceil mode adds a row and a column, as on ResNet's 112x112 stem output.
        assert patched.pool(torch.zeros(1, 8, 112, 112)).shape[-1] == 57
        assert model.pool(torch.zeros(1, 8, 112, 112)).shape[-1] == 56
        x = torch.randn(1, 3, 28, 28, generator=torch.Generator().manual_seed(2))
        assert not torch.equal(patched(x), model(x))


def test_upsample_swap_reaches_modules_and_functional_calls():
    model = StemNet().eval()
    assert upsampling_calls(model, X) == [("nearest", False), ("bilinear", False)]
    patched = patch_model(model, "model", "bilinear-align-corners")
    assert upsampling_calls(patched, X) == [("bilinear", True), ("bilinear", True)]
    assert [n for n, _ in patched.named_modules()] == [n for n, _ in model.named_modules()]
    with torch.no_grad():
        assert not torch.allclose(patched(X), model(X))
    assert upsampling_calls(model, X) == [("nearest", False), ("bilinear", False)]  # restored


def test_a_patch_with_nothing_to_change_is_not_applicable_and_says_why():
    plain = PlainNet().eval()
    reason = not_applicable_reason(plain, X, "flipped", "nearest")
    assert "no max-pool" in reason and "does no upsampling" in reason
    assert not_applicable_reason(StemNet().eval(), X, "flipped", "nearest") is None
    assert max_pools(plain) == []


def test_unknown_patch_values_name_the_valid_ones():
    with pytest.raises(SysnoiseError, match="valid: model, flipped"):
        patch_model(PlainNet(), "ceil", "model")
    with pytest.raises(SysnoiseError, match="bilinear-align-corners"):
        patch_model(PlainNet(), "model", "trilinear")


def test_patched_model_exports_to_onnx_with_the_swapped_op(tmp_path):
    pytest.importorskip("onnx")
    import onnx

    patched = patch_model(StemNet().eval(), "flipped", "bilinear")
    path = tmp_path / "m.onnx"
    torch.onnx.export(patched, (X,), str(path), dynamo=False, opset_version=17)
    graph = onnx.load(str(path)).graph
    modes = {
        attr.s.decode()
        for node in graph.node
        if node.op_type == "Resize"
        for attr in node.attribute
        if attr.name == "mode"
    }
    ceil = [
        attr.i
        for node in graph.node
        if node.op_type == "MaxPool"
        for attr in node.attribute
        if attr.name == "ceil_mode"
    ]
    assert modes == {"linear"} and ceil == [1]
