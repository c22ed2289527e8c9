"""The published ImageNet-S protocol, checked against an independent computation; EXIF; FFmpeg."""

from __future__ import annotations

import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from sysnoise.imagenet_s.dataset import StoredSet
from sysnoise.imagenet_s.generate import GenerateConfig, generate
from sysnoise.imagenet_s.variants import base_pipeline, parse_variants
from sysnoise.noises.decoders import DECODERS, DecodeError, decode
from sysnoise.noises.exif import apply_orientation
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import model_input

import images
from registry_guard import restored_registries
from tiny import write_dataset

HAS_FFMPEG = shutil.which("ffmpeg") is not None
needs_ffmpeg = pytest.mark.skipif(not HAS_FFMPEG, reason="no ffmpeg (apt-get install ffmpeg)")

# Non-square photos: where squashing and shorter-side resizing part ways. The rotated one carries
# EXIF orientation 6, so the decoders that apply it see a 512 x 320 image, the others 320 x 512.
FILES = {"china.jpg": images.china_jpeg(), "rotated.jpg": images.exif_rotated()}
PIL_FILTERS = {
    "pil-nearest": Image.NEAREST,
    "pil-bilinear": Image.BILINEAR,
    "pil-bicubic": Image.BICUBIC,
    "pil-box": Image.BOX,
    "pil-hamming": Image.HAMMING,
    "pil-lanczos": Image.LANCZOS,
}
CV2_FLAGS = {
    "cv2-nearest": cv2.INTER_NEAREST,
    "cv2-linear": cv2.INTER_LINEAR,
    "cv2-cubic": cv2.INTER_CUBIC,
    "cv2-area": cv2.INTER_AREA,
    "cv2-lanczos4": cv2.INTER_LANCZOS4,
}


@pytest.fixture(scope="module", autouse=True)
def registries():
    """Side-environment entries that parsing variants registers are gone after this module."""
    with restored_registries():
        yield


