"""Suites resolve against a model's reference pipeline into named, categorised noises."""

from __future__ import annotations

import pytest

from sysnoise.errors import SysnoiseError
from sysnoise.noises.decoders import DECODERS
from sysnoise.noises.resizers import RESIZERS
from sysnoise.noises.suites import SUITES, Noise
from sysnoise.pipeline import Pipeline

REFERENCE = Pipeline()


def test_decoders_x_resizers_is_every_decoder_times_every_resizer_but_the_reference():
    resolved = SUITES.get("decoders-x-resizers").resolve(REFERENCE)
    assert len(resolved) == len(DECODERS) * len(RESIZERS) - 1
    pipelines = [p for _, p in resolved]
    assert REFERENCE not in pipelines and len(set(pipelines)) == len(pipelines)
    categories = {n.name: n.category_for(REFERENCE) for n, _ in resolved}
    assert categories["cv2/pil-bilinear"] == "decoder"
    assert categories["pil/cv2-area"] == "resize"
    assert categories["pyav/torch-bicubic-aa"] == "decoder+resize"


def test_imagenet_s_is_the_published_grid_the_generator_stores():
    from sysnoise.imagenet_s.variants import parse_variants

    resolved = SUITES.get("imagenet-s").resolve(REFERENCE)
    stored = parse_variants("imagenet-s", REFERENCE, "shorter")
    assert len(stored) == 33 and len(resolved) == 32  # the reference's own pair is left out
    assert {n.name: p for n, p in resolved} == {
        v.name: v.pipeline for v in stored if v.pipeline != REFERENCE
    }
    assert {p.decoder for _, p in resolved} == {"pil", "cv2", "pyav"}


def test_imagenet_s_under_a_squashing_reference_is_the_published_protocol():
    from sysnoise.imagenet_s.variants import base_pipeline, parse_variants

    squashed = base_pipeline()
    resolved = SUITES.get("imagenet-s").resolve(squashed)
    published = {v.name: v.pipeline for v in parse_variants("imagenet-s", squashed)}
    assert {n.name: p for n, p in resolved} == {
        name: p for name, p in published.items() if p != squashed
    }
    assert resolved[-1][1].decoder == "ffmpeg-cli" and resolved[-1][1].exif == "apply"


def test_categories_follow_the_reference_of_the_model():
    bicubic = REFERENCE.with_changes(resizer="pil-bicubic")
    resolved = SUITES.get("decoders-x-resizers").resolve(bicubic)
    names = {n.name: n.category_for(bicubic) for n, _ in resolved}
    assert "pil/pil-bicubic" not in names
    assert names["pil/pil-bilinear"] == "resize"


def test_quick_suite_changes_one_thing_at_a_time():
    resolved = SUITES.get("quick").resolve(REFERENCE)
    assert len(resolved) == 8
    for noise, pipeline in resolved:
        changed = [
            f
            for f in ("decoder", "resizer", "resize_protocol")
            if getattr(pipeline, f) != getattr(REFERENCE, f)
        ]
        assert len(changed) == 1, noise.name


def test_noise_changes_are_frozen_and_validated():
    noise = Noise("x", {"decoder": "cv2"})
    with pytest.raises(TypeError):
        noise.changes["decoder"] = "pil"  # type: ignore[index]
    with pytest.raises(SysnoiseError, match="unknown pipeline field"):
        Noise("y", {"decoderr": "cv2"}).apply(REFERENCE)


def test_pipeline_rejects_bad_protocol_and_crop():
    with pytest.raises(SysnoiseError, match="resize protocol"):
        Pipeline(resize_protocol="fit")
    with pytest.raises(SysnoiseError, match="larger than resize"):
        Pipeline(resize_size=200, crop_size=224)


def test_unknown_suite_lists_the_suites():
    with pytest.raises(SysnoiseError, match="imagenet-s, quick"):
        SUITES.get("nope")


