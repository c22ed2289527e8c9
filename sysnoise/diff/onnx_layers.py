"""Per-tensor comparison of two ONNX graphs run by ONNX Runtime with every tensor as an output.

The reference graph runs with graph optimisation disabled; the noisy graph (the same export at
another optimisation level, or its INT8 QDQ model, whose float tensors keep their names) at the
level its backend uses. Tensors are matched by name and listed in the reference graph's order,
each with the torch module it was exported from where the exporter recorded it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.diff.compare import INPUT_ROW, LayerStat, layer_stat

LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
_SCOPES_KEY = "pkg.torch.onnx.name_scopes"


@dataclass(frozen=True)
class GraphTensor:
    """A node output of an ONNX graph: its name, the node's op and the torch module it came from."""

    name: str
    op: str
    module: str


@dataclass(frozen=True)
class OnnxRun:
    """Every tensor of one instrumented run, and the name of the graph's first output."""

    tensors: dict[str, np.ndarray]
    output: str


def graph_tensors(onnx_path: Path) -> list[GraphTensor]:
    """The node outputs of the graph at `onnx_path`, in node order."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return [
        GraphTensor(name, node.op_type, _module_scope(node))
        for node in graph.node
        for name in node.output
        if name
    ]


def run_every_tensor(
    onnx_path: Path, batch: np.ndarray, level: str, providers: list[Any], threads: int
) -> OnnxRun:
    """Run the graph at `onnx_path` on `batch` at optimisation `level` with every intermediate
    tensor added as an output (which keeps ONNX Runtime from fusing across them)."""
    from sysnoise.backends.onnx_export import with_all_outputs

    model = with_all_outputs(onnx_path)
    values = _run(model, batch, session_options(level, threads), providers)
    tensors = {name: value for name, value in values.items() if _is_float(value)}
    return OnnxRun(tensors, next(iter(values)))


def run_optimised(
    onnx_path: Path,
    batch: np.ndarray,
    level: str,
    providers: list[Any],
    threads: int,
    wanted: dict[str, tuple[int, ...]],
) -> OnnxRun:
    """Run the graph ONNX Runtime makes of `onnx_path` at `level`, exactly as a session at that
    level runs it, returning the `wanted` tensors (name -> reference shape) it still has."""
    from sysnoise.diff.onnx_optimised import expose, find_sources, optimised_graph, to_nchw

    model = optimised_graph(onnx_path, session_options(level, threads), providers)
    output = model.graph.output[0].name
    exposed = expose(model, find_sources(model.graph, wanted), wanted)
    values = _run(model, batch, session_options("disable", threads), providers)
    tensors = {
        original: to_nchw(values[name], layout)
        for original, (name, layout) in exposed.items()
        if _is_float(values[name])
    }
    tensors[output] = values[output]
    return OnnxRun(tensors, output)


def session_options(level: str, threads: int) -> Any:
    """ONNX Runtime session options at optimisation `level` ("disable" ... "all")."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, LEVELS[level])
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # fusion and serialisation notes are not for the user
    return options


def _run(model: Any, batch: np.ndarray, options: Any, providers: list[Any]) -> dict[str, Any]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=providers)
    names = [output.name for output in session.get_outputs()]
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(batch, dtype=np.float32)}
    return dict(zip(names, session.run(names, feed), strict=True))


def _is_float(value: Any) -> bool:
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)


def compare_onnx_runs(
    order: list[GraphTensor],
    reference: OnnxRun,
    noisy: OnnxRun,
    reference_input: np.ndarray,
    noisy_input: np.ndarray,
    tolerance: float,
) -> tuple[list[LayerStat], int]:
    """Statistics for the input, each tensor both runs have (in `order`), and the output;
    also how many reference tensors the noisy run does not have."""
    rows = [layer_stat(INPUT_ROW, "input", reference_input, noisy_input, tolerance)]
    missing = 0
    for tensor in order:
        if tensor.name not in reference.tensors or tensor.name == reference.output:
            continue
        if tensor.name not in noisy.tensors:
            missing += 1
            continue
        stat = layer_stat(
            tensor.name,
            tensor.op,
            reference.tensors[tensor.name],
            noisy.tensors[tensor.name],
            tolerance,
        )
        rows.append(_with_module(stat, tensor.module))
    output = layer_stat(
        reference.output,
        "output",
        reference.tensors[reference.output],
        noisy.tensors[noisy.output],
        tolerance,
    )
    return [*rows, output], missing


def _with_module(stat: LayerStat, module: str) -> LayerStat:
    from dataclasses import replace

    return replace(stat, module=module) if module else stat


def _module_scope(node: Any) -> str:
    """The innermost torch module the dynamo exporter recorded for `node` ('' if none)."""
    for prop in node.metadata_props:
        if prop.key == _SCOPES_KEY:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return ""
            # The last entry names the op itself, the ones before it the enclosing modules.
            modules = [scope for scope in scopes[:-1] if scope]
            return modules[-1] if modules else ""
    return ""
