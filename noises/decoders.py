"""Image decoders: the same JPEG file through different libraries gives different pixels.

Every decoder returns the pixels as stored in the file, HxWx3 uint8 RGB: EXIF orientation is
ignored here, as torchvision's ImageFolder loader ignores it, and applied (or not) afterwards by
the pipeline's `exif` field (`sysnoise.noises.exif`). A file a decoder cannot decode
(corrupt, truncated, unsupported) raises `DecodeError` from `decode`. The heavy libraries (OpenCV,
torch, PyAV, simplejpeg) are imported only when their decoder runs.

Measured behaviour (Pillow 13, OpenCV 5, torchvision 0.29, PyAV 18 / FFmpeg 8, simplejpeg 1.9):
a JPEG cut short mid-scan is a `DecodeError` for every decoder (OpenCV's imdecode returns None,
torchvision raises, FFmpeg is run with ``err_detect=explode``); only FFmpeg accepts a file whose
sole defect is a missing EOI marker. CMYK JPEGs decode everywhere, with slightly different
CMYK-to-RGB conversions (up to a few grey levels from Pillow; torchvision matches Pillow exactly).

Before any decoder runs, `decode` reads the file's header with Pillow (which parses only the
header) and refuses, for every decoder alike: formats other than JPEG, PNG, BMP, WebP and TIFF
(GIF among them); images of more pixels than `max_pixels()` (Pillow's ``MAX_IMAGE_PIXELS`` unless
``SYSNOISE_MAX_PIXELS`` says otherwise), so a small file cannot make a decoder allocate gigabytes;
and images with more than 8 bits per sample (16-bit PNG and TIFF). Decoders reduce 16-bit samples
to 8 bits in different ways (Pillow saturates 16-bit greyscale to 255, OpenCV and FFmpeg keep the
high byte), so a 16-bit file would show a decoder difference that is only a conversion choice.
Error messages never contain memory addresses, so two runs on the same files write the same text.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from io import BytesIO

import numpy as np

from sysnoise.registry import Registry


class DecodeError(Exception):
    """A file this decoder cannot decode (corrupt, truncated, unsupported)."""


MAX_PIXELS_ENV = "SYSNOISE_MAX_PIXELS"
SUPPORTED_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "WEBP", "TIFF")
_MAX_BITS = 8
_WIDE_MODES = ("I", "F")  # Pillow modes of more than 8 bits per sample: I, I;16, I;16B, F ...
_ADDRESS = re.compile(r" (?:object )?at 0x[0-9a-fA-F]+")
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says: format (Pillow's name), size and bits per sample."""

    format: str
    width: int
    height: int
    bits: int


def max_pixels() -> int:
    """The most pixels a file may have to be decoded: ``$SYSNOISE_MAX_PIXELS``, else Pillow's
    ``MAX_IMAGE_PIXELS`` (89,478,485 in Pillow 13)."""
    from PIL import Image

    from sysnoise.fileio import positive_env_int

    pillows = int(Image.MAX_IMAGE_PIXELS or 0) or 89_478_485
    return positive_env_int(MAX_PIXELS_ENV, pillows, "pixels")


@contextlib.contextmanager
def _pillow_limit(limit: int) -> Iterator[None]:
    """Pillow's own pixel check set to `limit` while Pillow opens a file here, then restored.

    Pillow warns above its limit and refuses above twice it; `read_header` refuses above the
    limit itself, for every decoder, so Pillow's check must let through what `read_header` did.
    """
    from PIL import Image

    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _open_pillow(data: bytes):  # -> PIL.Image.Image, header parsed, pixels not read yet
    from PIL import Image

    with _pillow_limit(max_pixels()):
        return Image.open(BytesIO(data))


