"""MTCNN (facenet-pytorch), a real face detector with offline weights: an image pyramid, three
cascaded networks (P-, R-, O-Net) and NMS between the stages.

facenet-pytorch pins an old torch, so it is installed with ``pip install --no-deps
facenet-pytorch`` (make setup does this); its package `__init__` imports `requests` for its face
recogniser's downloads, so only its MTCNN modules are loaded here, under a private package name,
without that `__init__`. The P-, R- and O-Net weights ship inside the package.

The pyramid and the crops of the later stages are resampled with `F.interpolate(mode="area")` on
float images; `pyramid_resizer` swaps that for a registered resizer (`sysnoise list resizers`),
so a resize noise reaches MTCNN's own resampling.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from sysnoise.detection.boxes import Detections
from sysnoise.detection.resize import scale_boxes
from sysnoise.errors import Unavailable

FACENET_INSTALL = "pip install --no-deps facenet-pytorch==2.6.0"
FACE_LABEL = 1
_ALIAS = "_sysnoise_facenet_pytorch"  # facenet_pytorch's folder without its __init__
_WEIGHTS = ("pnet.pt", "rnet.pt", "onet.pt")


def facenet_folder() -> Path:
    """The installed facenet_pytorch package folder (found without importing it)."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable(f"MTCNN needs facenet-pytorch: `{FACENET_INSTALL}`")
    return Path(next(iter(spec.submodule_search_locations)))


def facenet_modules() -> tuple[types.ModuleType, types.ModuleType]:
    """facenet-pytorch's `models.mtcnn` and `models.utils.detect_face` modules."""
    if _ALIAS not in sys.modules:
        package = types.ModuleType(_ALIAS)
        package.__path__ = [str(facenet_folder())]
        sys.modules[_ALIAS] = package
    return (
        importlib.import_module(f"{_ALIAS}.models.mtcnn"),
        importlib.import_module(f"{_ALIAS}.models.utils.detect_face"),
    )


def weights_sha256() -> str:
    """One sha256 over the P-, R- and O-Net weight files, in that order."""
    import hashlib

    digest = hashlib.sha256()
    for name in _WEIGHTS:
        digest.update((facenet_folder() / "data" / name).read_bytes())
    return digest.hexdigest()


class MTCNNDetector(nn.Module):
    """MTCNN with facenet-pytorch's defaults: `forward(images, original_sizes)` takes uint8
    C x H x W tensors and returns one `Detections` per image (label 1: face), in the original
    image's pixels.

    `postprocess` holds the post-processing noise settings (NMS implementation, NMS order, box
    offset, mask paste; "model" for MTCNN's own) and `pyramid_resizer` a resizer name (None:
    MTCNN's area interpolation), both applied during `forward`.
    """

    family = "mtcnn"

    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
    ) -> None:
        super().__init__()
        mtcnn, _ = facenet_modules()
        self.pnet, self.rnet, self.onet = mtcnn.PNet(), mtcnn.RNet(), mtcnn.ONet()
        for net in (self.rnet, self.onet):
            _fix_pooling(net)
        self.min_face_size = min_face_size
        self.thresholds = list(thresholds)
        self.factor = factor
        self.postprocess: tuple[str, ...] = ("model", "model", "model", "model")
        self.pyramid_resizer: str | None = None
        # The P-, R- and O-Net as another backend runs them (sysnoise.detection.net_backends).
        self.nets: tuple[Any, Any, Any] | None = None
        self.eval()

    def forward(
        self, images: list[torch.Tensor], original_sizes: list[tuple[int, int]] | None = None
    ) -> list[Detections]:
        from sysnoise.noises.postprocess import mtcnn_postprocessing

        _, detect_face = facenet_modules()
        sizes = original_sizes or [tuple(image.shape[-2:]) for image in images]
        device = next(self.parameters()).device
        nets = self.nets or (self.pnet, self.rnet, self.onet)
        found = []
        with contextlib.ExitStack() as stack:
            stack.enter_context(mtcnn_postprocessing(detect_face, *self.postprocess))
            if self.pyramid_resizer is not None:
                stack.enter_context(_pyramid_resampled(detect_face, self.pyramid_resizer))
            for image, size in zip(images, sizes, strict=True):
                # facenet-pytorch batches only equal-sized images: one image per call.
                hwc = image.permute(1, 2, 0).to(device)
                with torch.no_grad():
                    boxes, _ = detect_face.detect_face(
                        hwc, self.min_face_size, *nets,
                        self.thresholds, self.factor, device,
                    )  # fmt: skip
                rows = np.asarray(boxes[0], dtype=np.float32).reshape(-1, 5)
                found.append(
                    Detections(
                        scale_boxes(rows[:, :4], tuple(image.shape[-2:]), tuple(size)),
                        rows[:, 4],
                        np.full(len(rows), FACE_LABEL),
                    )
                )
        return found


class FixedMaxPool(nn.Module):
    """A max-pool whose ceil_mode is part of the architecture: R-Net and O-Net end in dense
    layers sized for their trained pooling of fixed 24- and 48-pixel crops, so no runtime could
    pool them otherwise (a ceil_mode noise reaches P-Net, which is fully convolutional)."""

    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.kernel_size, self.stride = pool.kernel_size, pool.stride
        self.padding, self.ceil_mode = pool.padding, pool.ceil_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.max_pool2d(
            x, self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode
        )


def _fix_pooling(net: nn.Module) -> None:
    for name, module in list(net.named_children()):
        if isinstance(module, nn.MaxPool2d):
            setattr(net, name, FixedMaxPool(module))


@contextlib.contextmanager
def _pyramid_resampled(detect_face: types.ModuleType, resizer: str) -> Iterator[None]:
    """Within the block, MTCNN resamples its pyramid and crops with `resizer` on uint8 pixels."""
    from sysnoise.noises.resizers import RESIZERS

    kernel = RESIZERS.get(resizer).resize
    original = detect_face.imresample
    detect_face.imresample = _imresample_with(kernel)
    try:
        yield
    finally:
        detect_face.imresample = original


def _imresample_with(
    kernel: Callable[[np.ndarray, int, int], np.ndarray],
) -> Callable[[torch.Tensor, Any], torch.Tensor]:
    def imresample(images: torch.Tensor, size: Any) -> torch.Tensor:
        out_h, out_w = int(size[0]), int(size[1])
        resized = []
        for image in images:  # float C x H x W holding uint8 values (a decoded image or a crop)
            pixels = image.permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
            array = np.array(kernel(pixels, out_h, out_w))  # writable, contiguous
            resized.append(torch.from_numpy(array).permute(2, 0, 1))
        return torch.stack(resized).to(device=images.device, dtype=images.dtype)

    return imresample
