"""Per-layer statistics of a reference and a noisy activation, and the report built from them.

Polygraphy-style: for each layer in execution order, the largest absolute difference, the
reference's largest magnitude, and their ratio (the relative error). A layer *diverges* when its
relative error exceeds the tolerance or its output shape differs from the reference's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

SHAPE_DIFFERS = "shape differs"
INPUT_ROW = "input"  # the first row: the two pipelines' float32 model inputs
OUTPUT_ROW = "output"  # the last row of a torch comparison: the model outputs


@dataclass(frozen=True)
class LayerStat:
    """One layer's (or graph tensor's) difference between the reference and the noisy run."""

    name: str
    op: str
    shape: tuple[int, ...]
    noisy_shape: tuple[int, ...]
    max_abs: float  # NaN when the shapes differ
    ref_max_abs: float
    rel_err: float  # max_abs / ref_max_abs; NaN when the shapes differ
    diverged: bool
    module: str = ""  # the torch module an ONNX tensor was exported from, when known

    @property
    def shape_differs(self) -> bool:
        """Whether the noisy output has another shape than the reference's."""
        return self.shape != self.noisy_shape


def layer_stat(name: str, op: str, reference: Any, noisy: Any, tolerance: float) -> LayerStat:
    """Compare two arrays or tensors of one layer (any float dtype, any memory layout)."""
    ref = _as_float32(reference)
    other = _as_float32(noisy)
    ref_max = float(np.abs(ref).max()) if ref.size else 0.0
    if ref.shape != other.shape:
        return LayerStat(name, op, ref.shape, other.shape, math.nan, ref_max, math.nan, True)
    max_abs = float(np.abs(ref - other).max()) if ref.size else 0.0
    rel = relative_error(max_abs, ref_max)
    return LayerStat(name, op, ref.shape, other.shape, max_abs, ref_max, rel, rel > tolerance)


def relative_error(max_abs: float, ref_max_abs: float) -> float:
    """max_abs / ref_max_abs; 0 when both are 0, inf when only the reference is all zeros."""
    if max_abs == 0.0:
        return 0.0
    if ref_max_abs == 0.0 or not math.isfinite(max_abs):
        return math.inf
    return max_abs / ref_max_abs


def _as_float32(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor: dequantize, widen, contiguous NCHW
        if value.is_quantized:
            value = value.dequantize()
        value = value.detach().float().cpu().contiguous().numpy()
    return np.asarray(value, dtype=np.float32)


@dataclass(frozen=True)
class FinalOutputs:
    """Final logits of both runs, as the benchmark runs them, over the same images."""

    max_abs: float
    rel_err: float
    top1_agree: int
    n_images: int

    @property
    def top1_agreement(self) -> float:
        """Share of images whose top-1 class is the same in both runs."""
        return self.top1_agree / self.n_images if self.n_images else math.nan


def final_outputs(reference: np.ndarray, noisy: np.ndarray) -> FinalOutputs:
    """Max abs error, relative error and top-1 agreement of two (N, classes) logit arrays."""
    ref = _as_float32(reference)
    other = _as_float32(noisy)
    max_abs = float(np.abs(ref - other).max())
    agree = int((ref.argmax(axis=1) == other.argmax(axis=1)).sum())
    return FinalOutputs(max_abs, relative_error(max_abs, float(np.abs(ref).max())), agree, len(ref))


@dataclass(frozen=True)
class DiffReport:
    """Where a noise's difference comes from: per-layer statistics and the final outputs."""

    model: str
    noise: str
    suite: str
    method: str  # how the layers were compared, e.g. "torch forward hooks"
    tolerance: float
    image_ids: tuple[str, ...]
    reference: dict[str, Any]  # pipeline fields
    noisy: dict[str, Any]
    layers: tuple[LayerStat, ...]
    final: FinalOutputs
    notes: tuple[str, ...] = field(default=())

    @property
    def first_diverged(self) -> LayerStat | None:
        """The first layer, in execution order, beyond the tolerance or of another shape."""
        return next((layer for layer in self.layers if layer.diverged), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready document; a NaN or infinite statistic becomes None (see `diverged`)."""
        first = self.first_diverged
        return {
            "model": self.model,
            "noise": self.noise,
            "suite": self.suite,
            "method": self.method,
            "tolerance": self.tolerance,
            "n_images": len(self.image_ids),
            "image_ids": list(self.image_ids),
            "reference_pipeline": self.reference,
            "noisy_pipeline": self.noisy,
            "first_diverged": None if first is None else first.name,
            "final": {
                "logits_max_abs": _json_number(self.final.max_abs),
                "logits_rel_err": _json_number(self.final.rel_err),
                "top1_agree": self.final.top1_agree,
                "top1_agreement": _json_number(self.final.top1_agreement),
            },
            "layers": [
                {
                    **{k: _json_number(v) for k, v in asdict(layer).items()},
                    "shape": list(layer.shape),
                    "noisy_shape": list(layer.noisy_shape),
                    "shape_differs": layer.shape_differs,
                }
                for layer in self.layers
            ],
            "notes": list(self.notes),
        }


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
