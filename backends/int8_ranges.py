"""Activation ranges for INT8 calibration: min/max, percentile, and entropy (KL divergence).

ONNX Runtime's `quantize_static` runs its entropy calibrator with 128 histogram bins and 128
quantized bins, so the only threshold it can try is the full range: "entropy" there is min/max.
Here the ranges are computed as TensorRT's calibrators (and NVIDIA's pytorch-quantization) do:

- ``minmax``: the smallest and largest value seen;
- ``percentile``: the 99.99th percentile of |x|, from a 2048-bin histogram of |x|;
- ``entropy``: the threshold T whose 128-level quantization of the 2048-bin |x| histogram (values
  beyond T clipped into the last bin) has the least KL divergence from it, trying T from bin 128
  to 2048 (TensorRT's IInt8EntropyCalibrator2).

Activations are read through ONNX Runtime's own calibration graph (every tensor it would quantize
made a model output), batch by batch: any number of images, the last batch ragged or not.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

HISTOGRAM_BINS = 2048
QUANTIZED_BINS = 128  # the levels of one sign of symmetric int8
PERCENTILE = 99.99


class _Collector:
    """Runs the calibration graph over batches; one pass gives min/max, a second histograms."""

    def __init__(self, model_path: Path, scratch: Path) -> None:
        from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

        # The histogram calibrater's graph exposes each tensor to calibrate as a raw output.
        calibrator = create_calibrator(
            model_path,
            None,
            augmented_model_path=str(scratch / "augmented.onnx"),
            calibrate_method=CalibrationMethod.Entropy,
            extra_options={"symmetric": True},
        )
        self.session = calibrator.infer_session
        self.input_name = self.session.get_inputs()[0].name
        self.names = sorted(calibrator.tensors_to_calibrate)
        outputs = [output.name for output in self.session.get_outputs()]
        self._positions = [outputs.index(name) for name in self.names]

    def outputs(self, batches: Iterable[np.ndarray]) -> Iterable[list[np.ndarray]]:
        for batch in batches:
            results = self.session.run(None, {self.input_name: batch})
            yield [np.asarray(results[position]) for position in self._positions]


def activation_ranges(
    model_path: Path, calibration: np.ndarray, method: str, batch_size: int = 8
) -> dict[str, tuple[float, float]]:
    """Per tensor to quantize, the (low, high) range `method` picks on `calibration`."""
    batches = [calibration[i : i + batch_size] for i in range(0, len(calibration), batch_size)]
    with tempfile.TemporaryDirectory(prefix="sysnoise-calib-") as scratch:
        collector = _Collector(model_path, Path(scratch))
        low = np.full(len(collector.names), np.inf)
        high = np.full(len(collector.names), -np.inf)
        for values in collector.outputs(batches):
            low = np.minimum(low, [v.min() if v.size else np.inf for v in values])
            high = np.maximum(high, [v.max() if v.size else -np.inf for v in values])
        low, high = np.where(np.isfinite(low), low, 0.0), np.where(np.isfinite(high), high, 0.0)
        if method == "minmax":
            pairs = zip(collector.names, low, high, strict=True)
            return {name: (float(lo), float(hi)) for name, lo, hi in pairs}
        amax = np.maximum(np.abs(low), np.abs(high))
        histograms = np.zeros((len(collector.names), HISTOGRAM_BINS))
        for values in collector.outputs(batches):
            for k, value in enumerate(values):
                if amax[k] > 0:
                    counts, _ = np.histogram(np.abs(value), HISTOGRAM_BINS, range=(0.0, amax[k]))
                    histograms[k] += counts
    pick = entropy_threshold if method == "entropy" else percentile_threshold
    ranges = {}
    for name, histogram, top in zip(collector.names, histograms, amax, strict=True):
        threshold = pick(histogram, float(top)) if top > 0 else 0.0
        ranges[name] = (-threshold, threshold)
    return ranges


def percentile_threshold(
    histogram: np.ndarray, amax: float, percentile: float = PERCENTILE
) -> float:
    """The upper edge of the |x| histogram bin where the cumulative share reaches `percentile`."""
    cumulative = np.cumsum(histogram) / histogram.sum()
    index = int(np.searchsorted(cumulative, percentile / 100.0))
    return amax * min(index + 1, len(histogram)) / len(histogram)


def entropy_threshold(histogram: np.ndarray, amax: float) -> float:
    """TensorRT's entropy calibration on a histogram of |x| over [0, amax].

    For each candidate end bin i, the first i bins (the rest clipped into bin i - 1) are the
    reference distribution P; Q is P merged into QUANTIZED_BINS levels and spread back evenly over
    each level's non-empty bins. The threshold is the end of the candidate with the least
    KL(P || Q) (the last one on ties).
    """
    bins = histogram.astype(np.float64).copy()
    bins[0] = bins[1]  # the zero bin (ReLU's zeros) would dominate, as TensorRT drops it
    total = bins.sum()
    divergences = []
    for end in range(QUANTIZED_BINS, len(bins) + 1):
        reference = bins[:end].copy()
        reference[-1] += bins[end:].sum()
        level = np.minimum(np.arange(end) * QUANTIZED_BINS // end, QUANTIZED_BINS - 1)
        nonzero = bins[:end] != 0
        sums = np.bincount(level[nonzero], bins[:end][nonzero], minlength=QUANTIZED_BINS)
        counts = np.bincount(level[nonzero], minlength=QUANTIZED_BINS)
        spread = np.where(nonzero, sums[level] / np.maximum(counts[level], 1), 0.0)
        divergences.append(_kl(reference / total, spread / spread.sum()))
    divergences = np.asarray(divergences)
    best = len(divergences) - 1 - int(np.argmin(divergences[::-1]))
    return amax * (best + QUANTIZED_BINS) / len(bins)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats; infinite where q misses mass that p has."""
    support = p > 0
    if np.any(q[support] == 0):
        return float("inf")
    return float(np.sum(p[support] * np.log(p[support] / q[support])))
