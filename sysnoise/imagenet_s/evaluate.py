"""`bench --imagenet-s DIR`: a model evaluated on stored variants, with the bench's numbers.

The stored uint8 crops take the place of decoding and resizing; everything after is what the
on-the-fly engine does, in the same order: the same normalisation, identical inputs share one
forward pass (by content hash), batches are formed and run the same way, top-5 is taken the same
way. So for the same images and variants the predictions, and every metric, are equal exactly.
Predictions are cached per model, variant file and image, so an interrupted run resumes.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.backends.base import Backend
from sysnoise.config import BenchConfig
from sysnoise.datasets import Dataset, ImageRecord
from sysnoise.engine import Evaluation, Forwarder, SingleBackend
from sysnoise.errors import SysnoiseError
from sysnoise.imagenet_s.dataset import StoredSet
from sysnoise.imagenet_s.plan import SUITE_NAME, StoredPlan, plan_stored
from sysnoise.imagenet_s.summary import robustart_summary
from sysnoise.preprocess import array_hash
from sysnoise.store import TOP_K, Prediction, PredictionStore

__all__ = ["evaluate_stored", "plan_stored", "run_stored_bench"]


class _StoredEvaluation:
    """One pass over the stored images: cached predictions, failures, and inputs to forward."""

    def __init__(
        self,
        stored: StoredSet,
        plan: StoredPlan,
        backend: Backend,
        store: PredictionStore,
        batch_size: int,
        n: int,
    ) -> None:
        self.plan = plan
        self.store = store
        self.forwarder = Forwarder(SingleBackend(backend), plan.reference, batch_size)
        self.batch_size = batch_size
        self.pipelines = plan.pipelines
        reference_sha = plan.variants[plan.reference.key].sha256[:16]
        # keyed by the stored files too: a regenerated variant must not reuse old predictions
        self.store_keys = {
            p.key: f"{p.key}@{plan.variants[p.key].sha256[:16]}/{reference_sha}"
            for p in self.pipelines
        }
        self.arrays = {p.key: stored.array(plan.variants[p.key].name) for p in self.pipelines}
        self.failures = {p.key: plan.variants[p.key].failures for p in self.pipelines}
        self.result = Evaluation(
            image_ids=stored.image_ids[:n],
            labels=stored.labels[:n].copy(),
            image_hashes=list(stored.source_sha256[:n]),
        )
        for p in self.pipelines:
            self.result.top5[p.key] = np.full((n, TOP_K), -1, dtype=np.int64)
            self.result.errors[p.key] = {}
            self.result.max_abs_diff[p.key] = np.full(n, -1, dtype=np.int64)
            self.result.mse[p.key] = np.full(n, np.nan)
        self.waiting: list[tuple[int, str, str, int | None, float | None]] = []

    def flush(self, final: bool) -> None:
        """Forward what is queued (full batches unless `final`) and store each batch at once."""
        for outputs in self.forwarder.run(final):
            unresolved = []
            for index, key, input_hash, max_abs, mse in self.waiting:
                if (None, input_hash) not in outputs:  # SingleBackend's one variant: None
                    unresolved.append((index, key, input_hash, max_abs, mse))
                    continue
                top5, scores = outputs[None, input_hash]
                prediction = Prediction(top5, scores, input_hash, max_abs, mse)
                self.store.put(self.result.image_hashes[index], self.store_keys[key], prediction)
                self.result.record(index, key, prediction)
            self.waiting[:] = unresolved
            self.store.commit()

    def image(self, index: int) -> None:
        """Take image `index`'s cached outcomes, record its failures, queue its inputs."""
        image_hash = self.result.image_hashes[index]
        image_id = self.result.image_ids[index]
        if image_hash is None:  # unreadable when the set was generated: failed everywhere
            for p in self.pipelines:
                self.result.errors[p.key][image_id] = self.failures[p.key].get(index, "unreadable")
            return
        cached = self.store.lookup(image_hash, list(self.store_keys.values()))
        missing = []
        for p in self.pipelines:
            if self.store_keys[p.key] in cached:
                self.result.record(index, p.key, cached[self.store_keys[p.key]])
                self.result.cached += 1
            else:
                missing.append(p)
        reference = self.plan.reference.key
        reference_crop = None
        if index not in self.failures[reference]:
            reference_crop = np.asarray(self.arrays[reference][index])
        inputs = []
        for p in missing:
            message = self.failures[p.key].get(index)
            if message is not None:
                failure = Prediction(None, None, None, None, None, message)
                self.store.put(image_hash, self.store_keys[p.key], failure)
                self.result.errors[p.key][image_id] = message
            else:
                inputs.append((p, np.array(self.arrays[p.key][index])))
        for p, crop in inputs:
            max_abs, mse = None, None
            if reference_crop is not None and reference_crop.shape == crop.shape:
                diff = crop.astype(np.int16) - reference_crop.astype(np.int16)
                max_abs, mse = int(np.abs(diff).max()), float(np.mean(diff.astype(np.float64) ** 2))
            input_hash = array_hash(crop) + f"/{p.mean}/{p.std}"
            self.forwarder.add(None, input_hash, crop)
            self.waiting.append((index, p.key, input_hash, max_abs, mse))
        if self.forwarder.largest() >= self.batch_size:
            self.flush(final=False)


