"""The one configuration object of a benchmark run, built at the edge (CLI) and passed whole."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sysnoise.pipeline import Pipeline


def default_cache_dir() -> Path:
    """``$SYSNOISE_CACHE``, else ``$XDG_CACHE_HOME/sysnoise``, else ``~/.cache/sysnoise``."""
    if "SYSNOISE_CACHE" in os.environ:
        return Path(os.environ["SYSNOISE_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "sysnoise"


@dataclass(frozen=True)
class BenchConfig:
    """What `sysnoise bench` runs: model, data, suite and how."""

    model: str = "mobilenet_v2"  # a zoo name, KIND:NAME or a model file (see sysnoise.zoo)
    reference: str | Pipeline | None = None  # for models without one (sysnoise.references)
    data: Path | None = None  # None: the embedded sample set
    labels: Path | None = None
    annotations: Path | None = None  # COCO instances JSON: detection mAP against its boxes
    suite: str = "imagenet-s"  # a built-in suite or a suite file (.toml)
    noises: str | None = None  # a one-off list of noise names instead of the suite
    limit: int | None = None
    seed: int = 0  # of the class-stratified --limit sample
    batch_size: int = 32
    workers: int = 0
    weights: Path | None = None
    device: str = "auto"
    out_dir: Path = Path("results")
    cache_dir: Path = field(default_factory=default_cache_dir)
    progress: bool = True
    calibration_size: int | None = None  # INT8 calibration images; None: see calibration.py
    calibration_data: Path | None = None  # a folder of calibration images; None: held out
    calibration_method: str = "minmax"
    task: str | None = None  # None: the model source's (sysnoise.tasks); else it must agree
    label_map: str = "identity"  # segmentation masks: "identity" (VOC) or "cityscapes" label ids