def test_sysnoise_suite_covers_every_category_and_stacks_the_combined_steps():
    from sysnoise.noises.suites import COMBINED_STEPS

    resolved = SUITES.get("sysnoise").resolve(REFERENCE)
    categories = {noise.category_for(REFERENCE) for noise, _ in resolved}
    assert categories == {
        "decoder",
        "resize",
        "colour",
        "ceil_mode",
        "upsample",
        "postprocess",
        "precision",
        "backend",
        "combined",
    }
    combined = [(n, p) for n, p in resolved if n.category == "combined"]
    assert len(combined) == len(COMBINED_STEPS)
    # Each step keeps every earlier change and adds its own.
    for (_, earlier), (_, later) in zip(combined, combined[1:], strict=False):
        kept = {
            f: getattr(earlier, f)
            for f in earlier.to_dict()
            if getattr(earlier, f) != getattr(REFERENCE, f)
        }
        assert all(getattr(later, f) == v for f, v in kept.items())
        assert later != earlier
    assert combined[-1][1].precision == "int8" and combined[-1][1].colour != "rgb"
    # The first step is also a single noise: both rows share one pipeline.
    singles = {p for n, p in resolved if n.category != "combined"}
    assert combined[0][1] in singles


def test_model_side_fields_are_categorised_by_what_they_change():
    assert Noise("x", {"precision": "bf16"}).category_for(REFERENCE) == "precision"
    assert Noise("x", {"colour": "yuv420-bt601-full"}).category_for(REFERENCE) == "colour"
    assert Noise("x", {"ceil_mode": "flipped"}).category_for(REFERENCE) == "ceil_mode"
    assert Noise("x", {"pyramid": "cv2-area"}).category_for(REFERENCE) == "resize"


def test_a_pyramid_resizer_is_a_model_side_stored_only_when_set():
    from sysnoise.noises.noise_names import parse_noise

    noisy = parse_noise("pyramid=cv2-linear").apply(REFERENCE)
    assert noisy.model_side.label == "torch-fp32+pyramid=cv2-linear"
    assert noisy.pixel_side == REFERENCE.pixel_side and noisy.key != REFERENCE.key
    assert "pyramid" not in REFERENCE.to_dict() and noisy.to_dict()["pyramid"] == "cv2-linear"
    assert Pipeline.from_dict(noisy.to_dict()) == noisy


def test_the_cache_key_covers_every_field_and_the_key_version(monkeypatch):
    from sysnoise import pipeline

    changes = {"decoder": "cv2", "resize_size": 288, "colour": "yuv420-bt601-full", "exif": "apply"}
    changes |= {"ceil_mode": "flipped", "upsample": "nearest", "backend": "onnxruntime"}
    keys = {REFERENCE.key} | {REFERENCE.with_changes(**{k: v}).key for k, v in changes.items()}
    assert len(keys) == 1 + len(changes)
    before = REFERENCE.key
    monkeypatch.setattr(pipeline, "KEY_VERSION", pipeline.KEY_VERSION + 1)
    assert REFERENCE.key != before  # a new key version never finds the old cached predictions


def test_a_pipeline_is_its_pixel_side_and_its_model_side():
    from sysnoise.pipeline import ModelSide, PixelSide

    assert Pipeline.from_sides(PixelSide(), ModelSide()) == REFERENCE  # one set of defaults
    noisy = REFERENCE.with_changes(decoder="cv2", precision="fp16", exif="apply")
    rebuilt = Pipeline.from_sides(noisy.pixel_side, noisy.model_side, noisy.mean, noisy.std)
    assert rebuilt == noisy and Pipeline.from_dict(noisy.to_dict()) == noisy
    assert noisy.pixel_side == PixelSide(decoder="cv2", exif="apply")
    assert noisy.model_side == ModelSide(precision="fp16")
    assert noisy.model_side.label == "torch-fp16"
    other_decoder = noisy.with_changes(decoder="pyav").pixel_side
    assert other_decoder != noisy.pixel_side
    assert other_decoder.after_decoding == noisy.pixel_side.after_decoding


def test_the_sysnoise_suite_resolves_on_a_detection_reference():
    """Under the detection protocol `crop_size` caps the longer side: another protocol resizes
    the whole image to `resize_size`, so the cap follows it."""
    detection = Pipeline(resize_size=512, crop_size=1024, resize_protocol="shorter-capped")
    noises = {noise.name: pipeline for noise, pipeline in SUITES.get("sysnoise").resolve(detection)}
    squash = noises["resize=squash"]
    assert (squash.resize_protocol, squash.resize_size, squash.crop_size) == ("squash", 512, 512)
    assert noises["resize=cv2-linear"].crop_size == 1024  # the protocol stays: so does the cap
    assert {"postprocess", "pyramid"} <= {f for n in noises.values() for f in n.to_dict()}
