"""Instance masks: how Mask R-CNN pastes its 28 x 28 masks into the image, and masks as COCO RLE.

torchvision's Mask R-CNN scales each box's mask to the box with `F.interpolate(mode="bilinear",
align_corners=False)` (`roi_heads.paste_mask_in_image`); an exported or re-implemented model may
paste with another interpolation. `mask_paste(mode)` swaps the interpolation within a block.
Masks are kept as COCO run-length encodings (`pycocotools.mask`), a few hundred bytes per mask.

The bench noise is ``postprocess=mask-paste-<mode>`` (`sysnoise.noises.postprocess`); a
detection run scores masks against the reference's own (`sysnoise.detection.scoring`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from sysnoise.errors import SysnoiseError

# name -> (F.interpolate mode, align_corners); "bilinear" is torchvision's own paste
MASK_PASTE_MODES = {
    "bilinear": ("bilinear", False),
    "bilinear-align-corners": ("bilinear", True),
    "nearest": ("nearest", None),
    "nearest-exact": ("nearest-exact", None),
    "bicubic": ("bicubic", False),
}
MASK_THRESHOLD = 0.5  # torchvision's threshold on pasted mask probabilities


@contextlib.contextmanager
def mask_paste(mode: str) -> Iterator[None]:
    """Within the block, torchvision's Mask R-CNN pastes masks with interpolation `mode` (one of
    `MASK_PASTE_MODES`)."""
    if mode not in MASK_PASTE_MODES:
        valid = ", ".join(MASK_PASTE_MODES)
        raise SysnoiseError(f"unknown mask paste interpolation {mode!r}; valid: {valid}")
    from torchvision.models.detection import roi_heads

    original = roi_heads.paste_mask_in_image
    roi_heads.paste_mask_in_image = _paste_with(*MASK_PASTE_MODES[mode])
    try:
        yield
    finally:
        roi_heads.paste_mask_in_image = original


def _paste_with(interpolation: str, align_corners: bool | None) -> Any:
    import torch
    import torch.nn.functional as F

    def paste_mask_in_image(mask: Any, box: Any, im_h: int, im_w: int) -> Any:
        # torchvision's paste (legacy +1 box extent), with another interpolation
        w, h = max(int(box[2] - box[0] + 1), 1), max(int(box[3] - box[1] + 1), 1)
        scaled = F.interpolate(
            mask.expand((1, 1, -1, -1)),
            size=(h, w),
            mode=interpolation,
            align_corners=align_corners,
        )[0][0]
        im_mask = torch.zeros((im_h, im_w), dtype=scaled.dtype, device=scaled.device)
        x_0, x_1 = max(box[0], 0), min(box[2] + 1, im_w)
        y_0, y_1 = max(box[1], 0), min(box[3] + 1, im_h)
        im_mask[y_0:y_1, x_0:x_1] = scaled[
            (y_0 - box[1]) : (y_1 - box[1]), (x_0 - box[0]) : (x_1 - box[0])
        ]
        return im_mask

    return paste_mask_in_image


def encode_masks(probabilities: np.ndarray, threshold: float = MASK_THRESHOLD) -> list[dict]:
    """K x H x W mask probabilities (or K x 1 x H x W, as torchvision returns them) as K COCO
    RLEs of the pixels at or above `threshold` (`counts` as text, JSON-ready)."""
    from pycocotools import mask as mask_utils

    binary = np.asarray(probabilities).reshape(-1, *np.shape(probabilities)[-2:]) >= threshold
    if not len(binary):
        return []
    encoded = mask_utils.encode(np.asfortranarray(binary.transpose(1, 2, 0).astype(np.uint8)))
    return [{"size": list(rle["size"]), "counts": rle["counts"].decode()} for rle in encoded]


def decode_masks(rles: list[dict]) -> np.ndarray:
    """K x H x W boolean masks of `encode_masks`' RLEs."""
    from pycocotools import mask as mask_utils

    if not rles:
        return np.zeros((0, 0, 0), dtype=bool)
    rles = [{"size": r["size"], "counts": r["counts"].encode()} for r in rles]
    return mask_utils.decode(rles).transpose(2, 0, 1).astype(bool)


def rles_at(rles: tuple[dict, ...], size: list[int]) -> tuple[dict, ...]:
    """`rles` as masks of `size` (height, width): unchanged when they have it (or `size` is
    empty: no reference mask to meet), else each mask resized with nearest neighbours (a noise
    that changed the model's input size)."""
    if not rles or not size or list(rles[0]["size"]) == list(size):
        return rles
    import cv2

    masks = decode_masks(list(rles)).astype(np.uint8)
    resized = [
        cv2.resize(m, (int(size[1]), int(size[0])), interpolation=cv2.INTER_NEAREST) for m in masks
    ]
    return tuple(encode_masks(np.stack(resized).astype(np.float32)))
