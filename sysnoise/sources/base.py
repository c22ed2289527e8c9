"""A model source: how one kind of model is found offline, loaded, and preprocessed.

Every source turns a name (or an object) into a `ModelSpec`, whose `reference` is the pipeline the
weights were validated with, and loads the model from local files only. Sources are entries of
`sysnoise.zoo.MODEL_SOURCES`; `sysnoise.zoo.open_model` picks the one that claims a name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sysnoise.pipeline import Pipeline
from sysnoise.zoo import ModelSpec


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to evaluate, what identifies its weights, and what can be done with it.

    `module` is an eval-mode `torch.nn.Module` (or TorchScript / torch.export module), or a
    `sysnoise.sources.files.ModelFile` for an ONNX file. `patchable` says whether model-side
    patches (ceil_mode, upsample) can be applied; `backends` and `precisions`, when set, are the
    only backends and precisions that can run it. `limit_reason` says why, for the "not
    applicable" rows.
    """

    module: Any
    weights_sha256: str
    patchable: bool = True
    backends: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    limit_reason: str = ""
    num_classes: int | None = None  # the checkpoint's, where it decides (None: the spec's)

    def not_applicable(self, pipeline: Pipeline) -> str | None:
        """Why `pipeline`'s model side cannot apply to this model, or None."""
        if not self.patchable and (pipeline.ceil_mode, pipeline.upsample) != ("model", "model"):
            return f"model patches (ceil_mode, upsample) need a torch module: {self.limit_reason}"
        if self.backends is not None and pipeline.backend not in self.backends:
            return f"backend {pipeline.backend!r} cannot run it: {self.limit_reason}"
        if self.precisions is not None and pipeline.precision not in self.precisions:
            return f"precision {pipeline.precision!r} cannot apply: {self.limit_reason}"
        return None


class ModelSource(ABC):
    """One model of one kind; subclasses say which names they claim and how they load."""

    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @classmethod
    def claims(cls, name: str) -> bool:
        """Whether a bare name (no ``kind:`` prefix) belongs to this source."""
        return False

    @classmethod
    def known_names(cls) -> list[str]:
        """Names this source can open, for `sysnoise list models` and did-you-mean hints."""
        return []

    @classmethod
    @abstractmethod
    def open(cls, name: str, reference: Pipeline | None = None) -> ModelSource:
        """The source for `name`; `reference` overrides the pipeline the source would read."""

    @abstractmethod
    def load(self, weights_file: Path | None = None) -> LoadedModel:
        """The model with its weights, from local files only (never a download)."""

