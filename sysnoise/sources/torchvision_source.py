"""torchvision ImageNet classifiers: weights from torchvision's cache or a packaged copy."""

from __future__ import annotations

from pathlib import Path

from sysnoise.pipeline import Pipeline
from sysnoise.sources.base import LoadedModel, ModelSource
from sysnoise.zoo import (
    DEFAULT_WEIGHTS_TAG,
    ModelSpec,
    model_registry,
    reference_pipeline,
    torchvision_weights,
)


class TorchvisionSource(ModelSource):
    """A torchvision architecture, optionally ARCH:WEIGHTS_TAG; reference from its transforms."""

    kind = "torchvision"
    description = "torchvision classifiers (ARCH or ARCH:WEIGHTS_TAG), torchvision's weight cache"

    @classmethod
    def claims(cls, name: str) -> bool:
        return name.partition(":")[0] in model_registry()

    @classmethod
    def known_names(cls) -> list[str]:
        return model_registry().names()

    @classmethod
    def open(cls, name: str, reference: Pipeline | None = None) -> TorchvisionSource:
        import torchvision.models

        arch, _, tag = name.partition(":")
        model_registry().get(arch)
        members = torchvision.models.get_model_weights(arch).__members__
        tag = tag or (DEFAULT_WEIGHTS_TAG if DEFAULT_WEIGHTS_TAG in members else "DEFAULT")
        weights = torchvision_weights(arch, tag)
        spec = ModelSpec(
            name=f"{arch}:{weights.name}" if weights.name != DEFAULT_WEIGHTS_TAG else arch,
            arch=arch,
            weights_tag=weights.name,
            weights_url=weights.url,
            reference=reference or reference_pipeline(weights),
            num_classes=len(weights.meta["categories"]),
            published_top1=weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1"),
            source=cls.kind,
        )
        return cls(spec)

    def load(self, weights_file: Path | None = None) -> LoadedModel:
        from sysnoise.weights import load_torchvision_model

        model, digest = load_torchvision_model(self.spec, weights_file)
        return LoadedModel(model, digest)