def read_header(data: bytes) -> ImageHeader:
    """The header of `data`, refused (DecodeError) when no decoder here may read the file: an
    unknown or unsupported format, more than `max_pixels()` pixels, more than 8 bits per sample."""
    from PIL import Image, UnidentifiedImageError

    limit = max_pixels()
    try:
        image = _open_pillow(data)
    except Image.DecompressionBombError as exc:
        match = _BOMB_PIXELS.search(str(exc))
        pixels = match.group(1) if match else "too many"
        raise DecodeError(_too_many_pixels(pixels, limit)) from None
    except UnidentifiedImageError:
        raise DecodeError("not an image file in a format Pillow recognises") from None
    except Exception as exc:  # a header Pillow cannot parse: whatever the plugin raised
        raise DecodeError(f"unreadable image header: {error_text(exc)}") from None
    with image:
        header = ImageHeader(image.format or "?", image.width, image.height, _bits(image, data))
    if header.format not in SUPPORTED_FORMATS:
        raise DecodeError(
            f"{header.format} files are not supported (supported: "
            f"{', '.join(f for f in SUPPORTED_FORMATS if f != 'MPO')})"
        )
    if header.width * header.height > limit:
        raise DecodeError(_too_many_pixels(f"{header.width}x{header.height}", limit))
    if header.bits > _MAX_BITS:
        raise DecodeError(
            f"{header.bits}-bit samples: only 8-bit images are decoded, because decoders reduce "
            "16-bit samples to 8 bits differently; convert the file to 8 bits"
        )
    return header


def _too_many_pixels(size: str, limit: int) -> str:
    return (
        f"image of {size} pixels is over the limit of {limit} (a decompression bomb?); "
        f"set {MAX_PIXELS_ENV} to allow larger images"
    )


def _bits(image: object, data: bytes) -> int:
    """Bits per sample as the header states them (Pillow opens 16-bit RGB PNGs as 8-bit RGB)."""
    if image.format == "PNG" and data[12:16] == b"IHDR" and len(data) > 24:
        return data[24]
    if image.format == "TIFF":
        per_sample = image.tag_v2.get(258)
        if per_sample:
            values = per_sample if isinstance(per_sample, tuple) else (per_sample,)
            return max(int(v) for v in values)
    return 16 if image.mode.split(";")[0] in _WIDE_MODES else _MAX_BITS


def error_text(exc: BaseException) -> str:
    """``Type: message`` with memory addresses taken out, the same in every run."""
    return _ADDRESS.sub("", f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Decoder:
    """One way to turn file bytes into HxWx3 uint8 RGB pixels."""

    name: str
    library: str
    description: str
    decode: Callable[[bytes, int], np.ndarray]
    uses_min_side: bool = False
    jpeg_only: bool = False
    availability: Callable[[], str | None] | None = None  # None: always available
    needs_gpu: bool = False  # decodes on a CUDA device: workers must be spawned, not forked
    modules: tuple[str, ...] = ()  # what `decode` imports: preloaded once for worker processes

    def unavailable_reason(self) -> str | None:
        """Why this decoder cannot run here (missing GPU, side environment), or None."""
        return self.availability() if self.availability is not None else None


DECODERS: Registry[Decoder] = Registry("decoder", Decoder)

# torchvision 0.29 warns on every call that its image codecs are deprecated in favour of
# TorchCodec; that says nothing about the file, unlike any other warning it may give.
_TORCHVISION_DEPRECATION = "The image decoding and encoding capabilities of TorchVision"


def _decode_pil(data: bytes, min_side: int) -> np.ndarray:
    with _open_pillow(data) as image:
        return np.asarray(image.convert("RGB"))


def _decode_pil_draft(data: bytes, min_side: int) -> np.ndarray:
    with _open_pillow(data) as image:
        # Only JPEG (and MPO) implement draft; for other formats it is a no-op.
        image.draft("RGB", (min_side, min_side))
        return np.asarray(image.convert("RGB"))


def _decode_cv2(data: bytes, min_side: int) -> np.ndarray:
    import cv2

    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if bgr is None:
        raise ValueError("cv2.imdecode returned None (corrupt, truncated or unsupported file)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _decode_torchvision(data: bytes, min_side: int) -> np.ndarray:
    import torch
    from torchvision.io import ImageReadMode, decode_image

    encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    with warnings.catch_warnings():
        # A warning from the decoder is a signal about the file: make it an error.
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=_TORCHVISION_DEPRECATION)
        chw = decode_image(encoded, mode=ImageReadMode.RGB)
    return chw.permute(1, 2, 0).numpy()


def _decode_nvjpeg(data: bytes, min_side: int) -> np.ndarray:
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_TORCHVISION_DEPRECATION)
        chw = decode_jpeg(encoded, mode=ImageReadMode.RGB, device="cuda")
    return chw.permute(1, 2, 0).cpu().numpy()


def _cuda_reason() -> str | None:
    import torch

    if not torch.cuda.is_available():
        return "nvJPEG runs on an NVIDIA GPU; torch sees none here"
    return None


