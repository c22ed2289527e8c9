"""Image datasets: ImageNet val folders, any folder of images, and the embedded sample set.

Class order is torchvision's: index i is the i-th of the 1000 ILSVRC-2012 WordNet ids (wnids) in
sorted order, which is what ImageFolder over the val folder gives. The wnids
(`data/imagenet_wnids.txt`) and their WordNet lemmas (`data/imagenet_lemmas.txt`, same order) were
taken from timm 1.0.31 (Apache-2.0), files `timm/data/_info/imagenet_synsets.txt` and
`imagenet_synset_to_lemma.txt` (the latter cut down to the 1000 classes); timm is not a dependency.

Labels come from one of three folder layouts (see `load_folder`). The devkit file
ILSVRC2012_validation_ground_truth.txt is *not* accepted: it holds ILSVRC ids (1..1000 in the
devkit's own order), not torchvision class indices. Use Kaggle's LOC_val_solution.csv or wnid
sub-folders instead. Labels files are parsed by `sysnoise.labels`.

Folders are listed as untrusted input: only regular files of bounded size are read, and every file
that looks like an image but is not read (a FIFO, a device, a folder named *.jpg, a GIF) is kept in
`Dataset.skipped` with its reason and reported.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import importlib.util
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sysnoise.assets import package_dir
from sysnoise.errors import SysnoiseError
from sysnoise.fileio import atomic_write, regular_file_problem
from sysnoise.labels import UNLABELLED, find_labels_file, lookup_label, read_labels_file

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff")
# Image formats a user may expect to be read; files with these suffixes are reported as skipped.
UNSUPPORTED_SUFFIXES = (".gif", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".ico", ".svg", ".psd")


_DATA_DIR = Path(__file__).resolve().parent / "data"
_WNID_PATTERN = re.compile(r"n\d{8}")
_FOOLBOX_IMAGE = re.compile(r"imagenet_(\d+)_(\d+)\.jpg")
_FOOLBOX_INSTALL = "pip install --no-deps foolbox==3.3.4"

# (id prefix, package, folder inside the package, file names): JPEGs used as they are.
_PACKAGE_JPEGS = (
    ("skimage", "skimage", "data", ("hubble_deep_field.jpg", "retina.jpg", "rocket.jpg")),
    ("sklearn", "sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
    ("matplotlib", "matplotlib", "mpl-data/sample_data", ("grace_hopper.jpg",)),
)
# scikit-image PNG photos re-encoded to JPEG once, with the Pillow mode each is kept in.
_SKIMAGE_PNGS = {
    "astronaut": "RGB",
    "coffee": "RGB",
    "chelsea": "RGB",
    "motorcycle_left": "RGB",
    "motorcycle_right": "RGB",
    "ihc": "RGB",
    "camera": "L",
}
# One photo stored turned 90 degrees counter-clockwise with EXIF orientation 6 ("turn 90
# clockwise to show"), as phone cameras write them: upright only where a decoder applies EXIF.
_EXIF_SOURCE = "chelsea"
_EXIF_ORIENTATION = 6
_SAMPLE_JPEG_QUALITY = 90
_SAMPLE_CACHE_SUBDIR = "sample-jpeg"


@dataclass(frozen=True)
class ImageRecord:
    """One image file and its torchvision ImageNet class index (-1 when unlabelled)."""

    image_id: str  # the path relative to the dataset root, with forward slashes
    path: Path
    label: int

    @property
    def labelled(self) -> bool:
        """Whether the image has a class label."""
        return self.label != UNLABELLED


@dataclass(frozen=True)
class SkippedFile:
    """A file in a dataset folder that is not read as an image, and why."""

    image_id: str
    reason: str


@dataclass(frozen=True)
class Dataset:
    """A named, ordered set of image records; records are kept sorted by image_id."""

    name: str
    root: Path | None
    records: tuple[ImageRecord, ...]
    description: str
    skipped: tuple[SkippedFile, ...] = ()  # files found but not read, each with its reason
    # How the records were drawn from a larger set (seed, counts, ids); None: all of them.
    sample: dict[str, Any] | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        records = tuple(sorted(self.records, key=lambda record: record.image_id))
        for previous, current in zip(records, records[1:], strict=False):
            if previous.image_id == current.image_id:
                raise ValueError(
                    f"dataset {self.name!r} has two images with id {current.image_id!r}"
                )
        object.__setattr__(self, "records", records)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def n_labelled(self) -> int:
        """Number of records with a class label."""
        return sum(record.labelled for record in self.records)

    def limit(self, n: int | None, seed: int = 0) -> Dataset:
        """A seeded sample of n records stratified by class (`sysnoise.sampling`); all of them
        when n is None or not smaller than the dataset. The same n and seed give the same
        images on any machine."""
        from sysnoise.sampling import stratified_sample

        if n is None or n >= len(self.records):
            return self
        if n < 0:
            raise SysnoiseError(f"image limit must be 0 or more, got {n}")
        ids = [record.image_id for record in self.records]
        chosen = stratified_sample(ids, [record.label for record in self.records], n, seed)
        return dataclasses.replace(
            self,
            records=tuple(self.records[i] for i in chosen),
            description=f"{self.description} ({n} of {len(self.records)} images, "
            f"stratified by class, seed {seed})",
            sample={
                "seed": seed,
                "n_images": n,
                "of": len(self.records),
                "stratified_by": "label",
                "image_ids": [ids[i] for i in chosen],
            },
        )


@functools.cache
def _wnids() -> tuple[str, ...]:
    return tuple((_DATA_DIR / "imagenet_wnids.txt").read_text(encoding="ascii").split())


@functools.cache
def _wnid_index() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(_wnids())}


def imagenet_wnids() -> list[str]:
    """The 1000 ILSVRC-2012 wnids in torchvision class-index order."""
    return list(_wnids())


def wnid_to_index() -> dict[str, int]:
    """Map each ILSVRC-2012 wnid to its torchvision class index."""
    return dict(_wnid_index())


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def _skip_reason(path: Path, name: str) -> str | None:
    """Why a file with an image suffix is not read, or None; unsupported formats too."""
    if _is_image(name):
        return regular_file_problem(path)
    suffix = os.path.splitext(name)[1].lower()
    if not name.startswith(".") and suffix in UNSUPPORTED_SUFFIXES:
        return (
            f"{suffix[1:].upper()} files are not supported (supported: {', '.join(IMAGE_SUFFIXES)})"
        )
    return None


def _walk_images(folder: Path, root: Path, skipped: list[SkippedFile]) -> Iterator[Path]:
    """Regular image files under folder, recursively, skipping hidden files and folders; files
    that look like images but cannot be read as one go to `skipped` with the reason."""
    seen: set[str] = set()
    for current, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(current)
        if real in seen:  # a symlink loop
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in dirs:
            if _is_image(name):
                skipped.append(SkippedFile(_image_id(Path(current) / name, root), "a folder"))
        for name in sorted(files):
            path = Path(current) / name
            reason = _skip_reason(path, name)
            if reason is not None:
                skipped.append(SkippedFile(_image_id(path, root), reason))
            elif _is_image(name):
                yield path


def _image_id(path: Path, root: Path) -> str:
    """The path relative to root with forward slashes; bytes that are not UTF-8 in a file name
    are written as backslash escapes (\\xff), so the id can be written to JSON and CSV."""
    relative = path.relative_to(root).as_posix()
    return os.fsencode(relative).decode("utf-8", "backslashreplace")


def _warn_skipped(skipped: list[SkippedFile]) -> None:
    if skipped:
        shown = "; ".join(f"{s.image_id}: {s.reason}" for s in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        logger.warning(
            "skipped %d files that are not readable images: %s%s", len(skipped), shown, more
        )


def _warn_unlabelled(records: list[ImageRecord], source: str) -> None:
    missing = sum(not record.labelled for record in records)
    if missing:
        logger.warning(
            "%d of %d images have no label in %s; they count for flip rate only",
            missing,
            len(records),
            source,
        )


def _load_wnid_folders(
    root: Path, class_dirs: list[str], skipped: list[SkippedFile]
) -> tuple[list[ImageRecord], str]:
    index = _wnid_index()
    unknown = [name for name in class_dirs if name not in index]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise SysnoiseError(
            f"{root} looks like an ImageNet val folder (sub-folders named by wnid), but "
            f"sub-folder(s) {shown} are not ILSVRC-2012 class wnids; remove or rename them"
        )
    records = [
        ImageRecord(_image_id(path, root), path, index[name])
        for name in class_dirs
        for path in _walk_images(root / name, root, skipped)
    ]
    loose = []
    for name in sorted(os.listdir(root)):
        reason = None if (root / name).is_dir() else _skip_reason(root / name, name)
        if reason is not None:
            skipped.append(SkippedFile(_image_id(root / name, root), reason))
        elif _is_image(name) and not (root / name).is_dir():
            loose.append(ImageRecord(_image_id(root / name, root), root / name, UNLABELLED))
    if loose:
        logger.warning(
            "%d images lie directly in %s, outside the wnid sub-folders: they are unlabelled "
            "(flip rate only)",
            len(loose),
            root,
        )
    description = f"ImageNet-style wnid folders at {root} ({len(class_dirs)} classes)"
    return records + loose, description


def _load_flat(
    root: Path, labels_file: Path | None, skipped: list[SkippedFile]
) -> tuple[list[ImageRecord], str]:
    source = Path(labels_file).expanduser() if labels_file is not None else find_labels_file(root)
    if source is None:
        records = [
            ImageRecord(_image_id(path, root), path, UNLABELLED)
            for path in _walk_images(root, root, skipped)
        ]
        return records, f"unlabelled images at {root} (flip rate only)"
    labels = read_labels_file(source, _wnid_index())
    records = []
    for path in _walk_images(root, root, skipped):
        image_id = _image_id(path, root)
        records.append(ImageRecord(image_id, path, lookup_label(labels, image_id, path)))
    _warn_unlabelled(records, str(source))
    return records, f"images at {root} labelled by {source.name}"


def load_folder(root: Path, labels_file: Path | None = None) -> Dataset:
    """Load a folder of images, labelled by wnid sub-folders, by a labels file, or not at all.

    Layouts: (a) sub-folders named by wnid (torchvision's ImageNet val layout); (b) images with a
    labels file, given or found in the root (LOC_val_solution.csv, labels.txt, val_labels.txt with
    '<file name or stem> <class index or wnid>' lines); (c) any other folder of images, searched
    recursively and unlabelled (flip rate only). ILSVRC2012_validation_ground_truth.txt is refused.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise SysnoiseError(
            f"dataset folder {root} {what}; pass an ImageNet val folder (wnid sub-folders) "
            "or any folder of images"
        )
    sub_dirs = sorted(
        name for name in os.listdir(root) if not name.startswith(".") and (root / name).is_dir()
    )
    skipped: list[SkippedFile] = []
    if labels_file is None and any(_WNID_PATTERN.fullmatch(name) for name in sub_dirs):
        records, description = _load_wnid_folders(root, sub_dirs, skipped)
    else:
        records, description = _load_flat(root, labels_file, skipped)
    _warn_skipped(skipped)
    if not records:
        raise SysnoiseError(
            f"no images found in {root}; accepted file suffixes (any case): "
            + ", ".join(IMAGE_SUFFIXES)
            + (f" ({len(skipped)} files skipped: {skipped[0].reason})" if skipped else "")
        )
    description += f": {len(records)} images"
    if skipped:
        description += f" ({len(skipped)} files skipped)"
    return Dataset(
        name=root.name or str(root),
        root=root,
        records=tuple(records),
        description=description,
        skipped=tuple(skipped),
    )


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _foolbox_records() -> list[ImageRecord]:
    folder = package_dir("foolbox")
    if folder is None:
        raise SysnoiseError(
            f"the sample images need foolbox: run `{_FOOLBOX_INSTALL}` (or `make bench`, which "
            "installs it)"
        )
    records = [
        ImageRecord(f"foolbox/{path.name}", path, int(match.group(2)))
        for path in sorted((folder / "data").glob("imagenet_*.jpg"))
        if (match := _FOOLBOX_IMAGE.fullmatch(path.name))
    ]
    if not records:
        raise SysnoiseError(
            f"foolbox at {folder} ships no imagenet_*.jpg files; reinstall it: `{_FOOLBOX_INSTALL}`"
        )
    return records


def _package_jpeg_records() -> list[ImageRecord]:
    records = []
    for prefix, package, subdir, names in _PACKAGE_JPEGS:
        folder = package_dir(package)
        if folder is None:
            logger.warning("%s is not installed: the sample set has no %s photos", package, package)
            continue
        for name in names:
            path = folder / subdir / name
            if path.is_file():
                records.append(ImageRecord(f"{prefix}/{name}", path, UNLABELLED))
            else:
                logger.warning("%s has no %s: the sample set goes without it", package, path)
    return records


def _encode_jpeg_once(source: Path, target: Path, mode: str) -> None:
    """Re-encode source to a JPEG at target (Pillow, quality 90, 4:2:0) unless it exists."""
    if target.is_file():
        return
    from PIL import Image

    with Image.open(source) as image:
        converted = image.convert(mode)
    atomic_write(
        target, lambda tmp: converted.save(tmp, format="JPEG", quality=_SAMPLE_JPEG_QUALITY)
    )


def _skimage_png_records(cache_dir: Path) -> list[ImageRecord]:
    folder = package_dir("skimage")
    if folder is None:
        logger.warning("scikit-image is not installed: the sample set has no re-encoded PNG photos")
        return []
    target_dir = cache_dir / _SAMPLE_CACHE_SUBDIR
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SysnoiseError(
            f"cannot create the sample cache folder {target_dir} ({error}); choose a writable "
            "cache folder"
        ) from error
    records = []
    for name, mode in _SKIMAGE_PNGS.items():
        source = folder / "data" / f"{name}.png"
        if not source.is_file():
            logger.warning("scikit-image has no %s: the sample set goes without it", source)
            continue
        target = target_dir / f"{name}.jpg"
        _encode_jpeg_once(source, target, mode)
        records.append(ImageRecord(f"skimage-png/{name}.jpg", target, UNLABELLED))
    return records


def _encode_exif_jpeg_once(source: Path, target: Path) -> None:
    """Write `source` turned 90 degrees counter-clockwise, tagged with EXIF orientation 6."""
    if target.is_file():
        return
    from PIL import Image

    with Image.open(source) as image:
        stored = image.convert("RGB").transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = _EXIF_ORIENTATION
    atomic_write(
        target,
        lambda tmp: stored.save(tmp, format="JPEG", quality=_SAMPLE_JPEG_QUALITY, exif=exif),
    )


def _exif_record(cache_dir: Path) -> list[ImageRecord]:
    folder = package_dir("skimage")
    source = folder / "data" / f"{_EXIF_SOURCE}.png" if folder is not None else None
    if source is None or not source.is_file():
        return []  # _skimage_png_records has said why
    target = cache_dir / _SAMPLE_CACHE_SUBDIR / f"{_EXIF_SOURCE}-exif{_EXIF_ORIENTATION}.jpg"
    _encode_exif_jpeg_once(source, target)
    return [ImageRecord(f"skimage-png/{target.name}", target, UNLABELLED)]


def sample_dataset(cache_dir: Path) -> Dataset:
    """The embedded default: foolbox's 20 labelled ImageNet val JPEGs plus unlabelled photos.

    The unlabelled photos are the JPEGs that scikit-image, scikit-learn and matplotlib ship, and
    scikit-image's PNG photos re-encoded once to JPEG under cache_dir/sample-jpeg/, one of them
    also stored rotated with an EXIF orientation tag.
    """
    records = _foolbox_records()
    records += _package_jpeg_records()
    records += _skimage_png_records(Path(cache_dir))
    records += _exif_record(Path(cache_dir))
    n_labelled = sum(record.labelled for record in records)
    description = (
        f"embedded sample: {n_labelled} labelled ImageNet val JPEGs from foolbox "
        f"{_version('foolbox')}, and {len(records) - n_labelled} unlabelled photos (flip rate "
        f"only) shipped by scikit-image {_version('scikit-image')}, scikit-learn "
        f"{_version('scikit-learn')} and matplotlib {_version('matplotlib')} (scikit-image's PNGs "
        f"re-encoded to JPEG at quality {_SAMPLE_JPEG_QUALITY}, {_EXIF_SOURCE} once more stored "
        f"rotated with EXIF orientation {_EXIF_ORIENTATION}): {len(records)} images"
    )
    return Dataset(name="sample", root=None, records=tuple(records), description=description)
