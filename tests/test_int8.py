"""INT8 calibration: real entropy and percentile thresholds, ragged batches, and weight bits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from sysnoise.backends import BackendContext
from sysnoise.backends import quantize as quantize_module
from sysnoise.backends.int8_ranges import (
    activation_ranges,
    entropy_threshold,
    percentile_threshold,
)
from sysnoise.backends.onnx_export import cached_onnx
from sysnoise.backends.quantize import cached_qdq, needs_reduce_range, qdq_facts

from tiny import photo_crops, tiny_bn_classifier

METHODS = ("minmax", "entropy", "percentile")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A small conv net on real photo crops, exported to ONNX; 13 calibration crops (8 + 5)."""
    crops = photo_crops(10 + 13, seed=1)
    model = tiny_bn_classifier(crops[:10])
    context = BackendContext(
        device="cpu", cache_dir=tmp_path_factory.mktemp("int8"), model_id="tiny-bn-1"
    )
    with torch.inference_mode():
        path = cached_onnx(model, crops[10:12], context)
    return path, crops[10:]


def test_the_three_methods_give_different_thresholds_on_real_activations(exported):
    path, calibration = exported
    ranges = {method: activation_ranges(path, calibration, method) for method in METHODS}
    names = sorted(ranges["minmax"])
    assert names == sorted(ranges["entropy"]) == sorted(ranges["percentile"])
    amax = {n: max(-ranges["minmax"][n][0], ranges["minmax"][n][1]) for n in names}
    entropy = {n: ranges["entropy"][n][1] for n in names}
    percentile = {n: ranges["percentile"][n][1] for n in names}
    # Histogram methods clip: never beyond the largest |x|, and on most tensors well inside it.
    assert all(entropy[n] <= amax[n] * 1.0001 and percentile[n] <= amax[n] * 1.0001 for n in names)
    differs = [n for n in names if len({round(amax[n], 6), entropy[n], percentile[n]}) == 3]
    assert len(differs) >= len(names) // 2, (amax, entropy, percentile)
    assert sum(entropy[n] < 0.9 * amax[n] for n in names) >= len(names) // 2


def test_entropy_and_percentile_calibrate_a_ragged_last_batch(exported):
    path, calibration = exported
    assert len(calibration) % 8 != 0
    scales = {}
    for method in METHODS:
        qdq = cached_qdq(path, calibration, method, reduce_range=False)
        model = onnx.load(str(qdq))
        facts = qdq_facts({p.key: p.value for p in model.metadata_props})
        assert facts["calibration_method"] == method and facts["weight_bits"] == 8
        scales[method] = _activation_scales(model)
    assert scales["minmax"] != scales["entropy"] != scales["percentile"] != scales["minmax"]


def _activation_scales(model: onnx.ModelProto) -> tuple[float, ...]:
    """The scales of the QuantizeLinear nodes on activations (weights have their own DQ only)."""
    initialisers = {init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer}
    scales = [
        float(initialisers[node.input[1]].reshape(-1)[0])
        for node in model.graph.node
        if node.op_type == "QuantizeLinear" and node.input[0] not in initialisers
    ]
    return tuple(sorted(scales))


def _entropy_reference(histogram: np.ndarray, amax: float) -> float:
    """TensorRT's loop as NVIDIA's pytorch-quantization writes it, element by element."""
    bins = histogram.astype(np.float64).copy()
    bins[0] = bins[1]
    nbins, divergences = 128, []
    for i in range(nbins, len(bins) + 1):
        space = np.linspace(0, i, num=nbins + 1)
        digitized = np.digitize(range(i), space) - 1
        digitized[bins[:i] == 0] = -1
        counts = np.zeros(nbins)
        for index, level in enumerate(digitized):
            if level != -1:
                counts[level] += bins[index]
        for level, members in Counter(digitized).items():
            if level != -1:
                counts[level] /= members
        candidate = np.array([counts[d] if d != -1 else 0.0 for d in digitized])
        reference = bins[:i].copy()
        reference[-1] += bins[i:].sum()
        p, q = reference / reference.sum(), candidate / candidate.sum()
        s = p > 0
        divergences.append(np.inf if np.any(q[s] == 0) else np.sum(p[s] * np.log(p[s] / q[s])))
    divergences = np.array(divergences)
    best = len(divergences) - 1 - int(np.argmin(divergences[::-1]))
    return amax * (best + nbins) / len(bins)