def _decode_pyav(data: bytes, min_side: int) -> np.ndarray:
    import av

    with av.open(BytesIO(data)) as container:
        stream = container.streams.video[0]
        # Without "explode" FFmpeg conceals a truncated scan and returns a part-grey image.
        stream.codec_context.options = {"err_detect": "explode"}
        frame = next(container.decode(stream))
        return frame.to_ndarray(format="rgb24")


_FFMPEG_TIMEOUT_S = 60


def _decode_ffmpeg_cli(data: bytes, min_side: int) -> np.ndarray:
    # The file goes in on stdin and comes out as one rgb24 frame (PPM: a header, then the raw
    # rgb24 bytes), as the published ImageNet-S generator pipes it; EXIF rotation is the
    # pipeline's job (`exif`), so FFmpeg's own is off.
    command = [
        "ffmpeg", "-nostdin", "-v", "error", "-noautorotate", "-err_detect", "explode",
        "-i", "pipe:0", "-frames:v", "1", "-f", "image2pipe", "-vcodec", "ppm",
        "-pix_fmt", "rgb24", "pipe:1",
    ]
    done = subprocess.run(command, input=data, capture_output=True, timeout=_FFMPEG_TIMEOUT_S)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise ValueError(f"ffmpeg exited with {done.returncode}: {' '.join(message[-2:])}")
    return _read_ppm(done.stdout)


def _read_ppm(ppm: bytes) -> np.ndarray:
    """The pixels of a binary (P6, 8-bit) PPM: magic, width, height, maxval, one space, data."""
    fields = ppm[:64].split(maxsplit=4)
    if len(fields) < 5 or fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError("ffmpeg did not write an 8-bit binary PPM")
    width, height = int(fields[1]), int(fields[2])
    pixels = np.frombuffer(ppm[-width * height * 3 :], dtype=np.uint8)
    if pixels.size != width * height * 3:
        raise ValueError(f"ffmpeg wrote {len(ppm)} bytes, short of a {width}x{height} frame")
    return pixels.reshape(height, width, 3)


def _ffmpeg_cli_reason() -> str | None:
    if shutil.which("ffmpeg") is None:
        return "the ffmpeg command is not on PATH; install it (apt-get install ffmpeg)"
    return None


def _decode_simplejpeg(data: bytes, min_side: int, fastdct: bool, fastupsample: bool) -> np.ndarray:
    import simplejpeg

    return simplejpeg.decode_jpeg(
        data, colorspace="RGB", fastdct=fastdct, fastupsample=fastupsample
    )


for _decoder in (
    Decoder(
        "pil",
        "Pillow",
        "Pillow Image.open + convert('RGB') (libjpeg-turbo, accurate DCT); the reference",
        _decode_pil,
        modules=("PIL.Image",),
    ),
    Decoder(
        "cv2",
        "OpenCV",
        "OpenCV imdecode (libjpeg-turbo), EXIF orientation ignored, BGR converted to RGB",
        _decode_cv2,
        modules=("cv2",),
    ),
    Decoder(
        "torchvision",
        "torchvision",
        "torchvision.io.decode_image (libjpeg-turbo) in RGB mode",
        _decode_torchvision,
        modules=("torch", "torchvision.io"),
    ),
    Decoder(
        "pyav",
        "FFmpeg (PyAV)",
        "FFmpeg's own JPEG decoder (mjpeg) through PyAV, converted to RGB by swscale",
        _decode_pyav,
        modules=("av",),
    ),
    Decoder(
        "turbo-fastdct",
        "libjpeg-turbo (simplejpeg)",
        "libjpeg-turbo with the fast integer IDCT (TJFLAG_FASTDCT), accurate chroma upsampling",
        partial(_decode_simplejpeg, fastdct=True, fastupsample=False),
        jpeg_only=True,
        modules=("simplejpeg",),
    ),
    Decoder(
        "turbo-fastupsample",
        "libjpeg-turbo (simplejpeg)",
        "libjpeg-turbo with nearest-neighbour chroma upsampling (TJFLAG_FASTUPSAMPLE)",
        partial(_decode_simplejpeg, fastdct=False, fastupsample=True),
        jpeg_only=True,
        modules=("simplejpeg",),
    ),
    Decoder(
        "nvjpeg",
        "nvJPEG (torchvision)",
        "NVIDIA nvJPEG on the GPU through torchvision.io.decode_jpeg(device='cuda')",
        _decode_nvjpeg,
        jpeg_only=True,
        availability=_cuda_reason,
        needs_gpu=True,
        modules=("torch", "torchvision.io"),
    ),
    Decoder(
        "pil-draft",
        "Pillow",
        "Pillow draft mode: libjpeg DCT-domain downscale by the largest of 1/8, 1/4, 1/2 that "
        "keeps both sides >= min_side (output ceil(side/scale)); other formats decode in full",
        _decode_pil_draft,
        uses_min_side=True,
        modules=("PIL.Image",),
    ),
    Decoder(
        "ffmpeg-cli",
        "FFmpeg (command line)",
        "the ffmpeg program: file piped in, one rgb24 frame piped out (FFmpeg's mjpeg decoder, "
        "swscale to RGB), as the published ImageNet-S generator runs it",
        _decode_ffmpeg_cli,
        availability=_ffmpeg_cli_reason,
    ),
):
    DECODERS.add(_decoder.name, _decoder)


