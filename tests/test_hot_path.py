"""The engine's fast inner operations give exactly what the plain numpy/torch operations give."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.v2.functional import normalize

from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import array_hash, input_difference, normalise
from sysnoise.topk import top_k

RNG_SEED = 15


def _torch_normalise(crops: np.ndarray, pipeline: Pipeline) -> np.ndarray:
    batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255)
    return normalize(batch, list(pipeline.mean), list(pipeline.std)).contiguous().numpy()


@pytest.mark.parametrize(
    "pipeline",
    [
        Pipeline(),
        Pipeline(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        Pipeline(mean=(127 / 255,) * 3, std=(128 / 255,) * 3),
    ],
)
def test_normalise_equals_torchvision_bit_for_bit(pipeline):
    rng = np.random.default_rng(RNG_SEED)
    every_value = np.broadcast_to(
        np.arange(256, dtype=np.uint8)[None, :, None, None], (2, 256, 7, 3)
    )
    for crops in (
        np.ascontiguousarray(every_value),
        rng.integers(0, 256, (3, 224, 224, 3), dtype=np.uint8),
        rng.integers(0, 256, (1, 17, 5, 3), dtype=np.uint8),
    ):
        expected = _torch_normalise(crops, pipeline)
        actual = normalise(crops, pipeline)
        assert actual.dtype == np.float32 and actual.shape == expected.shape
        assert np.array_equal(actual.view(np.uint32), expected.view(np.uint32))


def _stable_top_k(logits: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-logits, axis=1, kind="stable")[:, :k]


def test_top_k_equals_a_stable_full_sort_with_ties_and_non_finite_logits():
    rng = np.random.default_rng(RNG_SEED)
    cases = [
        rng.standard_normal((40, 1000)).astype(np.float32),
        rng.integers(0, 4, (40, 1000)).astype(np.float32),  # ties at the fifth place
        np.zeros((3, 1000), dtype=np.float32),
        rng.integers(0, 3, (9, 4)).astype(np.float32),  # fewer classes than k
    ]
    special = rng.standard_normal((40, 1000)).astype(np.float32)
    special[rng.random(special.shape) < 0.2] = np.nan
    special[rng.random(special.shape) < 0.05] = np.inf
    special[rng.random(special.shape) < 0.05] = -np.inf
    special[0, :] = np.nan
    cases.append(special)
    signed_zeros = np.zeros((2, 1000), dtype=np.float32)
    signed_zeros[:, ::3] = -0.0
    cases.append(signed_zeros)
    for logits in cases:
        for k in (1, 5):
            np.testing.assert_array_equal(top_k(logits, k), _stable_top_k(logits, k))


def test_input_difference_equals_the_int16_formula():
    rng = np.random.default_rng(RNG_SEED)
    base = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    for spread in (0, 1, 7, 60, 255):
        noise = rng.integers(-spread, spread + 1, base.shape)
        other = np.clip(base.astype(np.int64) + noise, 0, 255).astype(np.uint8)
        for crop, reference in ((other, base), (base, other), (255 - base, base)):
            diff = crop.astype(np.int16) - reference.astype(np.int16)
            expected = int(np.abs(diff).max()), float(np.mean(diff.astype(np.float64) ** 2))
            assert input_difference(crop, reference) == expected


def test_array_hash_tells_content_shape_and_dtype_apart():
    crop = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert array_hash(crop) == array_hash(crop.copy())
    changed = crop.copy()
    changed[0, 0, 0] += 1
    assert array_hash(changed) != array_hash(crop)
    assert array_hash(crop.reshape(4, 12)) != array_hash(crop)
    assert array_hash(crop.view(np.int8)) != array_hash(crop)
    assert array_hash(crop[:, ::-1]) == array_hash(np.ascontiguousarray(crop[:, ::-1]))


def test_each_input_is_hashed_by_its_content_when_fresh_arrays_come_and_go():
    from sysnoise.engine import Work

    rng = np.random.default_rng(RNG_SEED)
    pipeline = Pipeline()
    reference = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    work = Work(0, "image", {}, {}, {}, {})
    expected = {}
    for index in range(200):  # a duplicate replaces (and frees) the array stored before it
        crop = np.array(reference if index % 2 else rng.integers(0, 256, (8, 8, 3), np.uint8))
        work.add_input(f"p{index}", pipeline, crop, reference)
        expected[f"p{index}"] = array_hash(crop)
    for key, (input_hash, max_abs, _) in work.inputs.items():
        assert input_hash.split("/")[0] == expected[key]
        assert (max_abs == 0) == (int(key[1:]) % 2 == 1)


def test_equal_crops_of_other_pipelines_are_compared_with_the_reference_once(monkeypatch):
    from sysnoise import engine
    from sysnoise.engine import Work

    rng = np.random.default_rng(RNG_SEED)
    reference = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    crop = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    other_reference = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    calls = []

    def counted(a, b):
        calls.append(1)
        return input_difference(a, b)

    monkeypatch.setattr(engine, "input_difference", counted)
    work = Work(0, "image", {}, {}, {}, {})
    for name in ("pil", "cv2", "torchvision"):  # decoders that agree: equal crops, new arrays
        work.add_input(name, Pipeline(), crop.copy(), reference)
    work.add_input("other", Pipeline(), crop.copy(), other_reference)
    assert len(calls) == 2
    expected = input_difference(crop, reference)
    assert {work.inputs[name][1:] for name in ("pil", "cv2", "torchvision")} == {expected}
    assert work.inputs["other"][1:] == input_difference(crop, other_reference)
