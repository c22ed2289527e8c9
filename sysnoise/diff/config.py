"""The one configuration object of `sysnoise diff`, built at the edge (CLI) and passed whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sysnoise.config import default_cache_dir
from sysnoise.errors import SysnoiseError


@dataclass(frozen=True)
class DiffConfig:
    """Which model and noise to explain, on which images, and how strictly."""

    model: str = "mobilenet_v2"
    noise: str = "precision=torch-bf16"
    suite: str | None = None  # None: the sysnoise suite first, then every other suite
    data: Path | None = None  # None: the embedded sample set
    images: int = 4
    tolerance: float = 1e-3  # relative error (max abs diff / max abs of the reference)
    device: str = "cpu"
    weights: Path | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    calibration_size: int | None = None  # INT8 only; None: as `sysnoise bench` chooses
    calibration_method: str = "minmax"

    def __post_init__(self) -> None:
        if self.images < 1:
            raise SysnoiseError(f"diff needs at least one image, got {self.images}")
        if not self.tolerance >= 0:
            raise SysnoiseError(f"tolerance must be 0 or more, got {self.tolerance}")