# The published generator, written from its description: decode as it does, squash to
# (size * 8/7)^2, centre crop with int(round((h - th) / 2)).
def _published_decode(decoder: str, path: Path) -> np.ndarray:
    if decoder == "pil":
        return np.asarray(Image.open(path).convert("RGB"))
    if decoder == "cv2":
        bgr = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    command = ["ffmpeg", "-v", "error", "-i", str(path), "-f", "image2pipe", "-pix_fmt", "rgb24"]
    ppm = subprocess.run([*command, "-vcodec", "ppm", "-"], capture_output=True, check=True).stdout
    bgr = cv2.imdecode(np.frombuffer(ppm, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _published_crop(decoder: str, resizer: str, path: Path, size: int = 224) -> np.ndarray:
    image = _published_decode(decoder, path)
    side = int(size * 8 / 7)
    if resizer in PIL_FILTERS:
        resized = np.asarray(Image.fromarray(image).resize((side, side), PIL_FILTERS[resizer]))
    else:
        resized = cv2.resize(image, (side, side), interpolation=CV2_FLAGS[resizer])
    top = int(round((resized.shape[0] - size) / 2.0))
    left = int(round((resized.shape[1] - size) / 2.0))
    return resized[top : top + size, left : left + size]


@pytest.fixture(scope="module")
def published_set(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    write_dataset(folder, FILES)
    out = tmp_path_factory.mktemp("published") / "set"
    generate(GenerateConfig(out=out, data=folder, progress=False))
    return out


def test_every_published_variant_equals_the_published_generator(published_set):
    stored = StoredSet(published_set)
    expected_decoders = ["pil", "cv2", "ffmpeg-cli"] if HAS_FFMPEG else ["pil", "cv2"]
    assert len(stored.names) == 11 * len(expected_decoders)
    assert stored.manifest["protocol"]["name"] == "published"
    if not HAS_FFMPEG:
        assert {s["name"].split("/")[0] for s in stored.manifest["skipped"]} == {"ffmpeg-cli"}
    folder = Path(stored.manifest["dataset"]["root"])
    for name in stored.names:
        decoder, resizer = name.split("/")
        assert decoder in expected_decoders
        array = stored.array(name)
        for index, image_id in enumerate(stored.image_ids):
            expected = _published_crop(decoder, resizer, folder / image_id)
            np.testing.assert_array_equal(array[index], expected, err_msg=f"{name} {image_id}")


def test_published_and_shorter_protocols_differ_on_non_square_photos():
    data = images.china_jpeg()
    published = parse_variants("pil/pil-bilinear", base_pipeline())[0].pipeline
    shorter = parse_variants("pil/pil-bilinear", base_pipeline(protocol="shorter"), "shorter")
    assert shorter[0].pipeline == Pipeline()  # torchvision's evaluation transform
    assert published == Pipeline(resize_protocol="squash")
    gap = np.abs(
        model_input(data, published).astype(int) - model_input(data, shorter[0].pipeline)
    ).mean()
    assert gap > 20  # a 640 x 427 photo squashed vs cropped: tens of grey levels apart


def test_the_protocols_choose_their_decoders_and_exif_handling():
    published = {v.name: v.pipeline for v in parse_variants("imagenet-s", base_pipeline())}
    assert {name.split("/")[0] for name in published} == {"pil", "cv2", "ffmpeg-cli"}
    assert {p.exif for n, p in published.items() if n.startswith("pil/")} == {"ignore"}
    assert {p.exif for n, p in published.items() if not n.startswith("pil/")} == {"apply"}
    assert {p.resize_protocol for p in published.values()} == {"squash"}
    base = base_pipeline(protocol="shorter")
    shorter = {v.name: v.pipeline for v in parse_variants("imagenet-s", base, "shorter")}
    assert {name.split("/")[0] for name in shorter} == {"pil", "cv2", "pyav"}
    assert {(p.exif, p.resize_protocol) for p in shorter.values()} == {("ignore", "shorter")}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_transform_matches_pillow_exif_transpose(orientation):
    stored = Image.fromarray(images.astronaut()[:96, :160])
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION_TAG] = orientation
    buffer = BytesIO()
    stored.save(buffer, "PNG", exif=exif.tobytes())
    tagged = Image.open(BytesIO(buffer.getvalue()))
    expected = np.asarray(ImageOps.exif_transpose(tagged).convert("RGB"))
    np.testing.assert_array_equal(apply_orientation(np.asarray(stored), orientation), expected)


def test_exif_apply_is_opencvs_default_decode_and_rotates_the_photo():
    data = images.exif_rotated()
    ignored = Pipeline(decoder="cv2", resizer="cv2-linear", resize_protocol="squash")
    applied = ignored.with_changes(exif="apply")
    stored = decode("cv2", data, 256)
    opencv_default = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    )
    assert stored.shape[:2] == images.EXIF_ROTATED_SHAPE
    assert opencv_default.shape[:2] == images.EXIF_ROTATED_SHAPE[::-1]
    # orientation 6: the upright image is the stored one turned 90 degrees clockwise
    np.testing.assert_array_equal(opencv_default, np.rot90(stored, k=-1))
    # squashed to a square, the crops are the rotated image's, not the stored one's
    crop_applied, crop_ignored = model_input(data, applied), model_input(data, ignored)
    np.testing.assert_array_equal(crop_applied, _squash_crop(opencv_default))
    assert np.abs(crop_applied.astype(int) - crop_ignored).mean() > 20


def _squash_crop(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (256, 256), interpolation=cv2.INTER_LINEAR)[16:240, 16:240]


def test_the_sample_sets_tagged_photo_turns_upright_only_with_exif_applied(tmp_path):
    from sysnoise.datasets import sample_dataset

    records = {r.image_id: r.path for r in sample_dataset(tmp_path).records}
    tagged = records["skimage-png/chelsea-exif6.jpg"].read_bytes()
    upright = records["skimage-png/chelsea.jpg"].read_bytes()  # the same photo, stored upright
    assert decode("pil", tagged, 256).shape == decode("pil", upright, 256).shape[1::-1] + (3,)
    reference = model_input(upright, Pipeline())
    applied = model_input(tagged, Pipeline(exif="apply"))
    ignored = model_input(tagged, Pipeline())
    assert np.abs(applied.astype(int) - reference).mean() < 3  # two JPEG encodes, one turned
    assert np.abs(ignored.astype(int) - reference).mean() > 20


@needs_ffmpeg
def test_ffmpeg_cli_and_pyav_decode_ordinary_files_alike():
    # Measured: identical on these (FFmpeg 5.1 program, PyAV's FFmpeg 8.1); they part only on a
    # few photos (2 of the 34 sample images, by up to 12 grey levels).
    for name in ("baseline_420", "baseline_444", "progressive", "grayscale", "png", "exif_rotated"):
        data = getattr(images, name)()
        np.testing.assert_array_equal(decode("ffmpeg-cli", data, 256), decode("pyav", data, 256))


def test_ffmpeg_cli_is_unavailable_with_its_reason_without_the_program(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    reason = DECODERS.get("ffmpeg-cli").unavailable_reason()
    assert reason is not None and "apt-get install ffmpeg" in reason
    with pytest.raises(DecodeError, match="not available"):
        decode("ffmpeg-cli", images.baseline_420(), 256)