def test_entropy_threshold_is_tensorrts_and_clips_outliers():
    rng = np.random.default_rng(0)
    values = np.abs(np.concatenate([rng.normal(0, 1, 100_000), rng.normal(0, 20, 20)]))
    histogram, _ = np.histogram(values, 2048, range=(0, values.max()))
    threshold = entropy_threshold(histogram, float(values.max()))
    assert threshold == pytest.approx(_entropy_reference(histogram, float(values.max())))
    assert 2.0 < threshold < values.max() / 4  # a few sigma, far inside the outliers
    share = (values <= percentile_threshold(histogram, float(values.max()))).mean()
    assert share >= 0.9999 and share - 0.9999 < 0.0002


def test_weights_are_8_bit_unless_the_cpu_lacks_vnni(monkeypatch):
    monkeypatch.setattr(quantize_module.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(quantize_module, "cpu_int8_flags", lambda: ("avx512_vnni",))
    assert needs_reduce_range() == (False, pytest.approx(needs_reduce_range()[1]))
    assert "avx512_vnni" in needs_reduce_range()[1]
    monkeypatch.setattr(quantize_module, "cpu_int8_flags", lambda: ())
    reduce, reason = needs_reduce_range()
    assert reduce and "without VNNI" in reason
    monkeypatch.setattr(quantize_module.platform, "machine", lambda: "aarch64")
    assert needs_reduce_range()[0] is False


def test_this_cpus_flags_are_read_from_proc_cpuinfo():
    flags = quantize_module.cpu_int8_flags()
    assert set(flags) <= set(quantize_module.VNNI_FLAGS)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        line = next((x for x in cpuinfo.read_text().splitlines() if x.startswith("flags")), "")
        expected = [f for f in quantize_module.VNNI_FLAGS if f in line.split()]
        assert list(flags) == expected


def test_bench_with_a_calibration_folder_scores_every_image(tmp_path, monkeypatch):
    import json

    from sysnoise import bench
    from sysnoise.config import BenchConfig
    from sysnoise.noises.suites import SUITES, Noise, Suite

    import images
    from tiny import pooled_classifier, write_dataset

    int8 = Noise("precision=onnxruntime-int8", {"backend": "onnxruntime", "precision": "int8"})
    monkeypatch.setitem(SUITES._entries, "int8-only", Suite("int8-only", "", lambda: [int8]))
    monkeypatch.setattr(bench, "load_model", lambda spec, weights=None: (pooled_classifier(), "0"))
    files = {f"e{i}.jpg": images.china_jpeg() for i in range(2)} | {"p.jpg": images.progressive()}
    write_dataset(tmp_path / "eval", files)
    write_dataset(tmp_path / "train", {f"t{i}.jpg": images.baseline_420() for i in range(3)})
    config = BenchConfig(
        suite="int8-only",
        data=tmp_path / "eval",
        calibration_data=tmp_path / "train",
        calibration_method="entropy",
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        progress=False,
        device="cpu",
    )
    document = json.loads(bench.run_bench(config).json_path.read_text())
    assert document["dataset"]["n_images"] == 3  # every evaluation image scored
    calibration = document["calibration"]
    assert calibration["source"] == str(tmp_path / "train") and calibration["n_images"] == 3
    assert calibration["excluded_from_scoring"] is False
    assert document["backends"]["onnxruntime-int8"]["quantization"]["calibration_method"] == (
        "entropy"
    )
