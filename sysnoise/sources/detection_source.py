"""Detectors: torchvision's detection models (weights from its cache or --weights) and MTCNN
(weights shipped in facenet-pytorch), evaluated as the "detection" task.

Reference pipelines: torchvision's detection transform moved into the pipeline (Pillow decode,
torch bilinear without antialiasing as its `F.interpolate`, the model's min_size/max_size as
"shorter-capped", or its fixed size as "squash"; pixels in [0, 1], the model normalises);
MTCNN at shorter side 512 (at most 1024) with Pillow bilinear, 0-255 pixels.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path
from typing import Any

from sysnoise.detection.resize import DetectionResize
from sysnoise.errors import UnknownNameError
from sysnoise.pipeline import Pipeline
from sysnoise.sources.base import LoadedModel, ModelSource
from sysnoise.zoo import ModelSpec, torchvision_weights

UNIT_RANGE = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}  # pixels / 255, as ToTensor
MTCNN_REFERENCE = Pipeline(
    resizer="pil-bilinear",
    resize_size=512,
    crop_size=1024,
    resize_protocol="shorter-capped",
    **UNIT_RANGE,
)


class DetectionSource(ModelSource):
    """A torchvision detection architecture (ARCH or ARCH:WEIGHTS_TAG) or ``mtcnn``."""

    kind = "detection"
    description = "detectors: torchvision detection models (weight cache) and mtcnn (offline)"

    def __init__(self, spec: ModelSpec, detector: Any = None) -> None:
        super().__init__(spec)
        self.detector = detector

    @classmethod
    def claims(cls, name: str) -> bool:
        return name == "mtcnn" or name.partition(":")[0] in _architectures()

    @classmethod
    def known_names(cls) -> list[str]:
        return ["mtcnn", *_architectures()]

    @classmethod
    def open(cls, name: str, reference: Pipeline | None = None) -> DetectionSource:
        if name == "mtcnn":
            return cls(
                _spec("mtcnn", "mtcnn", "facenet-pytorch", "", reference or MTCNN_REFERENCE, 2)
            )

        arch, _, tag = name.partition(":")
        if arch not in _architectures():
            valid = ", ".join(cls.known_names())
            raise UnknownNameError(f"unknown detection model {arch!r}; valid: {valid}")
        weights = torchvision_weights(arch, tag)
        return cls(
            _spec(
                name if tag else arch,
                arch,
                weights.name,
                weights.url,
                reference or reference_for(arch),
                len(weights.meta["categories"]),
            )
        )

    @classmethod
    def from_detector(cls, detector: Any, name: str, reference: Pipeline) -> DetectionSource:
        """A source for an in-memory `TorchvisionDetector` or `MTCNNDetector` (tests, Python)."""
        spec = _spec(name, name, "in-memory", "", reference, 0)
        return cls(dataclasses.replace(spec, source="module"), detector)

    def load(self, weights_file: Path | None = None) -> LoadedModel:
        from sysnoise.detection import net_backends
        from sysnoise.detection.packed import PackedDetector

        if self.detector is not None:
            detector, digest = self.detector, f"in-memory-{id(self.detector):x}"
        elif self.spec.arch == "mtcnn":
            from sysnoise.detection.mtcnn import MTCNNDetector, weights_sha256

            detector, digest = MTCNNDetector(), weights_sha256()
        else:
            from sysnoise.detection.torchvision_detectors import load_detector

            detector, digest = load_detector(self.spec.arch, self.spec.weights_tag, weights_file)
        mtcnn = detector.family == "mtcnn"
        return LoadedModel(
            PackedDetector(detector),
            digest,
            backends=net_backends.MTCNN_BACKENDS if mtcnn else net_backends.TORCHVISION_BACKENDS,
            precisions=net_backends.DETECTOR_PRECISIONS,
            limit_reason=net_backends.MTCNN_LIMIT if mtcnn else net_backends.TORCHVISION_LIMIT,
        )


def reference_for(arch: str) -> Pipeline:
    """The reference pipeline of a torchvision detection architecture (from its transform)."""
    resize = _resize_of(arch)
    if resize.fixed_size is not None:
        return Pipeline(
            resizer="torch-bilinear",
            resize_size=resize.fixed_size[0],
            crop_size=resize.fixed_size[0],
            resize_protocol="squash",
            **UNIT_RANGE,
        )
    return Pipeline(
        resizer="torch-bilinear",
        resize_size=resize.min_size,
        crop_size=resize.max_size,
        resize_protocol="shorter-capped",
        **UNIT_RANGE,
    )


@cache
def _resize_of(arch: str) -> DetectionResize:
    import torchvision.models

    model = torchvision.models.get_model(arch, weights=None, weights_backbone=None)
    return DetectionResize.of(model.transform)


@cache
def _architectures() -> tuple[str, ...]:
    from sysnoise.detection.torchvision_detectors import detection_architectures

    return tuple(detection_architectures())


def _spec(
    name: str, arch: str, tag: str, url: str, reference: Pipeline, num_classes: int
) -> ModelSpec:
    return ModelSpec(
        name=name,
        arch=arch,
        weights_tag=tag,
        weights_url=url,
        reference=reference,
        num_classes=num_classes,
        published_top1=None,
        source="detection",
        task="detection",
    )
