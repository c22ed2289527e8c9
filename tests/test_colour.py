"""Colour paths: a YUV 4:2:0 round trip is small on smooth colour and real on chroma detail."""

from __future__ import annotations

import numpy as np
import pytest

from sysnoise.noises.colour import COLOURS, apply_colour
from sysnoise.noises.decoders import decode
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import model_input

import images

ROUND_TRIPS = [n for n in COLOURS.names() if n != "rgb"]


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