def decode(name: str, data: bytes, min_side: int) -> np.ndarray:
    """Decode `data` with decoder `name` to contiguous HxWx3 uint8 RGB; DecodeError if it cannot."""
    decoder = DECODERS.get(name)
    reason = decoder.unavailable_reason()
    if reason is not None:
        raise DecodeError(f"decoder {name!r} is not available here: {reason}")
    if decoder.uses_min_side and min_side < 1:
        raise ValueError(f"decoder {name!r} needs min_side >= 1, got {min_side}")
    try:
        read_header(data)
    except DecodeError as exc:
        raise DecodeError(
            f"decoder {name!r} ({decoder.library}) refuses this file: {exc}"
        ) from None
    try:
        image = decoder.decode(data, min_side)
    except Exception as exc:
        raise DecodeError(
            f"decoder {name!r} ({decoder.library}) cannot decode this file: {error_text(exc)}"
        ) from exc
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DecodeError(
            f"decoder {name!r} ({decoder.library}) returned {image.dtype} {image.shape}, "
            "not HxWx3 uint8"
        )
    return np.require(image, requirements=["C_CONTIGUOUS", "WRITEABLE"])


def library_versions() -> dict[str, str]:
    """Versions of the decoding libraries (and the libjpeg-turbo / FFmpeg inside them)."""
    versions: dict[str, str] = {}

    def record(label: str, module_name: str, read: Callable[[object], str]) -> None:
        try:
            module = importlib.import_module(module_name)
            versions[label] = read(module)
        except Exception as exc:  # an environment report must not fail on one library
            versions[label] = f"unavailable ({type(exc).__name__})"

    record("Pillow", "PIL", lambda m: m.__version__)
    record("libjpeg-turbo (Pillow)", "PIL.features", lambda m: str(m.version("libjpeg_turbo")))
    record("OpenCV", "cv2", lambda m: m.__version__)
    record("libjpeg-turbo (OpenCV)", "cv2", _opencv_jpeg_version)
    record("torchvision", "torchvision", lambda m: m.__version__)
    record("PyAV", "av", lambda m: m.__version__)
    record("FFmpeg", "av", _ffmpeg_version)
    versions["FFmpeg (CLI)"] = _ffmpeg_cli_version()
    record("simplejpeg", "simplejpeg", lambda m: m.__version__)
    return versions


def _ffmpeg_cli_version() -> str:
    if _ffmpeg_cli_reason() is not None:
        return "unavailable (no ffmpeg on PATH)"
    done = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, timeout=30)
    first = done.stdout.splitlines()[0] if done.stdout else ""
    match = re.match(r"ffmpeg version (\S+)", first)
    return match.group(1) if match else "unknown"


def _opencv_jpeg_version(cv2: object) -> str:
    match = re.search(r"^\s*JPEG:\s*(.+?)\s*$", cv2.getBuildInformation(), re.MULTILINE)
    return match.group(1) if match else "unknown"


def _ffmpeg_version(av: object) -> str:
    info = getattr(av, "ffmpeg_version_info", None)
    if info:
        return str(info)
    libraries = getattr(av, "library_versions", {})
    return ", ".join(f"{lib} {'.'.join(map(str, v))}" for lib, v in libraries.items()) or "unknown"
