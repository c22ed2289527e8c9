"""torchvision semantic segmentation models: FCN, DeepLabv3 and LR-ASPP.

Weights come from torchvision's cache (COCO_WITH_VOC_LABELS_V1: 21 VOC classes) or a file given
with ``--weights``; a file's class count is read from its classifier, so a model trained on
other classes (or a seeded random one in the tests) runs as it is. The reference pipeline is
torchvision's `SemanticSegmentation` preset: shorter side to 520 with Pillow's bilinear resize
(antialiased), ImageNet mean and std, no crop. The model's output is its ``out`` head, already
upsampled to the input size by the model's own final bilinear interpolation, which the
``upsample`` noises swap along with the heads' own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sysnoise.errors import SysnoiseError, UnknownNameError
from sysnoise.pipeline import Pipeline
from sysnoise.sources.base import LoadedModel, ModelSource
from sysnoise.zoo import ModelSpec, torchvision_weights

# The last layer of each architecture's main head: its weight's first axis is the class count.
CLASSIFIER_KEYS = {
    "fcn": "classifier.4.weight",
    "deeplabv3": "classifier.4.weight",
    "lraspp": "classifier.high_classifier.weight",
}


def segmentation_archs() -> list[str]:
    """torchvision's segmentation architectures."""
    import torchvision.models

    return list(torchvision.models.list_models(module=torchvision.models.segmentation))


def segmentation_reference(weights: Any) -> Pipeline:
    """The Pipeline equivalent to a `SemanticSegmentation` preset on a Pillow image."""
    transforms = weights.transforms()
    return Pipeline(
        decoder="pil",
        resizer=f"pil-{transforms.interpolation.value}",
        resize_size=int(transforms.resize_size[0]),
        resize_protocol="shorter",
        crop_size=0,
        mean=tuple(transforms.mean),
        std=tuple(transforms.std),
    )


class SegmentationOutput(torch.nn.Module):
    """A segmentation model as an nn.Module that returns its ``out`` tensor (N, C, H, W)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


class TorchvisionSegmentationSource(ModelSource):
    """A torchvision segmentation architecture, optionally ARCH:WEIGHTS_TAG."""

    kind = "torchvision-segmentation"
    description = "torchvision FCN / DeepLabv3 / LR-ASPP (ARCH[:WEIGHTS_TAG]), VOC labels"

    @classmethod
    def claims(cls, name: str) -> bool:
        return name.partition(":")[0] in segmentation_archs()

    @classmethod
    def known_names(cls) -> list[str]:
        return segmentation_archs()

    @classmethod
    def open(cls, name: str, reference: Pipeline | None = None) -> TorchvisionSegmentationSource:

        arch, _, tag = name.partition(":")
        if arch not in segmentation_archs():
            valid = ", ".join(segmentation_archs())
            raise UnknownNameError(f"unknown segmentation model {arch!r}; valid: {valid}")
        weights = torchvision_weights(arch, tag)
        spec = ModelSpec(
            name=arch,
            arch=arch,
            weights_tag=weights.name,
            weights_url=weights.url,
            reference=reference or segmentation_reference(weights),
            num_classes=len(weights.meta["categories"]),
            published_top1=None,  # a top-1 accuracy; its published mIoU is in `weights.meta`
            source=cls.kind,
            task="segmentation",
        )
        return cls(spec)

    def load(self, weights_file: Path | None = None) -> LoadedModel:
        """The model with its weights, and the class count of its checkpoint."""
        import torchvision.models

        from sysnoise.weights import (
            _check_hash_prefix,
            locate_weights,
            read_checkpoint,
            sha256_file,
        )

        path = locate_weights(self.spec, weights_file)
        digest = sha256_file(path)
        if weights_file is None:
            _check_hash_prefix(path, digest)
        state_dict = read_checkpoint(path)
        family = self.spec.arch.split("_")[0]
        classifier = state_dict.get(CLASSIFIER_KEYS[family])
        if classifier is None:
            raise SysnoiseError(
                f"{path} has no {CLASSIFIER_KEYS[family]}: it is not a {self.spec.arch} checkpoint"
            )
        classes = int(classifier.shape[0])
        aux = any(key.startswith("aux_classifier.") for key in state_dict)
        options = {"aux_loss": True} if aux else {}
        model = torchvision.models.get_model(
            self.spec.arch, weights=None, weights_backbone=None, num_classes=classes, **options
        )
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise SysnoiseError(f"{path} does not fit {self.spec.arch}: {first}") from None
        return LoadedModel(SegmentationOutput(model).eval(), digest, num_classes=classes)
