"""Resizers: one operation, a kernel per library and interpolation.

Pillow's filters widen their support on downscale (they antialias), OpenCV's do not (except
INTER_AREA, which averages), and torchvision's tensor resize antialiases only when asked. On a
photo downscaled 2.5x these choices move pixels by tens of grey levels. TensorFlow 1's
`resize_bicubic` (what the official EfficientNet evaluation used) differs again: no antialiasing
and output pixel i sampled at input i * scale, without half-pixel centres.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from sysnoise.registry import Registry


@dataclass(frozen=True)
class Resizer:
    """One resize kernel: library, interpolation and whether it antialiases on downscale."""

    name: str
    library: str
    interpolation: str
    antialias: bool
    description: str
    resize: Callable[[np.ndarray, int, int], np.ndarray]
    availability: Callable[[], str | None] | None = None  # None: always available
    modules: tuple[str, ...] = ()  # what `resize` imports: preloaded once for worker processes

    def unavailable_reason(self) -> str | None:
        """Why this resizer cannot run here (missing side environment), or None."""
        return self.availability() if self.availability is not None else None


RESIZERS: Registry[Resizer] = Registry("resizer", Resizer)


def _resize_pil(image: np.ndarray, out_h: int, out_w: int, resample: str) -> np.ndarray:
    from PIL import Image

    filter_ = Image.Resampling[resample]
    return np.asarray(Image.fromarray(image).resize((out_w, out_h), resample=filter_))


def _resize_cv2(image: np.ndarray, out_h: int, out_w: int, flag: str) -> np.ndarray:
    import cv2

    return cv2.resize(image, (out_w, out_h), interpolation=getattr(cv2, flag))


def _resize_torch(
    image: np.ndarray, out_h: int, out_w: int, mode: str, antialias: bool
) -> np.ndarray:
    import torch
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    if not image.flags.writeable:  # torch.from_numpy warns on read-only arrays
        image = image.copy()
    chw = torch.from_numpy(image).permute(2, 0, 1)
    out = F.resize(chw, [out_h, out_w], interpolation=InterpolationMode[mode], antialias=antialias)
    return out.permute(1, 2, 0).numpy()


def _resize_tf1(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TensorFlow 1 `tf.image.resize_bicubic` (align_corners=False, half_pixel_centers=False):
    Keys cubic with a=-0.75, output pixel i at input i * in / out, taps clamped at the edges.
    Computed in float64 (grid_sample's bicubic is that kernel with edge clamping) and rounded to
    uint8; TensorFlow keeps floats and uses a 1024-entry weight table."""
    import torch

    height, width = image.shape[:2]
    chw = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].double()
    rows = torch.arange(out_h, dtype=torch.float64) * (height / out_h)
    cols = torch.arange(out_w, dtype=torch.float64) * (width / out_w)
    # grid_sample (align_corners=False) reads pixel ((g + 1) * size - 1) / 2 for coordinate g.
    grid_y, grid_x = torch.meshgrid(
        (2 * rows + 1) / height - 1, (2 * cols + 1) / width - 1, indexing="ij"
    )
    grid = torch.stack([grid_x, grid_y], dim=-1)[None]
    out = torch.nn.functional.grid_sample(
        chw, grid, mode="bicubic", padding_mode="border", align_corners=False
    )
    return out[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


_KERNELS = {"pil": _resize_pil, "cv2": _resize_cv2, "torch": _resize_torch, "tf1": _resize_tf1}
_MODULES = {
    "pil": ("PIL.Image",),
    "cv2": ("cv2",),
    "torch": ("torch", "torchvision.transforms.v2.functional"),
    "tf1": ("torch",),
}

# name, library, interpolation, antialias, library flag, description
_TABLE: tuple[tuple[str, str, str, bool, dict[str, object], str], ...] = (
    ("pil-nearest", "pil", "nearest", False, {"resample": "NEAREST"},
     "Pillow NEAREST: picks one source pixel, no antialiasing"),
    ("pil-bilinear", "pil", "bilinear", True, {"resample": "BILINEAR"},
     "Pillow BILINEAR: triangle filter widened on downscale (antialiased); torchvision's default"),
    ("pil-bicubic", "pil", "bicubic", True, {"resample": "BICUBIC"},
     "Pillow BICUBIC (a=-0.5), widened on downscale (antialiased)"),
    ("pil-lanczos", "pil", "lanczos", True, {"resample": "LANCZOS"},
     "Pillow LANCZOS (3 lobes), widened on downscale (antialiased)"),
    ("pil-box", "pil", "box", True, {"resample": "BOX"},
     "Pillow BOX: area average on downscale"),
    ("pil-hamming", "pil", "hamming", True, {"resample": "HAMMING"},
     "Pillow HAMMING: Hamming-windowed filter, widened on downscale (antialiased)"),
    ("cv2-nearest", "cv2", "nearest", False, {"flag": "INTER_NEAREST"},
     "OpenCV INTER_NEAREST: floor of the source coordinate, no antialiasing"),
    ("cv2-linear", "cv2", "linear", False, {"flag": "INTER_LINEAR"},
     "OpenCV INTER_LINEAR: 2x2 bilinear taps, no antialiasing on downscale"),
    ("cv2-cubic", "cv2", "cubic", False, {"flag": "INTER_CUBIC"},
     "OpenCV INTER_CUBIC: 4x4 bicubic taps (a=-0.75), no antialiasing on downscale"),
    ("cv2-area", "cv2", "area", True, {"flag": "INTER_AREA"},
     "OpenCV INTER_AREA: pixel-area average on downscale"),
    ("cv2-lanczos4", "cv2", "lanczos4", False, {"flag": "INTER_LANCZOS4"},
     "OpenCV INTER_LANCZOS4: 8x8 Lanczos taps, no antialiasing on downscale"),
    ("cv2-nearest-exact", "cv2", "nearest-exact", False, {"flag": "INTER_NEAREST_EXACT"},
     "OpenCV INTER_NEAREST_EXACT: nearest pixel centre (as Pillow NEAREST), no antialiasing"),
    ("torch-nearest", "torch", "nearest", False, {"mode": "NEAREST", "antialias": False},
     "torchvision tensor resize, nearest (floor); antialias has no effect on nearest"),
    ("torch-bilinear", "torch", "bilinear", False, {"mode": "BILINEAR", "antialias": False},
     "torchvision tensor resize, bilinear without antialiasing (as F.interpolate)"),
    ("torch-bilinear-aa", "torch", "bilinear", True, {"mode": "BILINEAR", "antialias": True},
     "torchvision tensor resize, bilinear with antialiasing (Pillow-like)"),
    ("torch-bicubic", "torch", "bicubic", False, {"mode": "BICUBIC", "antialias": False},
     "torchvision tensor resize, bicubic (a=-0.75) without antialiasing"),
    ("torch-bicubic-aa", "torch", "bicubic", True, {"mode": "BICUBIC", "antialias": True},
     "torchvision tensor resize, bicubic (a=-0.5) with antialiasing (Pillow-like)"),
    ("tf1-bicubic", "tf1", "bicubic", False, {},
     "TensorFlow 1 resize_bicubic (a=-0.75, no half-pixel centres, no antialiasing)"),
)

for _name, _library, _interpolation, _antialias, _options, _description in _TABLE:
    RESIZERS.add(
        _name,
        Resizer(
            _name,
            _library,
            _interpolation,
            _antialias,
            _description,
            partial(_KERNELS[_library], **_options),
            modules=_MODULES[_library],
        ),
    )


def resize(name: str, image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize an HxWx3 uint8 image to out_h x out_w with the resizer `name`."""
    resizer = RESIZERS.get(name)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"resize needs an HxWx3 uint8 image, got {image.dtype} {image.shape}")
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output size must be positive, got {out_h}x{out_w}")
    out = resizer.resize(np.ascontiguousarray(image), out_h, out_w)
    return np.require(out, requirements=["C_CONTIGUOUS", "WRITEABLE"])
