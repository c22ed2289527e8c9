"""`bench --imagenet-s DIR`: a model evaluated on stored variants through the bench's one path.

The stored crops are the engine's image source (`sysnoise.imagenet_s.source.StoredSource`);
everything else (model variants, calibration, workers, cache, results) is `sysnoise bench`'s, so
for the same images and variants the predictions, and every metric, equal an on-the-fly run's.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from sysnoise.config import BenchConfig
from sysnoise.errors import SysnoiseError
from sysnoise.imagenet_s.dataset import StoredSet
from sysnoise.imagenet_s.plan import plan_stored
from sysnoise.imagenet_s.source import StoredSource, stored_dataset

__all__ = ["run_stored_bench", "set_summary"]


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


def _stored_pixels(pipeline: Any) -> None:
    """Stored pixels need no decoder or resizer on this machine."""
    return None


def run_stored_bench(config: BenchConfig, root: Path, variants: list[str] | None = None) -> Any:
    """`sysnoise bench --imagenet-s DIR`: evaluate, write and return the result (a BenchOutcome).

    The noises are the stored variants (`variants`, default all of them); a `--suite` other than
    the default evaluates that suite's noises on the stored pixels instead.
    """
    from sysnoise.bench import RunImages, evaluate_model, load_source_model, open_source
    from sysnoise.noises.suites import SUITES
    from sysnoise.results import SkippedNoise

    started = time.perf_counter()
    if config.data is not None or config.labels is not None:
        raise SysnoiseError("--imagenet-s evaluates the stored images: leave out --data, --labels")
    suite = None if config.suite == BenchConfig().suite else SUITES.get(config.suite)
    stored = StoredSet(root)
    source = open_source(config)  # a zoo name, or a model file with config.reference
    spec = source.spec
    plan = plan_stored(stored, spec.reference, variants, suite)
    spec = dataclasses.replace(spec, reference=plan.reference)  # the set's resize protocol
    loaded = load_source_model(source, config.weights)
    dataset = stored_dataset(stored).limit(config.limit, config.seed)
    images = RunImages(
        dataset=dataset,
        suite=plan.suite,
        noises=plan.noises,
        skipped=[SkippedNoise(noise, "unavailable", why) for noise, why in plan.not_stored],
        source=lambda scored: StoredSource(stored, plan, scored),
        reference_crop=StoredSource(stored, plan, dataset).reference_crop,
        extra=lambda document: {"imagenet_s": set_summary(stored)},
        pixels_unavailable=_stored_pixels,
    )
    return evaluate_model(
        config, spec, loaded.module, loaded.weights_sha256, images, started, limits=loaded
    )