def evaluate_stored(
    stored: StoredSet,
    plan: StoredPlan,
    backend: Backend,
    store: PredictionStore,
    batch_size: int = 32,
    progress: bool = True,
    limit: int | None = None,
) -> Evaluation:
    """Predictions of every planned pipeline on the stored crops, as `engine.evaluate` gives."""
    from tqdm import tqdm

    n = len(stored) if limit is None else min(limit, len(stored))
    run = _StoredEvaluation(stored, plan, backend, store, batch_size, n)
    bar = tqdm(total=n, unit="img", desc="evaluating", disable=not progress)
    try:
        for index in range(n):
            run.image(index)
            bar.update(1)
        run.flush(final=True)
    finally:
        store.commit()
        bar.close()
        run.result.forwards = run.forwarder.forwards
    return run.result


def stored_dataset(stored: StoredSet, limit: int | None) -> Dataset:
    """The set's images as a Dataset (ids and labels; paths point into the set)."""
    description = stored.manifest["dataset"]["description"]
    records = tuple(
        ImageRecord(image_id, stored.root / image_id, int(label))
        for image_id, label in zip(stored.image_ids, stored.labels.tolist(), strict=True)
    )
    dataset = Dataset(
        name=stored.manifest["dataset"]["name"],
        root=stored.root,
        records=records,
        description=f"ImageNet-S set at {stored.root}, generated from: {description}",
    )
    return dataset.limit(limit)


def set_summary(stored: StoredSet) -> dict[str, Any]:
    """Where the pixels came from: the set, when and with which library versions it was made."""
    manifest = stored.manifest
    return {
        "root": str(stored.root),
        "created": manifest["created"],
        "tool": manifest["tool"],
        "library_versions": manifest["library_versions"],
        "side_environments": manifest.get("side_environments", {}),
        "variants": {e["name"]: e["sha256"] for e in manifest["variants"]},
    }


def run_stored_bench(config: BenchConfig, root: Path, variants: list[str] | None = None) -> Any:
    """`sysnoise bench --imagenet-s DIR`: evaluate, write and return the result (a BenchOutcome).

    `variants` picks the stored variants to evaluate as noises (default: all of them).
    """
    from sysnoise.backends import BACKENDS
    from sysnoise.bench import BenchOutcome, model_fingerprint, reference_backend_label
    from sysnoise.results import RunInputs, build_result, predictions_frame, write_result
    from sysnoise.weights import load_model
    from sysnoise.zoo import resolve_model

    started = time.perf_counter()
    if config.data is not None or config.labels is not None:
        raise SysnoiseError("--imagenet-s evaluates the stored images: leave out --data, --labels")
    if config.suite != BenchConfig().suite:
        raise SysnoiseError("--imagenet-s evaluates the stored variants: leave out --suite")
    stored = StoredSet(root)
    spec = resolve_model(config.model)
    plan = plan_stored(stored, spec.reference, variants)
    spec = dataclasses.replace(spec, reference=plan.reference)  # the set's resize protocol
    model, weights_sha256 = load_model(spec, config.weights)
    backend = BACKENDS.get("torch")(device=config.device)
    backend_label = reference_backend_label(config.device)  # stored sets: the reference backend
    fingerprint = model_fingerprint(spec.arch, weights_sha256, backend_label)
    store = PredictionStore(config.cache_dir / "predictions.sqlite", fingerprint)
    try:
        backend.prepare(model, None)
        evaluation = evaluate_stored(
            stored, plan, backend, store, config.batch_size, config.progress, config.limit
        )
    finally:
        backend.release()
        store.close()
    run = RunInputs(
        spec=spec,
        weights_sha256=weights_sha256,
        model_fingerprint=fingerprint,
        dataset=stored_dataset(stored, config.limit),
        suite=plan.suite,
        noises=plan.noises,
        backend=backend_label,
        seconds=time.perf_counter() - started,
    )
    document = build_result(run, evaluation)
    document["imagenet_s"] = {**set_summary(stored), "robustart": robustart_summary(document)}
    stem = f"{_safe(spec.name)}-{SUITE_NAME}-{document['created'][:10]}"
    json_path = write_result(document, predictions_frame(run, evaluation), config.out_dir, stem)
    return BenchOutcome(document, json_path, evaluation)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
