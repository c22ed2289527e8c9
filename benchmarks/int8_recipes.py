"""INT8 recipes on mobilenet_v2: each calibration method with 8-bit and with 7-bit weights.

The sample set's unlabelled photos calibrate, its 20 labelled ImageNet images are evaluated with
ONNX Runtime (full graph optimisation, CPU) against the FP32 export: top-1 accuracy, top-1
agreement with FP32 and the largest logit difference, and how many activation ranges each method
clips below the largest |x|.

    python benchmarks/int8_recipes.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sysnoise.backends import BackendContext
from sysnoise.backends.int8_ranges import activation_ranges
from sysnoise.backends.onnx_export import cached_onnx
from sysnoise.backends.quantize import cached_qdq, needs_reduce_range
from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.preprocess import model_input, normalise
from sysnoise.weights import load_model
from sysnoise.zoo import resolve_model


def _logits(path: Path, inputs: np.ndarray) -> np.ndarray:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    chunks = [session.run(None, {name: inputs[i : i + 8]})[0] for i in range(0, len(inputs), 8)]
    return np.concatenate(chunks)


def main() -> None:
    spec = resolve_model("mobilenet_v2")
    model, weights_sha256 = load_model(spec)
    records = sample_dataset(default_cache_dir()).records
    batch = normalise(
        np.stack([model_input(r.path.read_bytes(), spec.reference) for r in records]),
        spec.reference,
    )
    labelled = np.array([r.label >= 0 for r in records])
    labels = np.array([r.label for r in records])[labelled]
    calibration, inputs = batch[~labelled], batch[labelled]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        context = BackendContext(
            device="cpu", cache_dir=Path(scratch), model_id=f"mobilenet_v2-{weights_sha256[:16]}"
        )
        fp32_path = cached_onnx(model, inputs[:2], context)
        fp32 = _logits(fp32_path, inputs)
        rows.append({"recipe": "fp32", "top-1": float((fp32.argmax(1) == labels).mean())})
        minmax = activation_ranges(fp32_path, calibration, "minmax")
        for method in ("minmax", "entropy", "percentile"):
            ranges = activation_ranges(fp32_path, calibration, method)
            clipped = sum(
                max(-low, high) < 0.999 * max(-minmax[n][0], minmax[n][1])
                for n, (low, high) in ranges.items()
            )
            for reduce_range in (False, True):
                logits = _logits(cached_qdq(fp32_path, calibration, method, reduce_range), inputs)
                rows.append(
                    {
                        "recipe": f"{method}, {'7' if reduce_range else '8'}-bit weights",
                        "top-1": float((logits.argmax(1) == labels).mean()),
                        "agree with fp32": float((logits.argmax(1) == fp32.argmax(1)).mean()),
                        "max |dlogit|": float(np.abs(logits - fp32).max()),
                        "ranges clipped": f"{clipped}/{len(ranges)}",
                    }
                )
    print(
        f"mobilenet_v2, ONNX Runtime CPU; {len(calibration)} calibration photos, {len(inputs)} "
        f"labelled images; this CPU: {needs_reduce_range()[1]}"
    )
    print(pd.DataFrame(rows).to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
