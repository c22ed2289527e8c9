"""INT8 calibration takes a fixed held-out slice, unlabelled images first, and never scores it."""

from __future__ import annotations

import numpy as np
import pytest

from sysnoise.calibration import calibration_from_folder, default_size, split_calibration
from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import model_input, normalise

import images
from tiny import write_dataset

REFERENCE = Pipeline()


@pytest.fixture()
def mixed(tmp_path):
    files = {f"l{i}.jpg": images.baseline_420() for i in range(4)}
    files |= {"u0.jpg": images.china_jpeg(), "u1.jpg": images.progressive()}
    files["bad.jpg"] = b"not a jpeg"
    labels = {f"l{i}.jpg": i for i in range(4)} | {"bad.jpg": 5}
    return write_dataset(tmp_path / "data", files, labels=labels)


def test_unlabelled_images_calibrate_first_and_leave_the_scored_set(mixed):
    calibration, scored = split_calibration(mixed, REFERENCE, 3, "minmax")
    assert set(calibration.image_ids[:2]) == {"u0.jpg", "u1.jpg"}
    assert calibration.image_ids[2].startswith("l")
    scored_ids = {r.image_id for r in scored.records}
    assert scored_ids.isdisjoint(calibration.image_ids)
    assert len(scored_ids) + len(calibration.image_ids) == len(mixed.records)
    first = mixed.records[[r.image_id for r in mixed.records].index(calibration.image_ids[0])]
    expected = normalise(model_input(first.path.read_bytes(), REFERENCE)[None], REFERENCE)
    np.testing.assert_array_equal(calibration.batch[:1], expected)
    assert calibration.describe()["excluded_from_scoring"] is True


def test_the_slice_is_the_same_on_every_run_and_skips_unreadable_images(mixed):
    first, _ = split_calibration(mixed, REFERENCE, 6, "entropy")
    again, _ = split_calibration(mixed, REFERENCE, 6, "entropy")
    assert first.image_ids == again.image_ids
    assert "bad.jpg" not in first.image_ids and len(first.image_ids) == 6


def test_sizes_and_methods_are_checked(mixed):
    with pytest.raises(SysnoiseError, match="nothing would be left to score"):
        split_calibration(mixed, REFERENCE, 7, "minmax")
    with pytest.raises(SysnoiseError, match="minmax, entropy, percentile"):
        split_calibration(mixed, REFERENCE, 2, "max")
    assert default_size(33) == 8 and default_size(1000) == 100
    assert default_size(5000) == 500 and default_size(50_000) == 512  # ImageNet val: 512


def test_a_calibration_folder_leaves_every_evaluation_image_scored(mixed, tmp_path):
    folder = write_dataset(
        tmp_path / "train", {f"t{i}.jpg": images.baseline_444() for i in range(3)}
    )
    calibration = calibration_from_folder(folder, REFERENCE, None, "percentile")
    assert len(calibration.image_ids) == 3 and calibration.batch.shape == (3, 3, 224, 224)
    facts = calibration.describe()
    assert facts["source"] == str(tmp_path / "train") and facts["excluded_from_scoring"] is False
    two = calibration_from_folder(folder, REFERENCE, 2, "minmax")
    assert two.image_ids == calibration.image_ids[:2]
    with pytest.raises(SysnoiseError, match="smaller N"):
        calibration_from_folder(folder, REFERENCE, 4, "minmax")
