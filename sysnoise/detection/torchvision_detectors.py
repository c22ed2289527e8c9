"""torchvision detection models (Faster R-CNN, RetinaNet, FCOS, SSD, SSDlite, Mask/Keypoint
R-CNN boxes), fed images that the pipeline has already resized.

Weights come from torchvision's cache (``$TORCH_HOME/hub/checkpoints``) or a file the user
names; nothing downloads. `random_detector` builds a seeded random-initialised model for tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from sysnoise.detection.boxes import Detections
from sysnoise.detection.masks import encode_masks
from sysnoise.detection.resize import DetectionResize, scale_boxes
from sysnoise.errors import SysnoiseError, UnknownNameError


def detection_architectures() -> list[str]:
    """torchvision's detection model builders by name."""
    import torchvision.models

    return torchvision.models.list_models(module=torchvision.models.detection)


def _check_arch(arch: str) -> None:
    known = detection_architectures()
    if arch not in known:
        raise UnknownNameError(f"unknown detection model {arch!r}; valid: {', '.join(known)}")


def random_detector(arch: str, seed: int = 0, **kwargs: Any) -> TorchvisionDetector:
    """A random-initialised `arch` (no backbone weights either) with `seed`; `kwargs` go to the
    builder (e.g. num_classes=3, min_size=128, max_size=160)."""
    import torchvision.models

    _check_arch(arch)
    torch.manual_seed(seed)
    model = torchvision.models.get_model(arch, weights=None, weights_backbone=None, **kwargs)
    return TorchvisionDetector(model.eval())


def load_detector(
    arch: str, weights_tag: str = "DEFAULT", weights_file: Path | None = None
) -> tuple[TorchvisionDetector, str]:
    """`arch` with its weights from torchvision's cache or `weights_file`, and their sha256."""
    import torchvision.models

    from sysnoise.hashing import sha256_file
    from sysnoise.pipeline import Pipeline
    from sysnoise.weights import locate_weights, read_checkpoint
    from sysnoise.zoo import ModelSpec, torchvision_weights

    _check_arch(arch)
    weights = torchvision_weights(arch, weights_tag)
    spec = ModelSpec(
        name=arch,
        arch=arch,
        weights_tag=weights.name,
        weights_url=weights.url,
        reference=Pipeline(),
        num_classes=len(weights.meta["categories"]),
        published_top1=None,
    )
    path = locate_weights(spec, weights_file)
    state_dict = read_checkpoint(path)
    model = torchvision.models.get_model(
        arch, weights=None, weights_backbone=None, num_classes=spec.num_classes
    )
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SysnoiseError(
            f"{path} does not fit {arch}: {first}; pass weights of that model"
        ) from None
    return TorchvisionDetector(model.eval()), sha256_file(path)


def _keep_size(image: Any, target: Any = None) -> tuple[Any, Any]:
    return image, target


class TorchvisionDetector(nn.Module):
    """A torchvision detection model whose transform normalises and batches but does not resize:
    `forward(images, original_sizes)` takes uint8 C x H x W tensors resized by the pipeline with
    `resize` and returns one `Detections` per image, in the original image's pixels.

    `postprocess` holds the post-processing noise settings (NMS implementation, NMS order, box
    offset, mask paste; "model" for the model's own), applied during `forward` by
    `sysnoise.noises.postprocess`. A model with a mask head (Mask R-CNN) also returns each
    detection's mask as a COCO RLE at the input's size (`has_masks`).
    """

    family = "torchvision"

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.resize = DetectionResize.of(model.transform)
        model.transform.resize = _keep_size  # the pipeline resized the images already
        self.postprocess: tuple[str, ...] = ("model", "model", "model", "model")

    @property
    def has_masks(self) -> bool:
        """Whether the model predicts instance masks."""
        heads = getattr(self.model, "roi_heads", None)
        return heads is not None and heads.has_mask()

    def forward(
        self, images: list[Any], original_sizes: list[tuple[int, int]] | None = None
    ) -> list[Detections]:
        from sysnoise.noises.postprocess import torchvision_postprocessing

        floats = [_unit_float(image) for image in images]
        with torchvision_postprocessing(self.model, *self.postprocess):
            outputs = self.model(floats)
        sizes = original_sizes or [tuple(image.shape[-2:]) for image in images]
        found = []
        for image, size, output in zip(images, sizes, outputs, strict=True):
            boxes = output["boxes"].detach().float().cpu().numpy()
            masks = None
            if "masks" in output:
                masks = encode_masks(output["masks"].detach().float().cpu().numpy())
            found.append(
                Detections(
                    scale_boxes(boxes, tuple(image.shape[-2:]), tuple(size)),
                    output["scores"].detach().float().cpu().numpy(),
                    output["labels"].detach().cpu().numpy().astype(np.int64),
                    masks,
                )
            )
        return found


def _unit_float(image: torch.Tensor) -> torch.Tensor:
    """A uint8 image as floats in [0, 1] (as `ToTensor`); float images pass unchanged."""
    return image.float().div(255.0) if image.dtype == torch.uint8 else image
