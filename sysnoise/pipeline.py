"""The Pipeline: exactly how an image file becomes a model input and a prediction."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from sysnoise.errors import SysnoiseError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_PROTOCOLS = ("shorter", "squash")
EXIF_MODES = ("ignore", "apply")
# Fields added after the first release: left out of `key` while at their default, so predictions
# cached before they existed stay valid.
_LATER_FIELDS = {
    "colour": "rgb",
    "exif": "ignore",
    "ceil_mode": "model",
    "upsample": "model",
    "backend": "torch",
    "precision": "fp32",
}


@dataclass(frozen=True)
class Pipeline:
    """How a file becomes a prediction: the pixel side, then the model side.

    Pixel side: decoder, `exif` orientation ("ignore": the pixels as stored, as Pillow and
    torchvision's ImageFolder give them; "apply": rotated/flipped as the file's EXIF orientation
    tag says, as OpenCV's default `IMREAD_COLOR` does), `colour` path (see
    `sysnoise.noises.colour`), resize and crop, normalisation. `resize_protocol` is "shorter"
    (shorter side to `resize_size`, aspect kept, long side truncated as torchvision does) or
    "squash" (both sides to `resize_size`). The centre crop follows torchvision's rounding.

    Model side: `ceil_mode` ("model" or "flipped": every max-pool's ceil_mode inverted),
    `upsample` ("model" or the op every upsampling is swapped to, see
    `sysnoise.noises.model_patches`), the inference `backend` and its numeric `precision`.
    """

    decoder: str = "pil"
    resizer: str = "pil-bilinear"
    resize_size: int = 256
    resize_protocol: str = "shorter"
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    colour: str = "rgb"
    exif: str = "ignore"
    ceil_mode: str = "model"
    upsample: str = "model"
    backend: str = "torch"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.resize_protocol not in RESIZE_PROTOCOLS:
            raise SysnoiseError(
                f"unknown resize protocol {self.resize_protocol!r}; "
                f"valid: {', '.join(RESIZE_PROTOCOLS)}"
            )
        if self.exif not in EXIF_MODES:
            raise SysnoiseError(f"unknown exif mode {self.exif!r}; valid: {', '.join(EXIF_MODES)}")
        if self.crop_size > self.resize_size:
            raise SysnoiseError(f"crop {self.crop_size} is larger than resize {self.resize_size}")

    def with_changes(self, **changes: Any) -> Pipeline:
        """A copy with `changes` applied; unknown field names are an error."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise SysnoiseError(f"unknown pipeline field(s) {unknown}; valid: {sorted(fields)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @property
    def pixel_fields(self) -> tuple:
        """The fields that decide the uint8 model input (everything before normalisation)."""
        return (
            self.decoder,
            self.resizer,
            self.resize_size,
            self.resize_protocol,
            self.crop_size,
            self.colour,
            self.exif,
        )

    @property
    def model_fields(self) -> tuple[str, str, str, str]:
        """The fields that decide how the model runs: (ceil_mode, upsample, backend, precision)."""
        return (self.ceil_mode, self.upsample, self.backend, self.precision)

    @property
    def key(self) -> str:
        """Stable short hash of every field, used as a cache key."""
        fields = {
            name: value
            for name, value in self.to_dict().items()
            if _LATER_FIELDS.get(name, object()) != value
        }
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_side_label(ceil_mode: str, upsample: str, backend: str, precision: str) -> str:
    """How a model runs, e.g. 'onnxruntime-int8' or 'torch-fp32+ceil_mode=flipped'."""
    patches = [
        f"{name}={value}"
        for name, value in (("ceil_mode", ceil_mode), ("upsample", upsample))
        if value != "model"
    ]
    return "+".join([f"{backend}-{precision}", *patches])


def resized_size(height: int, width: int, size: int, protocol: str) -> tuple[int, int]:
    """Output (height, width) of the resize step, with torchvision's rounding for "shorter"."""
    if protocol == "squash":
        return size, size
    short, long = (height, width) if height <= width else (width, height)
    new_long = int(size * long / short)
    return (size, new_long) if height <= width else (new_long, size)


def center_crop(image: np.ndarray, crop: int) -> np.ndarray:
    """Centre crop of an HxWxC array with torchvision's offsets (margins rounded half to even)."""
    height, width = image.shape[:2]
    if height < crop or width < crop:
        raise ValueError(f"image {height}x{width} is smaller than the crop {crop}")
    top = int(round((height - crop) / 2.0))
    left = int(round((width - crop) / 2.0))
    return image[top : top + crop, left : left + crop]
