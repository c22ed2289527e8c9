"""Side environments: kernels run in another interpreter's worker and return the same pixels."""

from __future__ import annotations

import io
import multiprocessing
import sys
from pathlib import Path

import numpy as np
import pytest

from sysnoise.errors import SysnoiseError
from sysnoise.noises import decoders, resizers, sideenv, sideenv_worker
from sysnoise.noises.decoders import DecodeError, decode
from sysnoise.noises.resizers import resize
from sysnoise.noises.sideenv import SideEnvironment, SideEnvironmentError

import images
from registry_guard import restored_registries

PILLOW_FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
OPENCV_FLAGS = ("nearest", "linear", "cubic", "area", "lanczos4", "nearest-exact")


@pytest.fixture(autouse=True)
def registries():
    """Entries a test registers are gone after it."""
    with restored_registries():
        yield


def _here(name: str = "here", kernels_file: Path | None = None) -> SideEnvironment:
    """A side environment whose interpreter is this one (plain Pillow, OpenCV)."""
    return SideEnvironment(
        name,
        Path(sys.executable),
        setup_hint="n/a",
        modules=("PIL.Image", "cv2"),
        kernels_file=kernels_file,
        version_kernels=("pil.versions",),
    )


def test_messages_round_trip_bytes_arrays_and_json():
    stream = io.BytesIO()
    arrays = [np.arange(24, dtype=np.uint8).reshape(2, 4, 3), np.linspace(0, 1, 5)]
    sideenv_worker.write_message(stream, {"call": "x", "args": [b"\x00\xff", *arrays, 7, "s"]})
    stream.seek(0)
    message = sideenv_worker.read_message(stream)
    assert message["call"] == "x" and message["args"][0] == b"\x00\xff"
    for sent, received in zip(arrays, message["args"][1:3], strict=True):
        assert received.dtype == sent.dtype and received.flags.writeable
        np.testing.assert_array_equal(received, sent)
    assert message["args"][3:] == [7, "s"]
    assert sideenv_worker.read_message(stream) is None  # a clean end of stream


def test_a_worker_running_plain_pillow_returns_exactly_pillows_pixels():
    environment = _here()
    assert environment.availability() is None
    assert environment.versions()["Pillow"] == __import__("PIL").__version__
    sideenv.register_environment(environment, "here-pil", "pillow")
    for data in (images.china_jpeg(), images.grayscale(), images.cmyk(), images.png()):
        expected = decode("pil", data, 0)
        np.testing.assert_array_equal(decode("here-pil", data, 0), expected)
        for name in PILLOW_FILTERS:
            np.testing.assert_array_equal(
                resize(f"here-pil-{name}", expected, 256, 300),
                resize(f"pil-{name}", expected, 256, 300),
                err_msg=name,
            )
    assert decoders.DECODERS.get("here-pil").library == "Pillow (here)"
    environment.close()


def test_a_worker_running_plain_opencv_returns_exactly_opencvs_pixels():
    environment = _here()
    sideenv.register_environment(environment, "here-cv2", "opencv")
    data = images.china_jpeg()
    image = decode("cv2", data, 0)
    np.testing.assert_array_equal(decode("here-cv2", data, 0), image)
    for name in OPENCV_FLAGS:
        np.testing.assert_array_equal(
            resize(f"here-cv2-{name}", image, 256, 383), resize(f"cv2-{name}", image, 256, 383)
        )
    environment.close()


def test_kernel_errors_come_back_as_decode_errors_and_the_worker_lives_on():
    environment = _here()
    sideenv.register_environment(environment, "here-pil", "pillow")
    with pytest.raises(DecodeError, match="refuses this file: not an image"):
        decode("here-pil", b"not an image", 0)  # refused by the header check, before the kernel
    with pytest.raises(DecodeError, match="here: OSError: image file is truncated"):
        decode("here-pil", images.baseline_420()[:3000], 0)
    with pytest.raises(RuntimeError, match="unknown kernel 'nope'"):
        environment.call("nope")
    assert decode("here-pil", images.baseline_420(), 0).shape == (512, 512, 3)
    environment.close()


