"""Colour paths: a YUV 4:2:0 round trip is small on smooth colour and real on chroma detail."""

from __future__ import annotations

import numpy as np
import pytest

from sysnoise.noises.colour import COLOURS, apply_colour
from sysnoise.noises.decoders import decode
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import model_input

import images

ROUND_TRIPS = [n for n in COLOURS.names() if n != "rgb" and "-as-" not in n]
MISMATCHES = [n for n in COLOURS.names() if "-as-" in n]
# Luma coefficients (Kr, Kb) as the standards publish them (ITU-R BT.601-7, BT.709-6).
KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def test_registry_lists_rgb_and_the_round_trips():
    assert COLOURS.names()[0] == "rgb"
    assert {"yuv420-bt601-full", "yuv420-bt601-limited"} <= set(ROUND_TRIPS)


def test_rgb_is_the_identity():
    photo = decode("pil", images.china_jpeg(), 1)
    np.testing.assert_array_equal(apply_colour("rgb", photo), photo)


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_flat_colours_survive_within_rounding(name):
    # No chroma detail to lose: only 8-bit rounding of Y'CbCr, at most 2 levels back in RGB.
    rng = np.random.default_rng(0)
    for colour in rng.integers(0, 256, size=(20, 3)):
        flat = np.broadcast_to(colour.astype(np.uint8), (5, 7, 3)).copy()  # odd sides on purpose
        out = apply_colour(name, flat)
        assert out.shape == flat.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - flat).max() <= 2, (name, colour)


def test_full_range_greys_are_exact():
    greys = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    greys = np.repeat(greys, 2, axis=0)
    np.testing.assert_array_equal(apply_colour("yuv420-bt601-full", greys), greys)


def test_chroma_is_subsampled_two_by_two():
    # A red/blue checkerboard has no 2x2 chroma left: every pixel gets the same colour.
    board = np.zeros((4, 4, 3), np.uint8)
    board[::2, ::2] = board[1::2, 1::2] = (255, 0, 0)
    board[::2, 1::2] = board[1::2, ::2] = (0, 0, 255)
    out = apply_colour("yuv420-bt601-full", board).astype(int)
    assert np.abs(out - board).max() > 100
    chroma = out - out.mean(axis=2, keepdims=True)
    assert np.ptp(chroma[..., 0]) > 0  # luma still varies, so colours differ a little
    assert np.abs(out[..., 0] - out[..., 2]).max() < 60


def test_a_real_photo_moves_a_little_and_the_pipeline_applies_it():
    reference = Pipeline()
    data = images.china_jpeg()
    plain = model_input(data, reference)
    for name in ROUND_TRIPS:
        noisy = model_input(data, reference.with_changes(colour=name))
        diff = np.abs(noisy.astype(int) - plain)
        assert noisy.shape == plain.shape
        assert 0 < diff.mean() < 3, (name, diff.mean())


def _independent_round_trip(
    rgb: np.ndarray, encode: str, encode_range: str, decode: str, decode_range: str
) -> np.ndarray:
    """Y'CbCr 4:2:0 written from the standards' equations, one channel at a time."""
    r, g, b = (rgb[..., k].astype(np.float64) for k in range(3))
    kr, kb = KR_KB[encode]
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    if encode_range == "limited":
        y, cb, cr = 16 + y * 219 / 255, cb * 224 / 255, cr * 224 / 255
    y8 = np.clip(np.rint(y), 0, 255)
    cb8, cr8 = (np.clip(np.rint(c + 128), 0, 255) for c in (cb, cr))
    height, width = y8.shape

    def subsample(plane: np.ndarray) -> np.ndarray:  # 2x2 mean, rounded half up, replicated
        blocks = plane.reshape(height // 2, 2, width // 2, 2).sum(axis=(1, 3))
        return np.kron(np.floor((blocks + 2) / 4), np.ones((2, 2)))

    y, cb, cr = y8, subsample(cb8) - 128, subsample(cr8) - 128
    kr, kb = KR_KB[decode]
    if decode_range == "limited":
        y, cb, cr = (y - 16) * 255 / 219, cb * 255 / 224, cr * 255 / 224
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def test_the_mismatched_pairs_are_registered_with_both_matrices_in_the_name():
    assert set(MISMATCHES) == {
        "yuv420-bt601-limited-as-bt709-limited",
        "yuv420-bt709-limited-as-bt601-limited",
        "yuv420-bt601-full-as-bt601-limited",
        "yuv420-bt601-limited-as-bt601-full",
    }


@pytest.mark.parametrize("name", MISMATCHES)
def test_mismatched_pairs_equal_an_independent_conversion(name):
    photo = decode("pil", images.china_jpeg(), 1)[:200, :300]  # even sides
    encode, decode_ = name.removeprefix("yuv420-").split("-as-")
    expected = _independent_round_trip(photo, *encode.split("-"), *decode_.split("-"))
    out = apply_colour(name, photo)
    diff = np.abs(out.astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01, (name, diff.max(), (diff > 0).mean())
    # and a mismatch is a real colour shift, unlike the matched round trip
    matched = apply_colour(f"yuv420-{encode}", photo)
    assert np.abs(out.astype(int) - matched).mean() > 1.0


def test_matched_round_trips_equal_the_independent_conversion_too():
    photo = decode("pil", images.china_jpeg(), 1)[:200, :300]
    for name in ROUND_TRIPS:
        matrix, range_ = name.removeprefix("yuv420-").split("-")
        expected = _independent_round_trip(photo, matrix, range_, matrix, range_)
        assert np.abs(apply_colour(name, photo).astype(int) - expected).max() <= 1, name


def test_limited_read_as_full_washes_out_and_full_read_as_limited_adds_contrast():
    photo = decode("pil", images.china_jpeg(), 1)[:200, :300].astype(float)
    washed = apply_colour("yuv420-bt601-limited-as-bt601-full", photo.astype(np.uint8))
    punchy = apply_colour("yuv420-bt601-full-as-bt601-limited", photo.astype(np.uint8))
    assert washed.std() < photo.std() < punchy.std()
