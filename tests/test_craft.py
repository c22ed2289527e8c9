"""CRAFT (easyocr's text detector, real offline weights) as text/background segmentation: the
upsampling noises change its text masks on real photos."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sysnoise.bench import run_bench
from sysnoise.config import BenchConfig
from sysnoise.sources.craft import CraftSource, craft_reference
from sysnoise.sources.craft_model import Craft


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """scikit-image's photo of a sign with text (its 448x172 greyscale PNG)."""
    import cv2
    import skimage.data

    folder = tmp_path_factory.mktemp("photos")
    cv2.imwrite(str(folder / "text.png"), skimage.data.text())
    return folder


def test_the_packaged_checkpoint_is_verified_and_loads_strictly():
    loaded = CraftSource.open("craft").load()
    assert loaded.weights_sha256.startswith("4a5efbfb")
    scores = loaded.module(torch.zeros(1, 3, 64, 96))
    assert scores.shape == (1, 2, 32, 48)  # background threshold and region score, half size
    assert (scores[:, 0] == 0.4).all()
    assert sum(p.numel() for p in Craft().parameters()) == 20_770_466


def test_nearest_upsampling_changes_the_text_mask_of_a_real_photo(photos, tmp_path):
    source = CraftSource.open("craft")  # the reference pipeline: easyocr's, on a 512 canvas
    assert source.spec.reference == craft_reference()
    config = BenchConfig(
        data=photos,
        noises="upsample=nearest,decoder=pil",
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        progress=False,
        device="cpu",
    )
    document = run_bench(config, source).document
    rows = {row["noise"]: row for row in document["rows"]}
    same = rows["decoder=pil"]  # the same pixels as OpenCV's decode: the reference against itself
    assert same["agreement_miou"] == 1.0 and same["flip_rate"] == 0.0
    nearest = rows["upsample=nearest"]
    assert nearest["identical_to"] is None and nearest["model_side"].endswith("upsample=nearest")
    assert 0.5 < nearest["agreement_miou"] < 1.0 and nearest["flip_rate"] > 0
    assert document["categories"]["upsample"]["max"] > 0  # the agreement gap, no labels
