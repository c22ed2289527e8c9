"""CRAFT (Baek et al., CVPR 2019), the text detector easyocr runs: a VGG16-BN U-Net.

The layer names match the released ``craft_mlt_25k.pth`` (after its ``module.`` prefix), so the
checkpoint loads strictly. Each decoder stage upsamples bilinearly (``F.interpolate``,
align_corners=False) to the next skip connection's size: the ``upsample`` noises swap exactly
these calls. The output is (N, H/2, W/2, 2): region score and affinity score per pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# VGG16-BN's convolutions ("M": 2x2 max-pool), numbered as in torchvision's vgg16_bn.features
# (each convolution is followed by BatchNorm and ReLU), and where CRAFT cuts them into slices.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_SLICE_ENDS = (12, 19, 29, 39)  # slice k holds layers [previous end, end)


def _vgg16_bn_layers() -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for width in _VGG16:
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        channels = width
    return layers


class _VGG16BNBase(nn.Module):
    """VGG16-BN cut after conv2_2, conv3_2, conv4_3 and conv5_3 (with their BatchNorm), plus
    fc6/fc7 as convolutions."""

    def __init__(self) -> None:
        super().__init__()
        layers = _vgg16_bn_layers()
        start = 0
        for number, stop in enumerate(_SLICE_ENDS, 1):
            part = nn.Sequential()
            for index in range(start, stop):
                part.add_module(str(index), layers[index])
            setattr(self, f"slice{number}", part)
            start = stop
        self.slice5 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6),
            nn.Conv2d(1024, 1024, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # Slices 1-3 end at a BatchNorm and the next slice starts with its ReLU. The released
        # model's ReLUs run in place, so the skip features it returns are those ReLU outputs,
        # except the last (slice 5 starts with a max-pool): applied explicitly here.
        bn2_2 = self.slice1(x)
        bn3_2 = self.slice2(bn2_2)
        bn4_3 = self.slice3(bn3_2)
        bn5_3 = self.slice4(bn4_3)
        fc7 = self.slice5(bn5_3)
        return fc7, bn5_3, F.relu(bn4_3), F.relu(bn3_2), F.relu(bn2_2)


class _DoubleConv(nn.Module):
    def __init__(self, in_channels: int, middle: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels + middle, middle, kernel_size=1),
            nn.BatchNorm2d(middle),
            nn.ReLU(inplace=True),
            nn.Conv2d(middle, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Craft(nn.Module):
    """CRAFT: (N, 3, H, W) normalised images to (N, H/2, W/2, 2) region and affinity scores."""

    def __init__(self) -> None:
        super().__init__()
        self.basenet = _VGG16BNBase()
        self.upconv1 = _DoubleConv(1024, 512, 256)
        self.upconv2 = _DoubleConv(512, 256, 128)
        self.upconv3 = _DoubleConv(256, 128, 64)
        self.upconv4 = _DoubleConv(128, 64, 32)
        self.conv_cls = nn.Sequential(
            nn.Conv2d(32, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 16, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 2, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sources = self.basenet(x)
        y = self.upconv1(torch.cat([sources[0], sources[1]], dim=1))
        for stage, skip in ((self.upconv2, sources[2]), (self.upconv3, sources[3])):
            y = F.interpolate(y, size=skip.shape[2:], mode="bilinear", align_corners=False)
            y = stage(torch.cat([y, skip], dim=1))
        y = F.interpolate(y, size=sources[4].shape[2:], mode="bilinear", align_corners=False)
        y = self.upconv4(torch.cat([y, sources[4]], dim=1))
        return self.conv_cls(y).permute(0, 2, 3, 1)


class CraftTextMask(nn.Module):
    """CRAFT as a two-class segmenter: (N, 2, H/2, W/2) scores whose argmax is text where the
    region score exceeds `low_text` (easyocr's default 0.4), background elsewhere."""

    def __init__(self, craft: Craft, low_text: float = 0.4) -> None:
        super().__init__()
        self.craft = craft
        self.low_text = low_text

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        region = self.craft(x)[..., 0]
        # ties go to class 0 (background): text needs region > low_text, as easyocr thresholds
        return torch.stack([torch.full_like(region, self.low_text), region], dim=1)
