"""Segmentation datasets: VOC-style image and mask folders, Cityscapes label ids through a table.

A VOC-style root holds ``JPEGImages/<id>.jpg`` and ``SegmentationClass/<id>.png`` (palette PNGs
whose indices are the classes, 255 = ignore); ``ImageSets/Segmentation/val.txt``, when present,
lists the images to evaluate. Cityscapes-style masks hold label ids (0..33), mapped to the 19
training ids (others to 255) by `CITYSCAPES_TRAIN_IDS`. Images without a mask are unlabelled:
their runs report agreement with the reference pipeline's masks only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sysnoise.datasets import Dataset, ImageRecord
from sysnoise.errors import SysnoiseError

IGNORE = 255
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
# Cityscapes label id -> train id (cityscapesScripts' labels.py; 255: not evaluated).
CITYSCAPES_TRAIN_IDS = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip
LABEL_MAPS = ("identity", "cityscapes")


@dataclass(frozen=True)
class SegmentationDataset(Dataset):
    """A Dataset whose images may have a label mask (image id -> mask file)."""

    masks: dict[str, Path] = dataclasses.field(default_factory=dict, compare=False)
    label_map: str = "identity"

    def mask(self, image_id: str) -> np.ndarray | None:
        """The (H, W) uint8 class mask of an image (255 = ignore), or None when unlabelled."""
        path = self.masks.get(image_id)
        return None if path is None else read_mask(path, self.label_map)


def read_mask(path: Path, label_map: str = "identity") -> np.ndarray:
    """A mask PNG's class indices (palette indices or grey values), through `label_map`."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode not in ("P", "L"):
            raise SysnoiseError(
                f"mask {path} is a {image.mode} image; segmentation masks must be palette or "
                "greyscale PNGs whose values are class indices"
            )
        mask = np.array(image, dtype=np.uint8)
    if label_map == "cityscapes":
        table = np.full(256, IGNORE, dtype=np.uint8)
        for label_id, train_id in CITYSCAPES_TRAIN_IDS.items():
            table[label_id] = train_id
        mask = table[mask]
    elif label_map != "identity":
        raise SysnoiseError(f"unknown label map {label_map!r}; valid: {', '.join(LABEL_MAPS)}")
    return mask


def _check_masks(records: list[ImageRecord], masks: dict[str, Path]) -> None:
    """Refuse, before any forward pass, masks that cannot be read or are not their image's size
    (a mask stretched onto its image would score the wrong pixels)."""
    from PIL import Image, UnidentifiedImageError

    problems = []
    for record in records:
        mask = masks.get(record.image_id)
        if mask is None:
            continue
        try:
            with Image.open(mask) as opened:
                mask_size, mode = opened.size, opened.mode
            with Image.open(record.path) as opened:
                image_size = opened.size
        except (OSError, UnidentifiedImageError) as exc:
            problems.append(f"{mask.name}: cannot be read ({exc})")
            continue
        if mode not in ("P", "L"):
            problems.append(f"{mask.name}: a {mode} image, not a palette or greyscale PNG")
        elif mask_size != image_size:
            problems.append(
                f"{mask.name}: {mask_size[0]}x{mask_size[1]}, its image is "
                f"{image_size[0]}x{image_size[1]}"
            )
    if problems:
        raise SysnoiseError(
            f"{len(problems)} segmentation mask(s) unusable: {'; '.join(problems[:3])}"
            + (" ..." if len(problems) > 3 else "")
            + "; fix them or move them out of SegmentationClass/ (their images then count as "
            "unlabelled)"
        )


def load_segmentation_folder(root: Path, label_map: str = "identity") -> SegmentationDataset:
    """A VOC-style folder (see the module docstring); a plain folder of images is unlabelled."""
    root = Path(root).expanduser()
    images_dir = root / "JPEGImages"
    masks_dir = root / "SegmentationClass"
    if not images_dir.is_dir():
        raise SysnoiseError(
            f"{root} has no JPEGImages/ folder; a segmentation dataset is a VOC-style folder "
            "with JPEGImages/ and SegmentationClass/"
        )
    listing = root / "ImageSets" / "Segmentation" / "val.txt"
    if listing.is_file():
        stems = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        paths = [images_dir / f"{stem}.jpg" for stem in stems]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise SysnoiseError(
                f"{listing} lists images that are not in {images_dir}: {missing[:3]}"
            )
    else:
        paths = sorted(
            p for p in images_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        )
    records, masks = [], {}
    for path in paths:
        image_id = path.name
        records.append(ImageRecord(image_id, path, -1))
        mask = masks_dir / f"{path.stem}.png"
        if mask.is_file():
            masks[image_id] = mask
    _check_masks(records, masks)
    description = f"segmentation images at {root}, {len(masks)} with masks"
    return SegmentationDataset(
        root.name, root, tuple(records), description, masks=masks, label_map=label_map
    )
