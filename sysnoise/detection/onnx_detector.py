"""A torchvision detector exported whole to ONNX and run in ONNX Runtime.

torchvision documents exporting its detection models with the TorchScript exporter at opset 11,
one image (3 x H x W, pixels in [0, 1]) in and its boxes, labels and scores out, with height and
width dynamic: normalisation, backbone, anchors, box decoding and NMS (ONNX's NonMaxSuppression)
are all in the graph. The pipeline has resized the image already (the model's transform does not
resize again), so the graph sees what the torch model sees.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from sysnoise.fileio import atomic_write

OPSET = 11  # torchvision's documented opset for its detection models
_OUTPUTS = ("boxes", "labels", "scores")


def cached_onnx_detector(
    model: nn.Module, example: torch.Tensor, root: Path, model_id: str
) -> Path:
    """The ONNX export of torchvision detector `model` under `root`/onnx/, exported only when
    missing (keyed by `model_id`, or the weights without one, opset and torch version);
    `example` is one 3 x H x W image."""
    from sysnoise.backends.onnx_export import module_fingerprint

    model_id = model_id or module_fingerprint(model)
    key = {"model": model_id, "opset": OPSET, "torch": torch.__version__, "whole_detector": True}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", model_id)[:40].strip("-.") or "detector"
    path = root / "onnx" / f"{slug}-detector-{digest}.onnx"
    if not path.is_file():
        atomic_write(path, lambda tmp: export_detector(model, example, tmp))
    return path


def export_detector(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Write torchvision detector `model` as ONNX (opset 11, one image, height and width
    dynamic) to `path`."""
    # The exporter reports progress on stdout and warns about its own deprecations.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            ([example],),
            str(path),
            opset_version=OPSET,
            dynamo=False,
            input_names=["image"],
            output_names=list(_OUTPUTS),
            dynamic_axes={"image": [1, 2], **{name: [0] for name in _OUTPUTS}},
        )


class OnnxDetectorModel(nn.Module):
    """An ONNX Runtime session in place of a torchvision detection model: `forward(images)` takes
    a list of 3 x H x W float images and returns torchvision's list of {boxes, labels, scores}."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        found = []
        for image in images:  # the graph takes one image
            feed = {"image": image.detach().float().cpu().contiguous().numpy()}
            arrays = self.session.run(list(_OUTPUTS), feed)
            named = zip(_OUTPUTS, arrays, strict=True)
            found.append({name: torch.from_numpy(array) for name, array in named})
        return found
