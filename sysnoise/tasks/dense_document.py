"""The blocks every dense task's results document shares with the others: tool, environment,
model, dataset, suite, reference pipeline, what was left out and the run's facts. Each task adds
its reference figures, rows and categories (`sysnoise.tasks.segmentation_report`,
`sysnoise.detection.scoring`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sysnoise.document import SCHEMA_VERSION, utc_now
from sysnoise.environment import environment, tool_info
from sysnoise.hashing import dataset_fingerprint

if TYPE_CHECKING:
    from sysnoise.engine import Evaluation
    from sysnoise.results import RunInputs


def shared_blocks(
    run: RunInputs,
    evaluation: Evaluation,
    task: str,
    labels: list[int],
    n_labelled: int,
    model_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The shared fields of a `task` document; `labels` are one per image, as the dataset
    fingerprint takes them."""
    reference = run.spec.reference
    return {
        "schema_version": SCHEMA_VERSION,
        "task": task,
        "tool": tool_info(),
        "created": utc_now(),
        "environment": environment(),
        "model": {
            "name": run.spec.name,
            "source": run.spec.source,
            "arch": run.spec.arch,
            "weights_tag": run.spec.weights_tag,
            "weights_url": run.spec.weights_url,
            "weights_sha256": run.weights_sha256,
            "fingerprint": run.model_fingerprint,
            "published_top1": None,
            **(model_extra or {}),
            "backend": run.backend,
        },
        "dataset": {
            "name": run.dataset.name,
            "root": str(run.dataset.root) if run.dataset.root else None,
            "description": run.dataset.description,
            "n_images": len(evaluation.image_ids),
            "n_labelled": n_labelled,
            "fingerprint": dataset_fingerprint(
                evaluation.image_ids, evaluation.image_hashes, labels
            ),
            "sample": run.dataset.sample,
        },
        "suite": {
            "name": run.suite.name,
            "description": run.suite.description,
            "n_noises": len(run.noises),
            "noises": [noise.name for noise, _ in run.suite.resolve(reference)],
        },
        "reference_pipeline": reference.to_dict(),
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
