"""The per-layer half of a diff: which instrumented runs explain a noise's model side.

A backend's `family` says how: torch through forward hooks (`sysnoise.diff.torch_layers`), ONNX
Runtime through every tensor of its graphs (`sysnoise.diff.onnx_layers`); a backend that is not
`instrumentable` (TensorRT) gives final outputs only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sysnoise.diff.compare import LayerStat
from sysnoise.diff.config import DiffConfig
from sysnoise.diff.inputs import PairedInputs
from sysnoise.pipeline import Pipeline


@dataclass(frozen=True)
class LayerRun:
    """Per-layer rows, how they were made, and the instrumented runs' outputs."""

    rows: list[LayerStat]
    method: str
    instrumented_output: np.ndarray | None  # the noisy output as the instrumented run made it
    notes: list[str]
    reference_output: np.ndarray | None = None  # the table's reference output, if not torch's


def compare_layers(
    model: Any,
    patched: Any,
    noisy: Pipeline,
    inputs: PairedInputs,
    config: DiffConfig,
    context: Any,
    noisy_context: Any,
) -> LayerRun:
    """The per-layer rows for `noisy`'s model side: torch hooks for the torch family, every
    tensor of the ONNX Runtime graphs for onnxruntime, none (final outputs only) otherwise."""
    from sysnoise.backends import BACKENDS

    backend = BACKENDS.get(noisy.backend)
    if backend.instrumentable and backend.family == "torch":
        return _torch_layers(model, patched, noisy, inputs, config, noisy_context)
    if backend.instrumentable and backend.family == "onnxruntime":
        return _onnx_layers(model, patched, noisy, inputs, config, context, noisy_context)
    return LayerRun(
        [],
        "final outputs only",
        None,
        [f"no per-layer comparison for backend {noisy.backend}: only its final outputs are known"],
    )


def _torch_layers(
    model: Any,
    patched: Any,
    noisy: Pipeline,
    inputs: PairedInputs,
    config: DiffConfig,
    noisy_context: Any,
) -> LayerRun:
    import torch

    from sysnoise.backends.base import resolve_device
    from sysnoise.diff.torch_layers import compare_torch_layers
    from sysnoise.diff.torch_variant import torch_pair

    device = resolve_device(config.device, torch.cuda.is_available(), noisy.backend)
    pair = torch_pair(
        model, patched, noisy.backend, noisy.precision, device, noisy_context.calibration
    )
    rows, _, noisy_out = compare_torch_layers(
        pair.reference,
        pair.noisy,
        torch.from_numpy(inputs.reference).to(pair.reference_device),
        torch.from_numpy(inputs.noisy),
        config.tolerance,
        pair.cast,
    )
    method = (
        f"torch forward hooks on leaf modules: FP32 eager reference vs {noisy.backend} "
        f"{noisy.precision} on {pair.reference_device}"
    )
    return LayerRun(rows, method, noisy_out.float().cpu().numpy(), pair.notes)


def _onnx_layers(
    model: Any,
    patched: Any,
    noisy: Pipeline,
    inputs: PairedInputs,
    config: DiffConfig,
    context: Any,
    noisy_context: Any,
) -> LayerRun:
    import torch

    from sysnoise.backends import BACKENDS
    from sysnoise.backends.onnx_export import cached_onnx
    from sysnoise.backends.onnxruntime_backend import session_providers
    from sysnoise.diff.onnx_layers import (
        compare_onnx_runs,
        graph_tensors,
        run_every_tensor,
        run_optimised,
    )

    example = np.zeros((1, *inputs.reference.shape[1:]), dtype=np.float32)
    reference_path = cached_onnx(model, example, context)
    noisy_path = cached_onnx(patched, example, noisy_context)
    if noisy.precision == "int8":
        from sysnoise.backends.quantize import cached_qdq, needs_reduce_range

        on_cpu = session_providers(config.device, noisy.backend) == ["CPUExecutionProvider"]
        noisy_path = cached_qdq(
            noisy_path,
            noisy_context.calibration,
            noisy_context.calibration_method,
            needs_reduce_range()[0] if on_cpu else False,
        )
    level = BACKENDS.get(noisy.backend).optimization
    providers = session_providers(config.device, noisy.backend)
    threads = torch.get_num_threads()
    reference_run = run_every_tensor(
        reference_path, inputs.reference, "disable", providers, threads
    )
    wanted = {name: value.shape for name, value in reference_run.tensors.items()}
    what = "its INT8 QDQ model" if noisy.precision == "int8" else "the same graph"
    try:
        noisy_run = run_optimised(noisy_path, inputs.noisy, level, providers, threads, wanted)
        how = (
            f"{what} as ONNX Runtime optimises it at level {level!r} (its optimised graph "
            "written out and re-run with the tensors exposed: fusions and kernels as in the "
            "benchmark)"
        )
        notes = [] if noisy.precision != "int8" else [_DEQUANTIZED_NOTE]
    except Exception as exc:  # an optimised graph that cannot be written out or re-run
        noisy_run = run_every_tensor(noisy_path, inputs.noisy, level, providers, threads)
        how = f"{what} at level {level!r} with every intermediate tensor as an output"
        notes = [f"{_FUSION_NOTE} (the optimised graph could not be re-run: {exc})"]
    rows, missing = compare_onnx_runs(
        graph_tensors(reference_path),
        reference_run,
        noisy_run,
        inputs.reference,
        inputs.noisy,
        config.tolerance,
    )
    method = (
        "ONNX Runtime, tensors matched by name: the FP32 export with graph optimisation "
        f"disabled and every tensor exposed vs {how}"
    )
    if missing:
        notes.append(
            f"{missing} of {len(wanted) - 1} reference tensors have no counterpart in the noisy "
            "graph (fused away or renamed by its optimisation) and are not listed"
        )
    return LayerRun(
        rows,
        method,
        noisy_run.tensors[noisy_run.output],
        notes,
        reference_run.tensors[reference_run.output],
    )


_DEQUANTIZED_NOTE = (
    "INT8 tensors are compared after their quantization (dequantized, as the next layer receives "
    "them), so a layer's error includes its activation's rounding and clipping to the calibrated "
    "range"
)
_FUSION_NOTE = (
    "exposing every intermediate tensor as a graph output keeps ONNX Runtime from fusing across "
    "those tensors (Conv+activation fusions; QDQ into integer QLinear kernels), so the "
    "per-tensor numbers come from a less fused graph than the one the benchmark runs; the "
    "summary's final logits are from the graph as the benchmark runs it"
)
