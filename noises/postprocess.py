"""Post-processing noises of detectors: the same network outputs turned into boxes another way.

- `nms=<implementation>`: every NMS the detector runs (region proposals, final boxes; MTCNN's
  pyramid and refinement stages) uses another kernel of `sysnoise.noises.nms`.
- `nms_order="topk-first"`: the final NMS sees only the `detections_per_img` best-scoring boxes
  (score threshold, top-k, then NMS, as NMS plugins with a pre-NMS top-k do) instead of NMS
  first and top-k after (torchvision's order).
- `box_offset="flipped"`: box decoding switches between the modern convention (width x2 - x1)
  and the legacy one (width x2 - x1 + 1, and x2 = centre + width / 2 - 1, as Detectron and
  Caffe-era code decode): torchvision models decode the legacy way, MTCNN (legacy) the modern way.
- `mask_paste=<mode>`: Mask R-CNN pastes its 28 x 28 masks into the image with another
  interpolation (`sysnoise.detection.masks.MASK_PASTE_MODES`) than torchvision's bilinear.

A pipeline names one of them in its `postprocess` field: ``nms-<implementation>``,
``topk-first``, ``box-offset-flipped`` or ``mask-paste-<mode>`` (`postprocess_noises`; "model":
the detector's own).
A setting that changes nothing in a detector is *not applicable* to it, with the reason.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

from sysnoise.errors import SysnoiseError
from sysnoise.noises.nms import NMS_IMPLEMENTATIONS

NMS_ORDERS = ("model", "topk-first")
BOX_OFFSETS = ("model", "flipped")
REFERENCE_NMS = {"torchvision": "torchvision-batched", "mtcnn": "torchvision-batched"}
REFERENCE_MASK_PASTE = "bilinear"  # torchvision's paste_mask_in_image


def postprocess_noises() -> dict[str, tuple[str, str, str, str]]:
    """Every `postprocess` value with its (nms, nms_order, box_offset, mask_paste) settings."""
    from sysnoise.detection.masks import MASK_PASTE_MODES

    noises = {f"nms-{name}": (name, "model", "model", "model") for name in NMS_IMPLEMENTATIONS}
    noises["topk-first"] = ("model", "topk-first", "model", "model")
    noises["box-offset-flipped"] = ("model", "model", "flipped", "model")
    for mode in MASK_PASTE_MODES:
        noises[f"mask-paste-{mode}"] = ("model", "model", "model", mode)
    return noises


def postprocess_settings(value: str) -> tuple[str, str, str, str]:
    """The (nms, nms_order, box_offset, mask_paste) of a pipeline's `postprocess` value."""
    if value == "model":
        return ("model", "model", "model", "model")
    noises = postprocess_noises()
    if value not in noises:
        valid = ", ".join(["model", *noises])
        raise SysnoiseError(f"unknown post-processing {value!r}; valid: {valid}")
    return noises[value]


def patch_postprocess_value(model: Any, value: str) -> Any:
    """`model` (a detector, or one wrapped as `sysnoise.detection.packed.PackedDetector`) with
    the post-processing a pipeline's `postprocess` value asks for (itself for "model")."""
    settings = postprocess_settings(value)
    if value == "model":
        return model
    inner = getattr(model, "detector", None)
    if inner is None:
        return patch_postprocess(model, *settings)
    patched = copy.copy(model)
    patched._modules = dict(model._modules)  # a shallow copy shares its sub-module table
    patched.detector = patch_postprocess(inner, *settings)
    return patched


def postprocess_value_reason(model: Any, value: str) -> str | None:
    """Why a pipeline's `postprocess` value changes nothing in `model` (None: it applies)."""
    if value == "model":
        return None
    detector = getattr(model, "detector", model)
    return postprocess_not_applicable(detector, *postprocess_settings(value))


