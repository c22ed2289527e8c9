"""Per-layer comparison of two torch models through forward hooks on their leaf modules.

The reference model runs first and keeps a float32 copy of each leaf module's output; the noisy
model's outputs are compared as they are produced, so only one set of activations is held. A
module called more than once (a shared ReLU) gets `name#2`, `name#3` for its later calls.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from sysnoise.diff.compare import INPUT_ROW, OUTPUT_ROW, LayerStat, layer_stat

Sink = Callable[[str, str, Any], None]


def leaf_names(model: Any) -> set[str]:
    """Names of the model's modules that have no children (the model itself excluded)."""
    return {
        name
        for name, module in model.named_modules()
        if name and not any(True for _ in module.children())
    }


@contextlib.contextmanager
def hooked(model: Any, sink: Sink, names: set[str]) -> Iterator[None]:
    """Within the block, the tensor output of each module named in `names` goes to
    `sink(key, op, tensor)`."""
    calls: Counter[str] = Counter()

    def make_hook(name: str, op: str) -> Callable[..., None]:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            tensor = _first_tensor(output)
            if tensor is None:
                return
            calls[name] += 1
            key = name if calls[name] == 1 else f"{name}#{calls[name]}"
            sink(key, op, tensor)

        return hook

    handles = [
        module.register_forward_hook(make_hook(name, _op_name(module)))
        for name, module in model.named_modules()
        if name in names
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def compare_torch_layers(
    reference: Any,
    noisy: Any,
    reference_input: Any,
    noisy_input: Any,
    tolerance: float,
    cast: Callable[[Any], Any] | None = None,
) -> tuple[list[LayerStat], Any, Any]:
    """Per-layer statistics in the reference's execution order, and both models' outputs.

    `cast` turns the noisy pipeline's float32 batch into what the noisy model takes (another
    dtype or memory format). The first row compares the two float32 batches as the pipelines
    make them, before that cast; the last row the models' outputs. Layers the noisy model does
    not run are left out.
    """
    import torch

    saved: dict[str, tuple[str, Any]] = {}

    def keep(key: str, op: str, tensor: Any) -> None:
        # A copy: a later in-place op (ReLU(inplace=True)) would overwrite this output.
        saved[key] = (op, tensor.detach().to("cpu", torch.float32, copy=True))

    # Leaves of either model: a quantized model's fused leaf is a container in the reference.
    names = leaf_names(reference) | leaf_names(noisy)
    with torch.inference_mode(), hooked(reference, keep, names):
        ref_out = _first_tensor(reference(reference_input))

    stats: dict[str, LayerStat] = {}

    def compare(key: str, op: str, tensor: Any) -> None:
        if key in saved and key not in stats:
            ref_op = saved[key][0]
            shown = ref_op if op == ref_op else f"{ref_op} -> {op}"
            stats[key] = layer_stat(key, shown, saved[key][1], tensor, tolerance)

    with torch.inference_mode(), hooked(noisy, compare, names):
        noisy_out = _first_tensor(noisy(cast(noisy_input) if cast else noisy_input))

    rows = [layer_stat(INPUT_ROW, "input", reference_input, noisy_input, tolerance)]
    rows += [stats[key] for key in saved if key in stats]
    rows.append(layer_stat(OUTPUT_ROW, "output", ref_out, noisy_out, tolerance))
    return rows, ref_out, noisy_out


def _op_name(module: Any) -> str:
    kind = type(module)
    return f"quantized {kind.__name__}" if ".quantized" in kind.__module__ else kind.__name__


def _first_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((t for t in map(_first_tensor, value) if t is not None), None)
    if isinstance(value, dict):
        return next((t for t in map(_first_tensor, value.values()) if t is not None), None)
    return None
