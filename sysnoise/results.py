"""The results document of one run: construction from an Evaluation (the types are in
`sysnoise.document`), and writing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.datasets import Dataset
from sysnoise.document import (
    SCHEMA_VERSION,
    DatasetInfo,
    Environment,
    ModelInfo,
    NotEvaluated,
    ReferenceFigures,
    ResultDocument,
    RobustartSummary,
    RunFacts,
    SuiteInfo,
    Tool,
    TypedDocument,
    utc_now,
)
from sysnoise.engine import Evaluation
from sysnoise.environment import environment, tool_info
from sysnoise.fileio import atomic_write
from sysnoise.hashing import dataset_fingerprint
from sysnoise.intervals import ALPHA, POWER, holm_adjusted, min_detectable_delta
from sysnoise.metrics import (
    STACKED_CATEGORIES,
    category_summary,
    noise_metrics,
    psnr,
    topk_accuracy,
)
from sysnoise.noises.suites import Noise, Suite
from sysnoise.pipeline import Pipeline
from sysnoise.predictions import PredictionsTable, predictions_table, write_predictions
from sysnoise.robustart import robustart_summary
from sysnoise.zoo import ModelSpec

MAX_LISTED_ERRORS = 20
# Below this many labelled images the report calls every delta indicative only.
INDICATIVE_BELOW = 1000


@dataclass(frozen=True)
class SkippedNoise:
    """A suite noise left out of this run: "not applicable" to the model, "unavailable" here, or
    "failed" (an error while preparing it; the reason is the error)."""

    noise: Noise
    status: str
    reason: str


@dataclass(frozen=True)
class RunInputs:
    """Everything a result describes besides the evaluation itself."""

    spec: ModelSpec
    weights_sha256: str
    model_fingerprint: str
    dataset: Dataset
    suite: Suite
    noises: list[tuple[Noise, Pipeline]]  # the evaluated ones
    backend: str
    seconds: float
    skipped: list[SkippedNoise] = field(default_factory=list)
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)  # variant label -> facts
    calibration: dict[str, Any] | None = None
    model_sides: dict[str, str] = field(default_factory=dict)  # pipeline key -> effective label
    annotations: Path | None = None  # COCO instances JSON of a detection run


def build_result(run: RunInputs, evaluation: Evaluation) -> ResultDocument:
    """The typed results document."""
    reference = run.spec.reference
    ref_top5 = evaluation.top5[reference.key]
    labels = evaluation.labels
    ref_ok = ~evaluation.failed(reference.key)
    labelled = ref_ok & (labels >= 0)
    rows = []
    seen = {_predictions_digest(ref_top5): "reference"}
    for noise, pipeline in run.noises:
        valid = ref_ok & ~evaluation.failed(pipeline.key)
        digest = _predictions_digest(evaluation.top5[pipeline.key])
        identical_to = seen.setdefault(digest, noise.name)
        metrics = noise_metrics(ref_top5, evaluation.top5[pipeline.key], labels, valid)
        rows.append(
            {
                "noise": noise.name,
                "category": noise.category_for(reference),
                "changes": dict(noise.changes),
                "model_side": run.model_sides.get(pipeline.key, pipeline.model_side.label),
                **metrics.to_dict(),
                "mcnemar_p_holm": None,  # set across the run below
                "significant": None,
                **_input_difference(evaluation, pipeline.key, valid),
                "errors": _first_errors(evaluation.errors[pipeline.key]),
                # The first row (or the reference) with the same top-5 on every image.
                "identical_to": None if identical_to == noise.name else identical_to,
            }
        )
    _adjust_for_multiplicity(rows)
    n_images = len(evaluation.image_ids)
    has_labels = bool(labelled.any())
    document = ResultDocument(
        schema_version=SCHEMA_VERSION,
        tool=Tool(**tool_info()),
        created=utc_now(),
        environment=Environment(**environment()),
        model=ModelInfo(
            name=run.spec.name,
            source=run.spec.source,
            arch=run.spec.arch,
            weights_tag=run.spec.weights_tag,
            weights_url=run.spec.weights_url,
            weights_sha256=run.weights_sha256,
            fingerprint=run.model_fingerprint,
            published_top1=run.spec.published_top1,
            backend=run.backend,
        ),
        dataset=DatasetInfo(
            name=run.dataset.name,
            root=str(run.dataset.root) if run.dataset.root else None,
            description=run.dataset.description,
            n_images=n_images,
            n_labelled=int((labels >= 0).sum()),
            fingerprint=dataset_fingerprint(
                evaluation.image_ids, evaluation.image_hashes, evaluation.labels.tolist()
            ),
            sample=run.dataset.sample,
        ),
        suite=SuiteInfo(
            name=run.suite.name,
            description=run.suite.description,
            n_noises=len(run.noises),
            noises=[noise.name for noise, _ in run.suite.resolve(reference)],
        ),
        reference_pipeline=reference.to_dict(),
        reference=ReferenceFigures(
            n_images=int(ref_ok.sum()),
            n_failed=int((~ref_ok).sum()),
            n_labelled=int(labelled.sum()),
            top1=topk_accuracy(ref_top5[labelled], labels[labelled], 1) if has_labels else None,
            top5=topk_accuracy(ref_top5[labelled], labels[labelled], 5) if has_labels else None,
            errors=_first_errors(evaluation.errors[reference.key]),
        ),
        power=run_power(rows, int(labelled.sum())),
        categories=category_summary(rows),
        rows=rows,
        combined=combined_steps(run, evaluation),
        not_evaluated=[
            NotEvaluated(
                noise=skip.noise.name,
                category=skip.noise.category_for(reference),
                changes=dict(skip.noise.changes),
                status=skip.status,
                reason=skip.reason,
            )
            for skip in run.skipped
        ],
        backends=run.backends,
        calibration=run.calibration,
        run=RunFacts(
            seconds=round(run.seconds, 3),
            forward_passes=evaluation.forwards,
            cached_predictions=evaluation.cached,
        ),
        robustart=None,
    )
    summary = robustart_summary(document.to_dict())
    if summary is not None:
        document.robustart = RobustartSummary(**summary)
    return document


def _adjust_for_multiplicity(rows: list[dict[str, Any]]) -> None:
    """Holm-adjusted McNemar p across the run's rows, and whether each is significant at ALPHA
    after adjustment (family-wise)."""
    adjusted = holm_adjusted([row["mcnemar_p"] for row in rows])
    for row, p in zip(rows, adjusted, strict=True):
        row["mcnemar_p_holm"] = p
        row["significant"] = None if p is None else bool(p < ALPHA)


def run_power(rows: list[dict[str, Any]], n_labelled: int) -> dict[str, Any]:
    """What this run can detect: the minimum Δtop-1 a McNemar test at ALPHA finds with POWER on
    `n_labelled` images at the run's median discordance (share of labelled images whose
    correctness a noise changes)."""
    shares = [
        (row["n_broken"] + row["n_fixed"]) / row["n_labelled"] for row in rows if row["n_labelled"]
    ]
    discordance = float(np.median(shares)) if shares else None
    detectable = (
        None if discordance is None else min_detectable_delta(n_labelled, discordance, ALPHA, POWER)
    )
    return {
        "alpha": ALPHA,
        "power": POWER,
        "n_labelled": n_labelled,
        "median_discordance": discordance,
        "min_detectable_delta_top1": detectable,
        "indicative_below": INDICATIVE_BELOW,
        "indicative_only": n_labelled < INDICATIVE_BELOW,
    }


def combined_steps(run: RunInputs, evaluation: Evaluation) -> list[dict[str, Any]]:
    """The stacked categories' evaluated steps in order: what each step changed against the step
    before it (the reference for the first) and where the stack stands against the reference.
    Steps left out (not applicable, unavailable) are in ``not_evaluated``."""
    reference = run.spec.reference
    ref_top5 = evaluation.top5[reference.key]
    labels = evaluation.labels
    ref_ok = ~evaluation.failed(reference.key)
    steps = []
    previous = reference
    for noise, pipeline in run.noises:
        if noise.category_for(reference) not in STACKED_CATEGORIES:
            continue
        both = ref_ok & ~evaluation.failed(previous.key) & ~evaluation.failed(pipeline.key)
        step = noise_metrics(
            evaluation.top5[previous.key], evaluation.top5[pipeline.key], labels, both
        )
        total = noise_metrics(ref_top5, evaluation.top5[pipeline.key], labels, both)
        steps.append(
            {
                "noise": noise.name,
                "after": None if previous is reference else steps[-1]["noise"],
                "n_images": step.n_images,
                "n_labelled": step.n_labelled,
                "step_flip_rate": step.flip_rate,
                "step_flip_rate_ci": _pair(step.flip_rate_ci),
                "step_delta_top1": step.delta_top1,
                "step_delta_top1_ci": _pair(step.delta_top1_ci),
                "step_mcnemar_p": step.mcnemar_p,
                "cumulative_flip_rate": total.flip_rate,
                "cumulative_delta_top1": total.delta_top1,
                "cumulative_delta_top1_ci": _pair(total.delta_top1_ci),
            }
        )
        previous = pipeline
    return steps


def _predictions_digest(top5: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(top5, dtype=np.int64).tobytes()).hexdigest()


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [float(interval[0]), float(interval[1])]


def _input_difference(evaluation: Evaluation, key: str, valid: np.ndarray) -> dict[str, Any]:
    max_abs = evaluation.max_abs_diff[key][valid]
    mse = evaluation.mse[key][valid]
    known = ~np.isnan(mse)
    if not known.any():
        return {"input_max_abs_diff": None, "input_psnr_db": None, "identical_input_rate": None}
    mean_mse = float(mse[known].mean())
    return {
        "input_max_abs_diff": int(max_abs[known].max()),
        "input_psnr_db": psnr(mean_mse),  # None when every input is identical to the reference
        "identical_input_rate": float((mse[known] == 0).mean()),
    }


def _first_errors(errors: dict[str, str]) -> dict[str, Any]:
    listed = dict(list(errors.items())[:MAX_LISTED_ERRORS])
    return {"count": len(errors), "first": listed}


def predictions_frame(run: RunInputs, evaluation: Evaluation) -> PredictionsTable:
    """One row per image: label, content hash, and the top-5 classes under the reference and
    each noise (columns ``NAME`` for top-1, ``NAME@2`` .. ``NAME@5``; -1: no prediction), as
    views over the evaluation's arrays (`sysnoise.predictions`)."""
    named = [("reference", run.spec.reference), *((n.name, p) for n, p in run.noises)]
    return predictions_table(evaluation, named)


def result_stem(run: RunInputs, created: str) -> str:
    """``<model>-<suite>-<date>``, safe as a file name; the date is the document's (UTC)."""
    model = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.spec.name)
    return f"{model}-{run.suite.name}-{created[:10]}"


def write_result(
    document: TypedDocument, predictions: Any, out_dir: Path, stem: str
) -> Path:
    """Write ``stem.json``, ``stem.csv`` (one row per noise) and ``stem.predictions.csv.gz``
    (from a `PredictionsTable`, a block of rows at a time, or a DataFrame)."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    document = document.model_copy(update={"predictions_file": f"{stem}.predictions.csv.gz"})
    plain, text = document.to_dict(), document.to_json()
    json_path = out_dir / f"{stem}.json"
    atomic_write(json_path, lambda p: p.write_text(text))
    flat = pd.json_normalize(plain["rows"], max_level=0)
    flat = flat.drop(columns=["errors", "changes"], errors="ignore")  # no rows: no columns
    atomic_write(out_dir / f"{stem}.csv", lambda p: flat.to_csv(p, index=False))
    predictions_path = out_dir / f"{stem}.predictions.csv.gz"
    atomic_write(predictions_path, lambda p: write_predictions(predictions, p))
    return json_path
