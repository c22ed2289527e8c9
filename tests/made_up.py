"""A results document of made-up but structured predictions written with its predictions file,
and a check that recomputes every row, the Holm adjustment and the categories from that file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sysnoise.datasets import Dataset
from sysnoise.engine import Evaluation
from sysnoise.intervals import min_detectable_delta, paired_difference_interval
from sysnoise.metrics import category_summary
from sysnoise.noises.suites import SUITES
from sysnoise.results import RunInputs, SkippedNoise, build_result, predictions_frame, write_result
from sysnoise.zoo import resolve_model

N_IMAGES, N_CLASSES = 400, 12


def _top5(predictions: pd.DataFrame, name: str) -> np.ndarray:
    return predictions[[name, *(f"{name}@{k}" for k in range(2, 6))]].to_numpy()


def assert_recomputes(document: dict, predictions: pd.DataFrame) -> None:
    """Recompute every row, the Holm adjustment and the categories from `predictions` with
    statsmodels where it has the statistic, and compare with `document`."""
    from statsmodels.stats.contingency_tables import mcnemar
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import proportion_confint

    labels = predictions["label"].to_numpy()
    ref = _top5(predictions, "reference")
    for row in document["rows"]:
        noisy = _top5(predictions, row["noise"])
        valid = (ref[:, 0] >= 0) & (noisy[:, 0] >= 0)
        assert (row["n_images"], row["n_failed"]) == (valid.sum(), len(valid) - valid.sum())
        flipped = int((ref[valid, 0] != noisy[valid, 0]).sum())
        assert row["flip_rate"] == pytest.approx(flipped / valid.sum())
        want_ci = proportion_confint(flipped, valid.sum(), method="wilson")
        assert row["flip_rate_ci"] == pytest.approx(list(want_ci))
        keep = valid & (labels >= 0)
        assert row["n_labelled"] == keep.sum()
        for k, suffix in ((1, "top1"), (5, "top5")):
            ref_ok = (ref[keep, :k] == labels[keep, None]).any(axis=1)
            noisy_ok = (noisy[keep, :k] == labels[keep, None]).any(axis=1)
            table = [
                [int((ref_ok & noisy_ok).sum()), int((ref_ok & ~noisy_ok).sum())],
                [int((~ref_ok & noisy_ok).sum()), int((~ref_ok & ~noisy_ok).sum())],
            ]
            assert row[suffix] == pytest.approx(noisy_ok.mean())
            assert row[f"ref_{suffix}"] == pytest.approx(ref_ok.mean())
            assert row[f"delta_{suffix}"] == pytest.approx(ref_ok.mean() - noisy_ok.mean())
            interval = paired_difference_interval(*table[0], *table[1])
            assert row[f"delta_{suffix}_ci"] == pytest.approx(list(interval))
            counts = ("n_broken", "n_fixed") if k == 1 else ("n_broken_top5", "n_fixed_top5")
            assert (row[counts[0]], row[counts[1]]) == (table[0][1], table[1][0])
            if k == 1:
                assert row["mcnemar_p"] == pytest.approx(mcnemar(table, exact=True).pvalue)
                discordance = (table[0][1] + table[1][0]) / keep.sum()
                want = min_detectable_delta(int(keep.sum()), discordance)
                assert row["min_detectable_delta_top1"] == pytest.approx(want)
    holm = multipletests([row["mcnemar_p"] for row in document["rows"]], method="holm")[1]
    assert [row["mcnemar_p_holm"] for row in document["rows"]] == pytest.approx(list(holm))
    assert [row["significant"] for row in document["rows"]] == [bool(p < 0.05) for p in holm]
    expected = category_summary(document["rows"])
    assert set(document["categories"]) == set(expected)
    for name, summary in expected.items():
        assert document["categories"][name] == pytest.approx(summary)


def _evaluation(noises, reference, seed: int = 5) -> Evaluation:
    """Made-up but structured predictions: a reference right on about 70% of the labelled
    images, each noise changing a different share of them, and a few failures. The images and
    labels are always the same; `seed` draws the predictions."""
    fixed = np.random.default_rng(5)
    labels = fixed.integers(0, N_CLASSES, N_IMAGES)
    labels[fixed.random(N_IMAGES) < 0.15] = -1
    rng = np.random.default_rng(seed)
    ids = [f"img{i:04d}.jpg" for i in range(N_IMAGES)]
    evaluation = Evaluation(ids, labels, [f"{i:064x}" for i in range(N_IMAGES)])
    ref = np.argsort(rng.random((N_IMAGES, N_CLASSES)), axis=1)[:, :5]
    right = (rng.random(N_IMAGES) < 0.7) & (labels >= 0)
    ref[right, 0] = labels[right]
    ref[right, 1:] = (labels[right, None] + np.arange(1, 5)) % N_CLASSES
    pipelines = [reference, *(p for _, p in noises)]
    for index, pipeline in enumerate(pipelines):
        top5 = ref.copy()
        if index:
            changed = rng.random(N_IMAGES) < 0.04 * index
            top5[changed] = np.roll(top5[changed], 1 + index % 3, axis=1)
            top5[rng.random(N_IMAGES) < 0.01] = -1  # failed images
        evaluation.top5[pipeline.key] = top5
        evaluation.errors[pipeline.key] = {}
        evaluation.max_abs_diff[pipeline.key] = np.full(N_IMAGES, -1)
        evaluation.mse[pipeline.key] = np.full(N_IMAGES, np.nan)
    return evaluation


def write_made_up(out: Path, seed: int = 5) -> tuple[dict, pd.DataFrame]:
    """The sysnoise suite's results document (TensorRT left out, detector noises not applicable)
    for made-up predictions, written under `out` and read back, with its predictions file."""
    spec = resolve_model("mobilenet_v2")
    suite = SUITES.get("sysnoise")
    resolved = suite.resolve(spec.reference)
    detector_only = {"postprocess", "pyramid"}
    noises = [
        (n, p)
        for n, p in resolved
        if "tensorrt" not in n.name and not detector_only & set(n.changes)
    ]
    skipped = [
        SkippedNoise(n, "unavailable", "no GPU") for n, _ in resolved if "tensorrt" in n.name
    ] + [
        SkippedNoise(n, "not applicable", "MobileNetV2 is not a detector")
        for n, _ in resolved
        if detector_only & set(n.changes)
    ]
    evaluation = _evaluation(noises, spec.reference, seed)
    dataset = Dataset("made-up", None, (), "structured made-up predictions")
    run = RunInputs(
        spec, "0" * 64, "f" * 16, dataset, suite, noises, "torch-fp32", 1.0, skipped=skipped
    )
    path = write_result(build_result(run, evaluation), predictions_frame(run, evaluation), out, "x")
    document = json.loads(path.read_text())
    return document, pd.read_csv(out / document["predictions_file"])
