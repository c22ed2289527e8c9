"""The results document of one run: schema, construction from an Evaluation, and writing."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.datasets import Dataset
from sysnoise.engine import Evaluation
from sysnoise.environment import environment, tool_info
from sysnoise.fileio import atomic_write
from sysnoise.hashing import dataset_fingerprint
from sysnoise.metrics import category_summary, noise_metrics, psnr, topk_accuracy
from sysnoise.noises.suites import Noise, Suite
from sysnoise.pipeline import Pipeline
from sysnoise.zoo import ModelSpec

SCHEMA_VERSION = 2  # 2 added suite.noises, not_evaluated, backends, calibration, combined
MAX_LISTED_ERRORS = 20


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


def build_result(run: RunInputs, evaluation: Evaluation) -> dict[str, Any]:
    """The JSON-ready results document."""
    reference = run.spec.reference
    ref_top5 = evaluation.top5[reference.key]
    labels = evaluation.labels
    ref_ok = ~evaluation.failed(reference.key)
    labelled = ref_ok & (labels >= 0)
    rows = []
    for noise, pipeline in run.noises:
        valid = ref_ok & ~evaluation.failed(pipeline.key)
        metrics = noise_metrics(ref_top5, evaluation.top5[pipeline.key], labels, valid)
        rows.append(
            {
                "noise": noise.name,
                "category": noise.category_for(reference),
                "changes": dict(noise.changes),
                "model_side": run.model_sides.get(
                    pipeline.key, pipeline.model_side.label
                ),
                **metrics.to_dict(),
                **_input_difference(evaluation, pipeline.key, valid),
                "errors": _first_errors(evaluation.errors[pipeline.key]),
            }
        )
    n_images = len(evaluation.image_ids)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": tool_info(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(),
        "model": {
            "name": run.spec.name,
            "source": run.spec.source,
            "arch": run.spec.arch,
            "weights_tag": run.spec.weights_tag,
            "weights_url": run.spec.weights_url,
            "weights_sha256": run.weights_sha256,
            "fingerprint": run.model_fingerprint,
            "published_top1": run.spec.published_top1,
            "backend": run.backend,
        },
        "dataset": {
            "name": run.dataset.name,
            "root": str(run.dataset.root) if run.dataset.root else None,
            "description": run.dataset.description,
            "n_images": n_images,
            "n_labelled": int((labels >= 0).sum()),
            "fingerprint": dataset_fingerprint(
                evaluation.image_ids, evaluation.image_hashes, evaluation.labels.tolist()
            ),
        },
        "suite": {
            "name": run.suite.name,
            "description": run.suite.description,
            "n_noises": len(run.noises),
            "noises": [noise.name for noise, _ in run.suite.resolve(reference)],
        },
        "reference_pipeline": reference.to_dict(),
        "reference": {
            "n_images": int(ref_ok.sum()),
            "n_failed": int((~ref_ok).sum()),
            "n_labelled": int(labelled.sum()),
            "top1": topk_accuracy(ref_top5[labelled], labels[labelled], 1)
            if labelled.any()
            else None,
            "top5": topk_accuracy(ref_top5[labelled], labels[labelled], 5)
            if labelled.any()
            else None,
            "errors": _first_errors(evaluation.errors[reference.key]),
        },
        "categories": category_summary(rows),
        "rows": rows,
        "combined": combined_steps(rows),
        "not_evaluated": [
            {
                "noise": skip.noise.name,
                "category": skip.noise.category_for(reference),
                "changes": dict(skip.noise.changes),
                "status": skip.status,
                "reason": skip.reason,
            }
            for skip in run.skipped
        ],
        "backends": run.backends,
        "calibration": run.calibration,
        "run": {
            "seconds": round(run.seconds, 3),
            "forward_passes": evaluation.forwards,
            "cached_predictions": evaluation.cached,
        },
    }


def combined_steps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The combined stack's rows in order, each with its cumulative delta and its own share."""
    steps = []
    previous_delta, previous_flip = 0.0, 0.0
    for row in rows:
        if row["category"] != "combined":
            continue
        delta, flip = row["delta_top1"], row["flip_rate"]
        steps.append(
            {
                "noise": row["noise"],
                "cumulative_delta_top1": delta,
                "step_delta_top1": None if delta is None else delta - previous_delta,
                "cumulative_flip_rate": flip,
                "step_flip_rate": None if flip is None else flip - previous_flip,
            }
        )
        previous_delta = delta if delta is not None else previous_delta
        previous_flip = flip if flip is not None else previous_flip
    return steps


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


def predictions_frame(run: RunInputs, evaluation: Evaluation) -> Any:
    """One row per image: label, content hash, top-1 class under the reference and each noise."""
    import pandas as pd

    columns: dict[str, Any] = {
        "image_id": evaluation.image_ids,
        "label": evaluation.labels,
        "sha256": evaluation.image_hashes,
        "reference": evaluation.top5[run.spec.reference.key][:, 0],
    }
    for noise, pipeline in run.noises:
        columns[noise.name] = evaluation.top5[pipeline.key][:, 0]
    return pd.DataFrame(columns)


def result_stem(run: RunInputs, created: str) -> str:
    """``<model>-<suite>-<date>``, safe as a file name; the date is the document's (UTC)."""
    model = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.spec.name)
    return f"{model}-{run.suite.name}-{created[:10]}"


def write_result(document: dict[str, Any], predictions: Any, out_dir: Path, stem: str) -> Path:
    """Write ``stem.json``, ``stem.csv`` (one row per noise) and ``stem.predictions.csv.gz``."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    document = {**document, "predictions_file": f"{stem}.predictions.csv.gz"}
    json_path = out_dir / f"{stem}.json"
    atomic_write(
        json_path, lambda p: p.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    )
    flat = pd.json_normalize(document["rows"], max_level=0)
    flat = flat.drop(columns=["errors", "changes"], errors="ignore")  # no rows: no columns
    atomic_write(out_dir / f"{stem}.csv", lambda p: flat.to_csv(p, index=False))
    atomic_write(
        out_dir / f"{stem}.predictions.csv.gz",
        lambda p: predictions.to_csv(p, index=False, compression="gzip"),
    )
    return json_path
