"""The sysnoise suite end to end on a small model: every category, INT8 calibrated on held-out
images that are then never scored, skipped noises with reasons, a valid results document."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from sysnoise import bench
from sysnoise.config import BenchConfig
from sysnoise.leaderboard.validate import validate

from made_up import assert_recomputes
from tiny import pooled_classifier

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("sysnoise-suite")
    config = BenchConfig(
        suite="sysnoise",
        limit=12,
        calibration_size=4,
        batch_size=8,
        out_dir=tmp / "out",
        cache_dir=tmp / "cache",
        progress=False,
        device="cpu",
    )
    outcome = bench.run_bench(config, model=pooled_classifier())
    return json.loads(outcome.json_path.read_text()) | {"_dir": str(tmp / "out")}


def test_every_category_is_evaluated_or_says_why_not(document):
    categories = {row["category"] for row in document["rows"]}
    assert {"decoder", "resize", "colour", "ceil_mode", "precision", "backend", "combined"} <= (
        categories
    )
    skipped = {s["noise"]: s for s in document["not_evaluated"]}
    # The pooled test model has a max-pool but no upsampling.
    assert skipped["upsample=nearest"]["status"] == "not applicable"
    assert "no upsampling" in skipped["upsample=nearest"]["reason"]
    if not torch.cuda.is_available():
        assert skipped["backend=tensorrt"]["status"] == "unavailable"
        assert "GPU" in skipped["backend=tensorrt"]["reason"]
    declared = document["suite"]["noises"]
    assert sorted(declared) == sorted([r["noise"] for r in document["rows"]] + list(skipped))


def test_detector_noises_are_listed_as_not_applicable_to_a_classifier(document):
    from sysnoise.report import format_report

    skipped = {s["noise"]: s for s in document["not_evaluated"]}
    detector_only = [
        n for n in document["suite"]["noises"] if n.startswith(("postprocess=", "pyramid="))
    ]
    assert len(detector_only) == 9
    for name in detector_only:
        assert skipped[name]["status"] == "not applicable"
    assert "is not a detector" in skipped["postprocess=nms-onnxruntime"]["reason"]
    assert "no image pyramid" in skipped["pyramid=cv2-area"]["reason"]
    assert not any(row["category"] == "postprocess" for row in document["rows"])
    text = format_report(document)
    assert "postprocess=topk-first" in text and "no image pyramid" in text


def test_calibration_images_are_held_out_of_every_score(document):
    calibration = document["calibration"]
    assert calibration["n_images"] == 4 and calibration["method"] == "minmax"
    predictions = pd.read_csv(Path(document["_dir"]) / document["predictions_file"])
    assert set(predictions["image_id"]).isdisjoint(calibration["image_ids"])
    assert document["dataset"]["n_images"] == 12 - 4 == len(predictions)


def test_model_side_noises_run_on_their_own_backends(document):
    rows = {row["noise"]: row for row in document["rows"]}
    assert rows["precision=onnxruntime-int8"]["model_side"] == "onnxruntime-int8"
    assert rows["ceil_mode=flipped"]["model_side"] == "torch-fp32+ceil_mode=flipped"
    # Same pixels, another model: the input difference is nil, the outputs are not shared.
    assert rows["precision=onnxruntime-int8"]["identical_input_rate"] == 1.0
    assert "onnxruntime-int8" in document["backends"]
    assert document["backends"]["onnxruntime-int8"]["precision"] == "int8"
    quantization = document["backends"]["onnxruntime-int8"]["quantization"]
    assert quantization["weight_bits"] == (7 if quantization["reduce_range"] else 8)
    assert quantization["weight_bits_reason"]


def _predictions(document) -> pd.DataFrame:
    return pd.read_csv(Path(document["_dir"]) / document["predictions_file"])


def test_combined_steps_are_what_each_step_changed(document):
    steps = document["combined"]
    assert len(steps) == 5  # the pooled test model has a max-pool: every step applies
    predictions = _predictions(document)
    previous = "reference"
    for step in steps:
        assert step["after"] == (None if previous == "reference" else previous)
        changed = (predictions[previous] != predictions[step["noise"]]).mean()
        assert step["step_flip_rate"] == pytest.approx(changed)
        cumulative = (predictions["reference"] != predictions[step["noise"]]).mean()
        assert step["cumulative_flip_rate"] == pytest.approx(cumulative)
        low, high = step["step_delta_top1_ci"]
        assert low <= step["step_delta_top1"] <= high
        previous = step["noise"]
    final = document["categories"]["combined"]
    assert final["flip_mean"] == steps[-1]["cumulative_flip_rate"]
    assert final["mean"] == steps[-1]["cumulative_delta_top1"]


def test_a_stack_step_that_does_not_apply_is_left_out_with_its_reason(tmp_path):
    from sysnoise.backends.base import BackendContext
    from sysnoise.noises.suites import SUITES
    from sysnoise.pipeline import Pipeline
    from sysnoise.variants import ModelVariants

    from tiny import tiny_classifier

    reference = Pipeline()
    steps = [
        (n, p) for n, p in SUITES.get("sysnoise").resolve(reference) if n.category == "combined"
    ]
    context = BackendContext(device="cpu", cache_dir=tmp_path, model_id="m")
    example = torch.zeros((1, 3, 224, 224)).numpy()
    variants = ModelVariants(tiny_classifier(), example, context)  # no max-pool
    try:
        evaluated, skipped = bench._triage(steps[:4], reference, variants, lambda p: None)
    finally:
        variants.close()
    assert [n.name for n, _ in evaluated] == [n.name for n, _ in steps[:3]]
    assert [(s.noise.name, s.status) for s in skipped] == [(steps[3][0].name, "not applicable")]
    assert "no max-pool" in skipped[0].reason


def test_the_document_is_a_valid_submission(document):
    clean = {k: v for k, v in document.items() if k != "_dir"}
    assert validate(clean) == []
    assert (Path(document["_dir"]) / document["predictions_file"]).exists()
    with gzip.open(Path(document["_dir"]) / document["predictions_file"], "rt") as handle:
        assert "precision=onnxruntime-int8" in handle.readline()


def test_every_row_and_category_recomputes_from_the_predictions_file(document):
    assert_recomputes(document, _predictions(document))