def check_postprocess_fields(
    nms: str, nms_order: str, box_offset: str, mask_paste: str = "model"
) -> None:
    """Fail with the valid values when a pipeline names an unknown post-processing setting."""
    from sysnoise.detection.masks import MASK_PASTE_MODES

    if nms != "model" and nms not in NMS_IMPLEMENTATIONS:
        valid = ", ".join(["model", *NMS_IMPLEMENTATIONS.names()])
        raise SysnoiseError(f"unknown NMS implementation {nms!r}; valid: {valid}")
    if nms_order not in NMS_ORDERS:
        raise SysnoiseError(f"unknown NMS order {nms_order!r}; valid: {', '.join(NMS_ORDERS)}")
    if box_offset not in BOX_OFFSETS:
        raise SysnoiseError(f"unknown box offset {box_offset!r}; valid: {', '.join(BOX_OFFSETS)}")
    if mask_paste != "model" and mask_paste not in MASK_PASTE_MODES:
        valid = ", ".join(["model", *MASK_PASTE_MODES])
        raise SysnoiseError(f"unknown mask paste {mask_paste!r}; valid: {valid}")


def patch_postprocess(
    detector: Any, nms: str, nms_order: str, box_offset: str, mask_paste: str = "model"
) -> Any:
    """A shallow copy of `detector` (weights shared) that post-processes with these settings."""
    check_postprocess_fields(nms, nms_order, box_offset, mask_paste)
    reason = postprocess_not_applicable(detector, nms, nms_order, box_offset, mask_paste)
    if reason is not None:
        raise SysnoiseError(f"post-processing noise not applicable: {reason}")
    patched = copy.copy(detector)
    patched.postprocess = (nms, nms_order, box_offset, mask_paste)
    return patched


def postprocess_not_applicable(
    detector: Any, nms: str, nms_order: str, box_offset: str, mask_paste: str = "model"
) -> str | None:
    """Why these post-processing settings change nothing in `detector` (or cannot apply)."""
    family = getattr(detector, "family", None)
    if family not in REFERENCE_NMS:
        return f"{type(detector).__name__} is not a detector sysnoise can post-process"
    name = type(getattr(detector, "model", detector)).__name__
    reasons = []
    if nms != "model" and nms == REFERENCE_NMS[family]:
        reasons.append(f"{name} already runs {nms}")
    if nms_order != "model" and family == "mtcnn":
        reasons.append("MTCNN keeps every face past its thresholds: no top-k")
    if box_offset != "model" and family == "torchvision" and not _box_coders(detector.model):
        reasons.append(f"{name} decodes boxes as distances from anchor centres: no width offset")
    if mask_paste != "model" and not getattr(detector, "has_masks", False):
        reasons.append(f"{name} predicts no instance masks")
    elif mask_paste == REFERENCE_MASK_PASTE:
        reasons.append(f"{name} already pastes its masks with {mask_paste}")
    return "; ".join(reasons) or None


@contextlib.contextmanager
def mtcnn_postprocessing(
    detect_face: Any, nms: str, nms_order: str, box_offset: str, mask_paste: str = "model"
) -> Iterator[None]:
    """Within the block, facenet-pytorch's `detect_face` module post-processes with these
    settings (its final "Min"-overlap NMS is MTCNN's own and stays)."""
    del nms_order, mask_paste  # not applicable: MTCNN has no top-k and no masks
    with contextlib.ExitStack() as stack:
        if nms != "model":
            kernel = NMS_IMPLEMENTATIONS.get(nms).kernel
            stack.enter_context(_swapped(detect_face, "batched_nms", kernel))
        if box_offset == "flipped":
            stack.enter_context(_swapped(detect_face, "bbreg", _modern_bbreg))
        yield


def _modern_bbreg(boxes: Any, reg: Any) -> Any:
    """MTCNN's refinement (`bbreg`) with widths x2 - x1 instead of its x2 - x1 + 1."""
    import torch

    if reg.shape[1] == 1:
        reg = torch.reshape(reg, (reg.shape[2], reg.shape[3]))
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    scale = torch.stack([widths, heights, widths, heights], dim=1)
    boxes[:, :4] = boxes[:, :4] + reg[:, :4] * scale
    return boxes


# ---- torchvision detection models


