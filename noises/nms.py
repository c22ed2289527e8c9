"""Non-maximum suppression: one operation, a kernel per implementation.

Every kernel has torchvision's `batched_nms` signature (boxes N x 4 as x1, y1, x2, y2; scores;
category per box; IoU threshold) and returns the kept indices in decreasing order of score.
They agree on the IoU rule (a box is dropped when its IoU with a kept box of its category is
above the threshold) and differ where deployments differ:

- `torchvision-batched`: torchvision's own choice, the coordinate trick (every category's boxes
  shifted by category x (max coordinate + 1), one NMS) or, on CPU above 1,000 boxes, a loop.
- `torchvision-coordinate-trick`: always the shift, whose float32 offsets round the coordinates
  of large category ids (the IoU is then computed on rounded boxes).
- `torchvision-per-class`: one `torchvision.ops.nms` per category, merged by score.
- `onnxruntime`: ONNX's NonMaxSuppression op (one score row per category) in ONNX Runtime, as an
  exported detector runs it; ties between equal scores may come out in another order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sysnoise.registry import Registry

NmsKernel = Callable[[Any, Any, Any, float], Any]


@dataclass(frozen=True)
class NmsImplementation:
    """One NMS kernel with torchvision's `batched_nms` signature."""

    name: str
    description: str
    kernel: NmsKernel


NMS_IMPLEMENTATIONS: Registry[NmsImplementation] = Registry("NMS implementation", NmsImplementation)


def _batched(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    # torchvision.ops re-exports the function: the name stays bound when a patch replaces the
    # attribute of torchvision.ops.boxes that the detection models call.
    from torchvision.ops import batched_nms

    return batched_nms(boxes, scores, idxs, iou_threshold)


def _coordinate_trick(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    from torchvision.ops import boxes as box_ops

    return box_ops._batched_nms_coordinate_trick(boxes, scores, idxs, iou_threshold)


def _per_class(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    import torch
    from torchvision.ops import nms

    kept = []
    for category in torch.unique(idxs):
        members = torch.where(idxs == category)[0]
        kept.append(members[nms(boxes[members], scores[members], iou_threshold)])
    if not kept:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    keep = torch.cat(kept)
    return keep[torch.sort(scores[keep], descending=True, stable=True).indices]


def _onnxruntime(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    import numpy as np
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    categories, rows = torch.unique(idxs, return_inverse=True)
    count = boxes.shape[0]
    # One score row per category; a box's score is -inf outside its own row, so the op's score
    # threshold (the lowest float32) drops it there.
    table = np.full((1, len(categories), count), -np.inf, dtype=np.float32)
    table[0, rows.cpu().numpy(), np.arange(count)] = scores.detach().float().cpu().numpy()
    yxyx = boxes.detach().float().cpu().numpy()[:, [1, 0, 3, 2]][None]
    feeds = {
        "boxes": np.ascontiguousarray(yxyx),
        "scores": table,
        "max_output_boxes_per_class": np.array([count], dtype=np.int64),
        "iou_threshold": np.array([iou_threshold], dtype=np.float32),
        "score_threshold": np.array([np.finfo(np.float32).min], dtype=np.float32),
    }
    selected = _onnx_nms_session().run(None, feeds)[0]
    keep = torch.as_tensor(selected[:, 2], dtype=torch.int64, device=boxes.device)
    return keep[torch.sort(scores[keep], descending=True, stable=True).indices]


@cache
def _onnx_nms_session() -> Any:
    """An ONNX Runtime session for one NonMaxSuppression node (built once per process)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, None, 4]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, None, None]),
        helper.make_tensor_value_info("max_output_boxes_per_class", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("iou_threshold", TensorProto.FLOAT, [1]),
        helper.make_tensor_value_info("score_threshold", TensorProto.FLOAT, [1]),
    ]
    output = helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])
    node = helper.make_node(
        "NonMaxSuppression", [i.name for i in inputs], ["selected"], center_point_box=0
    )
    graph = helper.make_graph([node], "nms", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


for _name, _description, _kernel in (
    ("torchvision-batched", "torchvision.ops.batched_nms (its own strategy)", _batched),
    (
        "torchvision-coordinate-trick",
        "one NMS over boxes shifted apart per category",
        _coordinate_trick,
    ),
    ("torchvision-per-class", "torchvision.ops.nms per category, merged by score", _per_class),
    ("onnxruntime", "ONNX NonMaxSuppression in ONNX Runtime (CPU)", _onnxruntime),
):
    NMS_IMPLEMENTATIONS.add(_name, NmsImplementation(_name, _description, _kernel))
