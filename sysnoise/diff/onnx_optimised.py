"""The graph ONNX Runtime actually runs, with its tensors exposed under the original names.

ONNX Runtime optimises a graph when it opens a session: fuses Conv with its activation, turns QDQ
patterns into integer kernels (QLinearConv), and re-lays tensors out (NCHWc blocks for FP32
convolutions, NHWC around integer convolutions). Adding outputs to the *original* graph would
block those rewrites, so this module lets ONNX Runtime write out its optimised graph, exposes
that graph's tensors, and runs it with no further optimisation: the numbers are the benchmark's.

A tensor of the original graph is found in the optimised one under its own name, as the output
of the DequantizeLinear node named after it (its INT8 value, dequantized, as the next layer
receives it), or as the output of the NCHWc node named after it (unless that node also adds a
residual, which makes its output another tensor). NHWC tensors are transposed
back; NCHWc tensors are converted back by ONNX Runtime's own ReorderOutput op.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_NCHWC_DOMAIN = "com.microsoft.nchwc"
_DEQUANTIZED = re.compile(r"(?P<name>.+)_DequantizeLinear(_\d+)?")
_NCHWC_NODE = re.compile(r"(?P<name>.+)_nchwc")
_SAME_LAYOUT = {  # ops whose output is laid out like their first input
    "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Clip", "Relu", "LeakyRelu", "Sigmoid",
    "HardSigmoid", "HardSwish", "Tanh", "Identity", "Cast", "QuantizeLinear", "DequantizeLinear",
    "QLinearAdd", "QLinearMul", "QLinearLeakyRelu", "QLinearSigmoid",
}  # fmt: skip


@dataclass(frozen=True)
class Source:
    """Where an original tensor lives in the optimised graph, and in which memory layout."""

    tensor: str
    layout: str  # "nchw", "nhwc" or "nchwc"


def optimised_graph(
    onnx_path: Path, options: Any, providers: list[Any]
) -> Any:  # -> onnx.ModelProto
    """The graph ONNX Runtime runs for `onnx_path` under session `options`."""
    import onnx
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="sysnoise-ort-") as scratch:
        path = Path(scratch) / "optimised.onnx"
        options.optimized_model_filepath = str(path)
        onnxruntime.InferenceSession(str(onnx_path), options, providers=providers)
        return onnx.load(str(path))


def find_sources(graph: Any, wanted: dict[str, tuple[int, ...]]) -> dict[str, Source]:
    """Where each wanted tensor (name -> reference shape) lives in the optimised `graph`."""
    layouts = tensor_layouts(graph)
    sources: dict[str, Source] = {}
    for node in graph.node:
        for name in node.output:
            if name in wanted and name in layouts:
                sources[name] = Source(name, layouts[name])
    for node in graph.node:
        if not node.output:
            continue
        output = node.output[0]
        if node.op_type == "DequantizeLinear" and (match := _DEQUANTIZED.fullmatch(node.name)):
            original = match["name"]
        elif node.domain == _NCHWC_DOMAIN and (match := _NCHWC_NODE.fullmatch(node.name)):
            if _has_fused_sum(node):
                continue  # named after the convolution, but its output is conv + residual
            original = match["name"]
        else:
            continue
        if original in wanted and original not in sources and output in layouts:
            sources[original] = Source(output, layouts[output])
    return sources


def _has_fused_sum(node: Any) -> bool:
    return node.op_type == "Conv" and len(node.input) > 3 and bool(node.input[3])


def tensor_layouts(graph: Any) -> dict[str, str]:
    """The memory layout of each 4-D node output that can be told: nchw, nhwc or nchwc."""
    layouts = {value.name: "nchw" for value in graph.input}
    for node in graph.node:
        layout = _output_layout(node, layouts)
        if layout is not None:
            layouts.update((name, layout) for name in node.output if name)
    return layouts


def _output_layout(node: Any, layouts: dict[str, str]) -> str | None:
    attributes = {attribute.name: attribute for attribute in node.attribute}
    first = layouts.get(node.input[0]) if node.input else None
    channels_last = "channels_last" in attributes and attributes["channels_last"].i == 1
    if node.op_type == "Transpose":
        perm = list(attributes["perm"].ints) if "perm" in attributes else []
        if first == "nchw" and perm == [0, 2, 3, 1]:
            return "nhwc"
        if first == "nhwc" and perm == [0, 3, 1, 2]:
            return "nchw"
        return None
    if node.domain == _NCHWC_DOMAIN:
        if node.op_type == "ReorderOutput":
            return "nhwc" if channels_last else "nchw"
        return "nchwc"
    if channels_last or node.op_type.startswith("Nhwc"):
        return "nhwc"
    if node.op_type in _SAME_LAYOUT:
        return first
    return "nchw"


def expose(model: Any, sources: dict[str, Source], wanted: dict[str, tuple[int, ...]]) -> dict:
    """Add every source to `model`'s outputs (NCHWc ones through a ReorderOutput back to NCHW);
    returns {original name: (output name, "nhwc" or "nchw")}."""
    import onnx

    graph = model.graph
    present = {output.name for output in graph.output}
    exposed = {}
    for original, source in sources.items():
        name, layout = source.tensor, source.layout
        if layout == "nchwc":
            name = f"{source.tensor}__sysnoise_nchw"
            channels = wanted[original][1] if len(wanted[original]) > 1 else 0
            graph.node.append(
                onnx.helper.make_node(
                    "ReorderOutput",
                    [source.tensor],
                    [name],
                    domain=_NCHWC_DOMAIN,
                    channels=channels,
                )
            )
            layout = "nchw"
        if name not in present:
            graph.output.append(onnx.ValueInfoProto(name=name))
            present.add(name)
        exposed[original] = (name, layout)
    return exposed


def to_nchw(value: np.ndarray, layout: str) -> np.ndarray:
    """An exposed tensor in the original graph's layout."""
    if layout == "nhwc" and value.ndim == 4:
        return np.ascontiguousarray(value.transpose(0, 3, 1, 2))
    return value
