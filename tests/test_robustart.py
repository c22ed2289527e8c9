"""RobustART's ImageNet-S summary over the published 3 x 11 grid, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sysnoise.robustart import published_grid, robustart_summary


def _document(top1: dict[str, float], reference_top1: float | None = 0.8) -> dict:
    return {
        "suite": {"name": "imagenet-s"},
        "reference_pipeline": {"decoder": "pil", "resizer": "pil-bilinear"},
        "reference": {"top1": reference_top1},
        "rows": [{"noise": name, "top1": value} for name, value in top1.items()],
    }


def test_full_grid_mean_and_population_std():
    grid = [f"{d}/{r}" for d, r in published_grid("shorter")]
    assert len(grid) == 33 and "pil/pil-bilinear" in grid and "pyav/cv2-lanczos4" in grid
    assert ("ffmpeg-cli", "cv2-area") in published_grid("published")
    values = {name: 0.5 + 0.01 * i for i, name in enumerate(grid) if name != "pil/pil-bilinear"}
    values["pil/torch-bilinear"] = 0.0  # not a published variant: ignored
    summary = robustart_summary(_document(values))
    expected = [0.8 if name == "pil/pil-bilinear" else values[name] for name in grid]
    assert summary["complete"] and summary["n_variants"] == 33 and summary["missing"] == []
    assert summary["top1_mean"] == pytest.approx(np.mean(expected))
    assert summary["top1_std"] == pytest.approx(np.std(expected))  # population (ddof=0)
    assert summary["top1_min"] == 0.5 and summary["top1_max"] == pytest.approx(0.82)


def test_partial_grid_says_what_is_missing():
    summary = robustart_summary(_document({"cv2/cv2-area": 0.6}))
    # cv2/cv2-area and the reference's own variant pil/pil-bilinear: mean 0.7, std 0.1.
    assert (summary["n_variants"], summary["complete"]) == (2, False)
    assert summary["top1_mean"] == pytest.approx(0.7) and summary["top1_std"] == pytest.approx(0.1)
    assert len(summary["missing"]) == 31
    assert robustart_summary(_document({}, reference_top1=None)) is None
    assert robustart_summary(_document({"decoder=cv2": 0.6}, reference_top1=None)) is None
    other_suite = _document({"cv2/cv2-area": 0.6}) | {"suite": {"name": "quick"}}
    assert robustart_summary(other_suite) is None


def test_the_published_protocol_counts_the_ffmpeg_program():
    document = _document({"ffmpeg-cli/cv2-area": 0.6, "pyav/cv2-area": 0.0})
    document["reference_pipeline"]["resize_protocol"] = "squash"
    summary = robustart_summary(document)
    assert summary["n_variants"] == 2 and summary["top1_mean"] == pytest.approx(0.7)