def test_a_users_kernel_file_is_loaded_and_a_dying_worker_is_reported(tmp_path):
    kernels = tmp_path / "kernels.py"
    kernels.write_text(
        "import os, sys\n"
        "def invert(image):\n    return 255 - image\n"
        "def die():\n    print('going down', file=sys.stderr); sys.stderr.flush(); os._exit(3)\n"
        "KERNELS = {'user.invert': invert, 'user.die': die}\n"
    )
    environment = _here("user", kernels)
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(environment.call("user.invert", image), 255 - image)
    with pytest.raises(SideEnvironmentError, match="its stderr ends: going down"):
        environment.call("user.die")
    np.testing.assert_array_equal(environment.call("user.invert", image), 255 - image)
    environment.close()


def _call_in_child(environment: SideEnvironment, queue) -> None:
    queue.put(environment.call("pil.versions")["Pillow"])


def test_a_forked_child_starts_its_own_worker():
    environment = _here()
    environment.call("pil.versions")  # the parent's worker is running
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_call_in_child, args=(environment, queue))
    child.start()
    assert queue.get(timeout=60) == __import__("PIL").__version__
    child.join(timeout=60)
    assert environment.call("pil.versions")  # the parent's pipe was not disturbed
    environment.close()


def test_an_absent_environment_says_how_to_build_it(monkeypatch):
    monkeypatch.setenv(sideenv.PILLOW_SIMD_PYTHON_VARIABLE, "/no/such/python")
    environment = sideenv._pillow_simd()
    reason = environment.availability()
    assert "no interpreter at /no/such/python" in reason and "make pillow-simd-env" in reason
    sideenv.register_environment(environment, "absent-simd", "pillow")
    assert "make pillow-simd-env" in decoders.DECODERS.get("absent-simd").unavailable_reason()
    assert resizers.RESIZERS.get("absent-simd-bilinear").unavailable_reason() == reason
    with pytest.raises(DecodeError, match="not available here"):
        decode("absent-simd", images.baseline_420(), 0)
    with pytest.raises(SideEnvironmentError, match="no interpreter"):
        environment.versions()


def test_an_environment_without_the_library_is_unavailable_with_the_reason():
    environment = SideEnvironment(
        "no-lib", Path(sys.executable), "install it", distributions=("no-such-distribution",)
    )
    assert "PackageNotFoundError" in environment.availability()
    assert "install it" in environment.availability()


def test_side_envs_variable_is_parsed_and_checked(tmp_path):
    python = tmp_path / "bin" / "python"
    entries = sideenv.parse_side_envs(f"pillow-9.5:pillow:{python}; cv-4:opencv:{python}")
    assert entries == [("pillow-9.5", "pillow", python), ("cv-4", "opencv", python)]
    with pytest.raises(SysnoiseError, match="PREFIX:KIND:PYTHON"):
        sideenv.parse_side_envs("pillow-9.5:gimp:/x")


def test_side_envs_variable_registers_entries(monkeypatch):
    monkeypatch.setenv(sideenv.SIDE_ENVS_VARIABLE, f"pil-again:pillow:{sys.executable}")
    added = sideenv.register_side_entries()
    assert "pil-again" in added and "pil-again-lanczos" in added
    assert "pillow-simd" in decoders.DECODERS and "pillow-simd-bilinear" in resizers.RESIZERS
    data = images.china_jpeg()
    np.testing.assert_array_equal(decode("pil-again", data, 0), decode("pil", data, 0))
    sideenv.side_environment("pil-again").close()


def _pillow_simd_or_skip() -> SideEnvironment:
    environment = sideenv._pillow_simd()
    reason = environment.availability()
    if reason is not None:
        pytest.skip(f"Pillow-SIMD side environment absent: {reason}")
    return environment


def test_pillow_simd_decodes_and_resizes_in_its_side_environment():
    environment = _pillow_simd_or_skip()
    assert "pillow-simd" in environment.versions()
    sideenv.register_environment(environment, "simd-test", "pillow")
    data = images.china_jpeg()
    image = decode("pil", data, 0)
    assert decode("simd-test", data, 0).shape == image.shape
    for name in PILLOW_FILTERS:
        simd = resize(f"simd-test-{name}", image, 256, 383)
        plain = resize(f"pil-{name}", image, 256, 383)
        assert simd.shape == plain.shape
        # Pillow-SIMD rounds its SIMD convolutions differently: a grey level or so, not more
        assert np.abs(simd.astype(int) - plain).max() <= 4, name
    environment.close()
