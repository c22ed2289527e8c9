"""The worker a side environment's interpreter runs: kernels called over stdin/stdout.

This file is run by path (``python sideenv_worker.py``) by an interpreter that has neither
sysnoise nor its dependencies, only the standard library, numpy and the library under test, so
it imports nothing else at module level. The main process imports it too, for the framing.

Protocol, one request then one reply, both the same shape: a frame holding a UTF-8 JSON header,
then one frame per blob the header names. A frame is an 8-byte little-endian length and that many
bytes. A value is JSON, or ``{"blob": i}`` for the i-th blob, which the header describes as
``{"kind": "bytes"}`` or ``{"kind": "array", "dtype": ..., "shape": [...]}``. A request header
is ``{"call": kernel, "args": [values], "blobs": [...]}``; a reply is ``{"ok": true, "result":
value, "blobs": [...]}`` or ``{"ok": false, "error": "one line"}``.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import struct
import sys
from collections.abc import Callable
from io import BytesIO
from typing import Any, BinaryIO

import numpy as np

_LENGTH = struct.Struct("<Q")

KERNELS: dict[str, Callable[..., Any]] = {}


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: BinaryIO) -> bytes | None:
    prefix = _read_exact(stream, _LENGTH.size)
    if prefix is None:
        return None
    (size,) = _LENGTH.unpack(prefix)
    data = _read_exact(stream, size)
    if data is None:
        raise EOFError("the other side closed the pipe in the middle of a message")
    return data


def _encode(value: Any, blobs: list[tuple[dict[str, Any], bytes]]) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        blobs.append(({"kind": "bytes"}, bytes(value)))
        return {"blob": len(blobs) - 1}
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        meta = {"kind": "array", "dtype": array.dtype.str, "shape": list(array.shape)}
        blobs.append((meta, array.tobytes()))
        return {"blob": len(blobs) - 1}
    return value


def _decode(value: Any, metas: list[dict[str, Any]], payloads: list[bytes]) -> Any:
    if not (isinstance(value, dict) and set(value) == {"blob"}):
        return value
    meta, payload = metas[value["blob"]], payloads[value["blob"]]
    if meta["kind"] == "bytes":
        return payload
    array = np.frombuffer(payload, dtype=np.dtype(meta["dtype"]))
    return array.reshape(meta["shape"]).copy()  # writeable, owns its memory


def write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    """Write `message` (its "args" and "result" may hold bytes and arrays) and flush."""
    blobs: list[tuple[dict[str, Any], bytes]] = []
    header = dict(message)
    if "args" in header:
        header["args"] = [_encode(arg, blobs) for arg in header["args"]]
    if "result" in header:
        header["result"] = _encode(header["result"], blobs)
    header["blobs"] = [meta for meta, _ in blobs]
    for frame in [json.dumps(header).encode()] + [payload for _, payload in blobs]:
        stream.write(_LENGTH.pack(len(frame)))
        stream.write(frame)
    stream.flush()


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    """One message with its blobs decoded in place; None at a clean end of stream."""
    frame = _read_frame(stream)
    if frame is None:
        return None
    header = json.loads(frame.decode())
    payloads = []
    for _ in header["blobs"]:
        payload = _read_frame(stream)
        if payload is None:
            raise EOFError("the other side closed the pipe in the middle of a message")
        payloads.append(payload)
    metas = header.pop("blobs")
    if "args" in header:
        header["args"] = [_decode(arg, metas, payloads) for arg in header["args"]]
    if "result" in header:
        header["result"] = _decode(header["result"], metas, payloads)
    return header


def kernel(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as the kernel `name`."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        KERNELS[name] = function
        return function

    return register


@kernel("probe")
def probe(distributions: list[str], modules: list[str]) -> dict[str, str]:
    """Import `modules` and report the versions of `distributions` (an error if one is missing)."""
    from importlib import metadata

    for module in modules:
        importlib.import_module(module)
    versions = {"python": sys.version.split()[0], "numpy": np.__version__}
    for distribution in distributions:
        versions[distribution] = metadata.version(distribution)
    return versions


@kernel("load")
def load(path: str) -> list[str]:
    """Run a user's kernel file; its ``KERNELS`` dict (name -> function) is added."""
    added = runpy.run_path(path).get("KERNELS", {})
    KERNELS.update(added)
    return sorted(added)


@kernel("pil.decode")
def pil_decode(data: bytes) -> np.ndarray:
    """Pillow: open, convert to RGB (EXIF orientation ignored)."""
    from PIL import Image

    with Image.open(BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


@kernel("pil.resize")
def pil_resize(image: np.ndarray, out_h: int, out_w: int, resample: str) -> np.ndarray:
    """Pillow resize with the filter named `resample` (NEAREST, BILINEAR, ...)."""
    from PIL import Image

    filter_ = getattr(Image, "Resampling", Image)
    return np.asarray(Image.fromarray(image).resize((out_w, out_h), getattr(filter_, resample)))


@kernel("pil.versions")
def pil_versions() -> dict[str, str]:
    """Pillow's version and the libjpeg-turbo / zlib it was built with."""
    import PIL
    from PIL import features

    versions = {"Pillow": PIL.__version__}
    for feature in ("libjpeg_turbo", "zlib"):
        try:
            versions[feature] = str(features.version(feature))
        except Exception as exc:  # older Pillow releases know fewer features
            versions[feature] = f"unknown ({type(exc).__name__})"
    return versions


@kernel("cv2.decode")
def cv2_decode(data: bytes) -> np.ndarray:
    """OpenCV imdecode (EXIF orientation ignored), BGR to RGB."""
    import cv2

    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if bgr is None:
        raise ValueError("cv2.imdecode returned None (corrupt, truncated or unsupported file)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@kernel("cv2.resize")
def cv2_resize(image: np.ndarray, out_h: int, out_w: int, flag: str) -> np.ndarray:
    """OpenCV resize with the interpolation flag named `flag` (INTER_LINEAR, ...)."""
    import cv2

    return cv2.resize(image, (out_w, out_h), interpolation=getattr(cv2, flag))


@kernel("cv2.versions")
def cv2_versions() -> dict[str, str]:
    """OpenCV's version."""
    import cv2

    return {"OpenCV": cv2.__version__}


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer requests until the input closes; a failing kernel is an error reply, not a crash."""
    while True:
        request = read_message(requests)
        if request is None:
            return
        try:
            function = KERNELS[request["call"]]
        except KeyError:
            message = f"unknown kernel {request['call']!r}; known: {', '.join(sorted(KERNELS))}"
            write_message(replies, {"ok": False, "error": message})
            continue
        try:
            result = function(*request["args"])
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            write_message(replies, {"ok": False, "error": error})
        else:
            write_message(replies, {"ok": True, "result": result})


def main() -> None:
    """Serve on stdin/stdout; anything a library prints goes to stderr, not into the protocol."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
