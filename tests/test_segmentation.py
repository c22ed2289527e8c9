"""Segmentation: masks, mIoU from confusion matrices, and torchvision models through bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sysnoise.bench import run_bench
from sysnoise.config import BenchConfig
from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline
from sysnoise.sources.torchvision_segmentation import TorchvisionSegmentationSource
from sysnoise.tasks.segmentation_data import load_segmentation_folder, read_mask
from sysnoise.tasks.segmentation_metrics import (
    align_truth,
    class_iou,
    confusion,
    mean_iou,
    paired_bootstrap_delta,
    pixel_accuracy,
)

import images
from dense_factory import TinySegmenter

SMALL = Pipeline(resize_size=64, resize_protocol="shorter", crop_size=0)


def test_confusion_ignores_255_and_miou_skips_absent_classes():
    truth = np.array([[0, 0, 1, 255]], np.uint8)
    predicted = np.array([[0, 1, 1, 2]], np.uint8)
    matrix = confusion(predicted, truth, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    np.testing.assert_allclose(class_iou(matrix)[:2], [0.5, 0.5])
    assert np.isnan(class_iou(matrix)[2])  # class 2 neither true nor predicted where counted
    assert mean_iou(matrix) == 0.5 and pixel_accuracy(matrix) == 2 / 3


def test_paired_bootstrap_covers_the_delta_and_is_zero_for_identical_predictions():
    rng = np.random.default_rng(1)
    reference = rng.integers(0, 50, (30, 3, 3))
    reference[:, np.arange(3), np.arange(3)] += 200
    noisy = reference.copy()
    noisy[:, 0, 1] += 40  # class 0 pixels predicted as class 1: worse
    low, high = paired_bootstrap_delta(reference, noisy)
    delta = mean_iou(reference.sum(0)) - mean_iou(noisy.sum(0))
    assert 0 < low <= delta <= high
    assert paired_bootstrap_delta(reference, reference) == (0.0, 0.0)


def test_truth_is_aligned_to_the_prediction_and_the_canvas_padding_ignored():
    truth = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert align_truth(truth, (6, 8), SMALL).shape == (6, 8)
    longer = SMALL.with_changes(resize_protocol="longer", resize_size=40)
    aligned = align_truth(truth, (32, 32), longer)  # content 30x40 on a 32x64 canvas
    assert (aligned[:, 20:] == 255).all() and (aligned[:30, :20] < 12).all()


def _voc_folder(root: Path, masks: dict[str, np.ndarray]) -> Path:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    photos = [images.china_jpeg(), images.baseline_420(), images.baseline_444()]
    for index, data in enumerate(photos):
        (root / "JPEGImages" / f"im{index}.jpg").write_bytes(data)
    for stem, mask in masks.items():
        with Image.open(root / "JPEGImages" / f"{stem}.jpg") as image:
            size = image.size  # a mask has its image's size: stretch the pattern onto it
        palette = Image.fromarray(mask, mode="P").resize(size, Image.Resampling.NEAREST)
        palette.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
        palette.save(root / "SegmentationClass" / f"{stem}.png")
    return root


def test_voc_folder_and_cityscapes_label_ids(tmp_path: Path):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5] = 1
    mask[0] = 255
    root = _voc_folder(tmp_path / "voc", {"im0": mask})
    dataset = load_segmentation_folder(root)
    assert [r.image_id for r in dataset.records] == ["im0.jpg", "im1.jpg", "im2.jpg"]
    stored = dataset.mask("im0.jpg")
    np.testing.assert_array_equal(np.unique(stored), [0, 1, 255])
    assert dataset.mask("im1.jpg") is None
    ids = np.array([[7, 26, 0, 33]], np.uint8)
    Image.fromarray(ids, mode="L").save(tmp_path / "ids.png")
    assert read_mask(tmp_path / "ids.png", "cityscapes").tolist() == [[0, 13, 255, 18]]
    with pytest.raises(SysnoiseError, match="JPEGImages"):
        load_segmentation_folder(tmp_path)


def test_unreadable_or_misfit_masks_are_refused_before_the_run(tmp_path: Path):
    root = _voc_folder(tmp_path / "voc", {"im0": np.zeros((8, 8), np.uint8)})
    Image.fromarray(np.zeros((10, 10), np.uint8), mode="L").save(
        root / "SegmentationClass" / "im1.png"
    )
    (root / "SegmentationClass" / "im2.png").write_bytes(b"not a png")
    with pytest.raises(SysnoiseError) as error:
        load_segmentation_folder(root)
    message = str(error.value)
    assert message.startswith("2 segmentation mask(s) unusable")
    assert "im1.png: 10x10, its image is" in message and "im2.png: cannot be read" in message
    assert "move them out of SegmentationClass/" in message


def _seeded_weights(arch: str, path: Path) -> Path:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(arch, weights=None, weights_backbone=None, num_classes=3)
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def fcn_run(tmp_path_factory) -> tuple[dict, Path]:
    tmp = tmp_path_factory.mktemp("fcn")
    masks = {}
    for index in range(3):
        mask = np.zeros((32, 48), np.uint8)
        mask[index * 8 : index * 8 + 12] = 1
        mask[20:, 30:] = 2
        mask[:2] = 255
        masks[f"im{index}"] = mask
    root = _voc_folder(tmp / "voc", masks)
    source = TorchvisionSegmentationSource.open("fcn_resnet50", reference=SMALL)
    config = BenchConfig(
        data=root,
        noises="upsample=nearest,ceil_mode=flipped,resize=pil-nearest,decoder=cv2,"
        "postprocess=nms-onnxruntime,pyramid=cv2-area",
        weights=_seeded_weights("fcn_resnet50", tmp / "fcn.pth"),
        out_dir=tmp / "out",
        cache_dir=tmp / "cache",
        progress=False,
        batch_size=2,
        device="cpu",
    )
    return run_bench(config, source).document, tmp / "out"


def test_a_seeded_fcn_gets_miou_rows_with_paired_intervals(fcn_run):
    document, _ = fcn_run
    assert document["task"] == "segmentation" and document["model"]["num_classes"] == 3
    assert document["dataset"]["n_labelled"] == 3
    reference = document["reference"]
    assert 0 <= reference["miou"] <= 1 and len(reference["per_class_iou"]) == 3
    rows = {row["noise"]: row for row in document["rows"]}
    assert set(rows) == {
        "upsample=nearest",
        "ceil_mode=flipped",
        "resize=pil-nearest",
        "decoder=cv2",
    }
    same = rows["decoder=cv2"]  # decodes these JPEGs bit for bit as Pillow does
    assert same["identical_to"] == "reference" and same["agreement_miou"] == 1.0
    assert same["delta_miou"] == 0 and same["delta_miou_ci"] == [0.0, 0.0]
    assert same["agreement_gap"] == 0 and same["agreement_gap_ci"] == [0.0, 0.0]
    for name in ("upsample=nearest", "ceil_mode=flipped", "resize=pil-nearest"):
        row = rows[name]
        assert row["flip_rate"] > 0 and row["agreement_miou"] < 1, name
        low, high = row["delta_miou_ci"]
        assert low <= row["delta_miou"] <= high
        gap_low, gap_high = row["agreement_gap_ci"]  # without labels: the gap's own interval
        assert 0 <= gap_low <= row["agreement_gap"] <= gap_high <= 1 and gap_high > 0
        assert row["miou"] == pytest.approx(reference["miou"] - row["delta_miou"])
    assert rows["upsample=nearest"]["model_side"] == "torch-fp32+upsample=nearest"


def test_the_side_file_holds_the_per_image_matrices_the_figures_come_from(fcn_run):
    import pandas as pd

    document, out = fcn_run
    (side_file,) = out.glob("*.predictions.csv.gz")
    frame = pd.read_csv(side_file, keep_default_na=False)
    row = next(r for r in document["rows"] if r["noise"] == "upsample=nearest")
    matrices = [
        np.array(text.split(), dtype=np.int64).reshape(3, 3)
        for text in frame["upsample=nearest:labels"]
    ]
    assert mean_iou(sum(matrices)) == pytest.approx(row["miou"])
    (json_file,) = out.glob("*.json")
    assert json.loads(json_file.read_text())["task"] == "segmentation"


def test_a_zoo_segmentation_model_refuses_another_task(tmp_path):
    config = BenchConfig(model="deeplabv3_resnet50", task="classification", cache_dir=tmp_path)
    with pytest.raises(SysnoiseError, match="is a segmentation model"):
        run_bench(config)


def test_a_module_runs_as_segmentation_on_onnx_runtime_with_images_of_any_size(tmp_path):
    pytest.importorskip("onnxruntime")
    from sysnoise.sources.module import ModuleSource

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "wide.jpg").write_bytes(images.china_jpeg())  # 640x427
    (folder / "square.jpg").write_bytes(images.baseline_420())  # 512x512
    source = ModuleSource.from_object(TinySegmenter(), reference=SMALL, num_classes=3)
    config = BenchConfig(
        data=folder,
        task="segmentation",
        noises="backend=onnxruntime,upsample=nearest,precision=torch-int8",
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        progress=False,
        device="cpu",
    )
    document = run_bench(config, source).document
    rows = {row["noise"]: row for row in document["rows"]}
    (int8,) = document["not_evaluated"]
    assert document["task"] == "segmentation" and int8["status"] == "unavailable"
    onnx = rows["backend=onnxruntime"]  # one export, height and width dynamic
    assert onnx["n_images"] == 2 and onnx["pixel_agreement"] > 0.99
    assert rows["upsample=nearest"]["flip_rate"] > 0


def test_a_segmentation_document_validates_and_is_reported_but_not_ranked(fcn_run, tmp_path):
    import copy

    from sysnoise.compare import Run, compare_runs
    from sysnoise.leaderboard.store import submit
    from sysnoise.leaderboard.validate import validate
    from sysnoise.report import format_report

    document, _ = fcn_run
    assert validate(document) == []
    assert "fcn_resnet50 (segmentation, 3 classes)" in format_report(document)
    tampered = copy.deepcopy(document)
    tampered["rows"][0]["miou"] = 1.5
    assert any(p.startswith("rows[0].miou: ") for p in validate(tampered))
    unnamed = copy.deepcopy(document)
    unnamed["model"]["name"] = "x" * 200
    assert validate(unnamed) == ["model.name: 200 characters, more than 128"]
    shifted = copy.deepcopy(document)
    row = next(r for r in shifted["rows"] if r["delta_miou"])
    row["delta_miou"] += 0.01
    assert validate(shifted)  # outside its interval, or no longer ref_miou - miou
    with pytest.raises(SysnoiseError, match="suite.name: unknown suite .custom."):  # --noises
        submit(document, entries_dir=tmp_path)
    records = compare_runs(Run(document, None), Run(document, None))
    assert [r["noise"] for r in records] == [r["noise"] for r in document["rows"]]
    assert {r["value"] for r in records} == {document["category_value"]}
    assert all(r["diff"] in (0.0, None) for r in records)
    with pytest.raises(SysnoiseError, match="a segmentation and a classification run"):
        compare_runs(Run(document, None), Run(dict(document, task="classification"), None))
