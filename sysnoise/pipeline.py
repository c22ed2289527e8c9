"""The Pipeline: exactly how an image file becomes a model input and a prediction."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sysnoise.errors import SysnoiseError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_PROTOCOLS = ("shorter", "squash", "crop-resize", "border", "longer", "shorter-capped")
# Part of every `key`: bumped when the fields or their meaning change, so that predictions cached
# under another version are never taken for this one's.
KEY_VERSION = 2
EXIF_MODES = ("ignore", "apply")
# Model-side fields that only detectors use: stored only when not "model" (see `to_dict`).
_DETECTOR_FIELDS = ("postprocess", "pyramid")


@dataclass(frozen=True)
class PixelSide:
    """How a file becomes the uint8 model input (everything before normalisation): decoder,
    EXIF orientation, colour path, resize and crop.

    Pipelines with equal pixel sides give the same crops; stored ImageNet-S variants are found
    by it."""

    decoder: str = "pil"
    resizer: str = "pil-bilinear"
    resize_size: int = 256
    resize_protocol: str = "shorter"
    crop_size: int = 224
    colour: str = "rgb"
    exif: str = "ignore"

    @property
    def after_decoding(self) -> PixelSide:
        """This side with the decoder left open: what turns decoded pixels into the crop."""
        return dataclasses.replace(self, decoder="")


@dataclass(frozen=True)
class ModelSide:
    """How the model runs: max-pool ceil_mode and upsampling patches, backend, precision, a
    detector's post-processing (`sysnoise.noises.postprocess`) and the resizer of a model's own
    image pyramid (`sysnoise.noises.pyramid`).

    Pipelines with equal model sides run on the same prepared model and share forward passes."""

    ceil_mode: str = "model"
    upsample: str = "model"
    backend: str = "torch"
    precision: str = "fp32"
    postprocess: str = "model"
    pyramid: str = "model"

    @property
    def label(self) -> str:
        """Short human name, e.g. 'onnxruntime-int8' or 'torch-fp32+ceil_mode=flipped'."""
        return model_side_label(
            self.ceil_mode,
            self.upsample,
            self.backend,
            self.precision,
            self.postprocess,
            self.pyramid,
        )


PIXEL_FIELDS = tuple(f.name for f in dataclasses.fields(PixelSide))
MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(ModelSide))


@dataclass(frozen=True)
class Pipeline:
    """How a file becomes a prediction: the pixel side, then the model side.

    Pixel side: decoder, `exif` orientation ("ignore": the pixels as stored, as Pillow and
    torchvision's ImageFolder give them; "apply": rotated/flipped as the file's EXIF orientation
    tag says, as OpenCV's default `IMREAD_COLOR` does), `colour` path (see
    `sysnoise.noises.colour`), resize and crop, normalisation. `resize_protocol` is "shorter"
    (shorter side to `resize_size`, aspect kept, long side truncated as torchvision does) or
    "squash" (both sides to `resize_size`), each followed by a centre crop with torchvision's
    rounding; "border" (timm's crop_mode "border": longer side to `resize_size`, aspect kept,
    then a centre crop that pads with the mean colour where the image is smaller, see
    `center_crop_or_pad`); or "crop-resize" (TensorFlow's EfficientNet evaluation: a centre
    square of `crop_size / resize_size` of the shorter side is cut from the decoded image first,
    then resized to `crop_size`, see `crop_resize_box`); or "longer" (dense tasks: longer side
    to `resize_size` with easyocr's truncating arithmetic, no crop, see `sysnoise.tasks.dense`).
    "shorter-capped" is the detection protocol (torchvision's min_size/max_size): shorter side to
    `resize_size` unless the longer side would pass `crop_size`, which then caps it; no crop.

    Model side: `ceil_mode` ("model" or "flipped": every max-pool's ceil_mode inverted),
    `upsample` ("model" or the op every upsampling is swapped to, see
    `sysnoise.noises.model_patches`), the inference `backend` and its numeric `precision`, and
    a detector's `postprocess` ("model" or a post-processing noise: another NMS implementation,
    top-k before NMS, the other box-decoding offset; see `sysnoise.noises.postprocess`), and the
    `pyramid` resizer ("model" or a registered resizer that a model with its own image pyramid,
    MTCNN, resamples it with; see `sysnoise.noises.pyramid`). `postprocess` and `pyramid` are
    left out of `to_dict` (and so of `key`) while they are "model".
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
    postprocess: str = "model"
    pyramid: str = "model"

    def __post_init__(self) -> None:
        if self.resize_protocol not in RESIZE_PROTOCOLS:
            raise SysnoiseError(
                f"unknown resize protocol {self.resize_protocol!r}; "
                f"valid: {', '.join(RESIZE_PROTOCOLS)}"
            )
        if self.exif not in EXIF_MODES:
            raise SysnoiseError(f"unknown exif mode {self.exif!r}; valid: {', '.join(EXIF_MODES)}")
        if self.crop_size > self.resize_size and self.resize_protocol != "shorter-capped":
            raise SysnoiseError(f"crop {self.crop_size} is larger than resize {self.resize_size}")

    def with_changes(self, **changes: Any) -> Pipeline:
        """A copy with `changes` applied; unknown field names are an error."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise SysnoiseError(f"unknown pipeline field(s) {unknown}; valid: {sorted(fields)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (`postprocess` and `pyramid` only when they are not "model",
        so classifier pipelines and their keys are what they were before detectors)."""
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self).items()
            if not (k in _DETECTOR_FIELDS and v == "model")
        }

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Pipeline:
        """A Pipeline from its `to_dict()` form (lists back to tuples); unknown fields are an
        error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise SysnoiseError(
                f"pipeline fields {unknown} are unknown to this sysnoise (valid: {sorted(known)}); "
                "upgrade sysnoise"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})

    @classmethod
    def from_sides(
        cls,
        pixel_side: PixelSide,
        model_side: ModelSide,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> Pipeline:
        """The pipeline of a pixel side, a normalisation and a model side."""
        return cls(
            **dataclasses.asdict(pixel_side), mean=mean, std=std, **dataclasses.asdict(model_side)
        )

    @property
    def pixel_side(self) -> PixelSide:
        """What decides the uint8 model input."""
        return PixelSide(**{name: getattr(self, name) for name in PIXEL_FIELDS})

    @property
    def model_side(self) -> ModelSide:
        """How the model runs under this pipeline: the key that groups forward passes."""
        return ModelSide(**{name: getattr(self, name) for name in MODEL_FIELDS})

    @property
    def key(self) -> str:
        """Stable short hash of every field (and `KEY_VERSION`), used as a cache key."""
        text = json.dumps({**self.to_dict(), "key_version": KEY_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_side_label(
    ceil_mode: str,
    upsample: str,
    backend: str,
    precision: str,
    postprocess: str = "model",
    pyramid: str = "model",
) -> str:
    """How a model runs, e.g. 'onnxruntime-int8' or 'torch-fp32+ceil_mode=flipped'."""
    patches = [
        f"{name}={value}"
        for name, value in (
            ("ceil_mode", ceil_mode),
            ("upsample", upsample),
            ("postprocess", postprocess),
            ("pyramid", pyramid),
        )
        if value != "model"
    ]
    return "+".join([f"{backend}-{precision}", *patches])


def resized_size(height: int, width: int, size: int, protocol: str) -> tuple[int, int]:
    """Output (height, width) of the resize step, with torchvision's rounding for "shorter" and
    timm's `ResizeKeepRatio(longest=1)` rounding for "border", easyocr's truncation for
    "longer"."""
    if protocol == "squash":
        return size, size
    if protocol == "shorter-capped":
        raise ValueError("the shorter-capped protocol needs its cap: use capped_size")
    if protocol == "longer":  # easyocr's resize_aspect_ratio, the same float operations
        ratio = size / max(height, width)
        return int(height * ratio), int(width * ratio)
    if protocol == "border":
        ratio = max(height / size, width / size)
        return round(height / ratio), round(width / ratio)
    short, long = (height, width) if height <= width else (width, height)
    new_long = int(size * long / short)
    return (size, new_long) if height <= width else (new_long, size)


def capped_size(height: int, width: int, size: int, cap: int) -> tuple[int, int]:
    """Output (height, width) of "shorter-capped": scale min(size / shorter, cap / longer), each
    side floored, as torchvision's detection transform (`F.interpolate` with
    recompute_scale_factor) sizes its input."""
    scale = min(size / min(height, width), cap / max(height, width))
    return math.floor(height * scale), math.floor(width * scale)


def crop_resize_box(height: int, width: int, size: int, crop: int) -> tuple[int, int, int]:
    """(top, left, side) of the centre square that "crop-resize" cuts before resizing.

    As TensorFlow's EfficientNet `_decode_and_center_crop`: side = int(float32(crop / size) *
    shorter side), offsets (extent - side + 1) // 2.
    """
    fraction = np.float32(crop / size)
    side = max(1, int(fraction * np.float32(min(height, width))))
    return (height - side + 1) // 2, (width - side + 1) // 2, side


def center_crop_or_pad(image: np.ndarray, crop: int, fill: tuple[int, ...]) -> np.ndarray:
    """Centre crop of an HxWxC array, padded first with `fill` where it is smaller than the
    crop (timm's `center_crop_or_pad`: left/top get the floor of the margin)."""
    height, width = image.shape[:2]
    pad_h, pad_w = max(crop - height, 0), max(crop - width, 0)
    if pad_h or pad_w:
        padded = np.empty((height + pad_h, width + pad_w, image.shape[2]), dtype=image.dtype)
        padded[...] = np.asarray(fill, dtype=image.dtype)
        padded[pad_h // 2 : pad_h // 2 + height, pad_w // 2 : pad_w // 2 + width] = image
        image = padded
    return center_crop(image, crop)


def center_crop(image: np.ndarray, crop: int) -> np.ndarray:
    """Centre crop of an HxWxC array with torchvision's offsets (margins rounded half to even)."""
    height, width = image.shape[:2]
    if height < crop or width < crop:
        raise ValueError(f"image {height}x{width} is smaller than the crop {crop}")
    top = int(round((height - crop) / 2.0))
    left = int(round((width - crop) / 2.0))
    return image[top : top + crop, left : left + crop]