@contextlib.contextmanager
def torchvision_postprocessing(
    model: Any, nms: str, nms_order: str, box_offset: str, mask_paste: str = "model"
) -> Iterator[None]:
    """Within the block, `model` (a torchvision detector) post-processes with these settings."""
    from torchvision.ops import boxes as box_ops

    from sysnoise.detection.masks import mask_paste as pasted_with

    with contextlib.ExitStack() as stack:
        if mask_paste != "model":
            stack.enter_context(pasted_with(mask_paste))
        if nms != "model":
            kernel = NMS_IMPLEMENTATIONS.get(nms).kernel
            stack.enter_context(_swapped(box_ops, "batched_nms", kernel))
        if nms_order == "topk-first":
            head = model.roi_heads if hasattr(model, "roi_heads") else model
            stack.enter_context(_topk_first(head, box_ops))
        if box_offset == "flipped":
            for owner, attribute in _box_coders(model):
                legacy = _legacy_box_coder(getattr(owner, attribute))
                stack.enter_context(_swapped(owner, attribute, legacy))
        yield


@contextlib.contextmanager
def _swapped(owner: Any, attribute: str, value: Any) -> Iterator[None]:
    """Within the block, `owner.attribute` is `value` (a module function, an object's attribute or
    an instance's method)."""
    had = attribute in vars(owner)
    original = getattr(owner, attribute)
    setattr(owner, attribute, value)
    try:
        yield
    finally:
        if had:
            setattr(owner, attribute, original)
        else:  # a method shadowed by an instance attribute
            delattr(owner, attribute)


@contextlib.contextmanager
def _topk_first(head: Any, box_ops: Any) -> Iterator[None]:
    """The head's final NMS runs on its `detections_per_img` best-scoring boxes only."""
    original_postprocess = head.postprocess_detections
    limit = head.detections_per_img

    def postprocess_detections(*args: Any, **kwargs: Any) -> Any:
        nms = box_ops.batched_nms

        def topk_then_nms(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
            top = scores.argsort(descending=True, stable=True)[:limit]
            return top[nms(boxes[top], scores[top], idxs[top], iou_threshold)]

        with _swapped(box_ops, "batched_nms", topk_then_nms):
            return original_postprocess(*args, **kwargs)

    with _swapped(head, "postprocess_detections", postprocess_detections):
        yield


def _box_coders(model: Any) -> list[tuple[Any, str]]:
    """(owner, attribute) of each BoxCoder (width/height decoding) in a torchvision detector."""
    from torchvision.models.detection._utils import BoxCoder

    owners = [model, getattr(model, "rpn", None), getattr(model, "roi_heads", None)]
    return [
        (owner, "box_coder")
        for owner in owners
        if owner is not None and isinstance(getattr(owner, "box_coder", None), BoxCoder)
    ]


def _legacy_box_coder(coder: Any) -> Any:
    """A BoxCoder with `coder`'s weights that decodes with the legacy +1 width convention."""
    from torchvision.models.detection._utils import BoxCoder

    class LegacyBoxCoder(BoxCoder):
        def decode_single(self, rel_codes: Any, boxes: Any) -> Any:
            return decode_legacy(rel_codes, boxes, self.weights, self.bbox_xform_clip)

    return LegacyBoxCoder(coder.weights, coder.bbox_xform_clip)


def decode_legacy(rel_codes: Any, boxes: Any, weights: Any, clip: float) -> Any:
    """Box deltas applied to reference boxes with widths x2 - x1 + 1 and x2 = centre + w/2 - 1
    (Detectron's and maskrcnn-benchmark's `TO_REMOVE = 1`)."""
    import torch

    boxes = boxes.to(rel_codes.dtype)
    widths = boxes[:, 2] - boxes[:, 0] + 1
    heights = boxes[:, 3] - boxes[:, 1] + 1
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx, dy = rel_codes[:, 0::4] / wx, rel_codes[:, 1::4] / wy
    dw = torch.clamp(rel_codes[:, 2::4] / ww, max=clip)
    dh = torch.clamp(rel_codes[:, 3::4] / wh, max=clip)
    pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
    pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
    pred_w = torch.exp(dw) * widths[:, None]
    pred_h = torch.exp(dh) * heights[:, None]
    corners = (
        pred_ctr_x - 0.5 * pred_w,
        pred_ctr_y - 0.5 * pred_h,
        pred_ctr_x + 0.5 * pred_w - 1,
        pred_ctr_y + 0.5 * pred_h - 1,
    )
    return torch.stack(corners, dim=2).flatten(1)
