"""Labels files for a flat image folder: Kaggle's LOC_val_solution.csv, or labels.txt lines of
'<file name or stem> <class index or wnid>'.

A UTF-8 byte-order mark, as spreadsheet programs write one, is not part of the first line. Only an
exact header (``file label``, ``image,class`` ...) may stand on the first line; any other line
that is not a valid label is an error, so no label is lost without a word. The devkit's
ILSVRC2012_validation_ground_truth.txt holds ILSVRC ids, not torchvision class indices, and is
refused.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sysnoise.errors import SysnoiseError
from sysnoise.fileio import read_regular_file, regular_file_problem

N_CLASSES = 1000
UNLABELLED = -1
_AUTO_LABEL_FILES = ("LOC_val_solution.csv", "labels.txt", "val_labels.txt")
_ILSVRC_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
_HEADER_FILE_WORDS = frozenset(
    {"file", "filename", "file_name", "image", "image_id", "imageid", "name", "path", "id"}
)
_HEADER_LABEL_WORDS = frozenset(
    {"label", "labels", "class", "class_id", "class_index", "target", "wnid", "index"}
)


def _reject_ilsvrc_ground_truth(path: Path) -> None:
    if path.name == _ILSVRC_GROUND_TRUTH:
        raise SysnoiseError(
            f"{path} holds ILSVRC ids, which are not torchvision class indices, so it is not "
            "accepted; put Kaggle's LOC_val_solution.csv in the folder (or pass it as the labels "
            "file), or arrange the images in sub-folders named by wnid (e.g. n01440764/)"
        )


def _parse_label(token: str, wnids: dict[str, int]) -> int | None:
    """A class index from an int 0..999 or a known wnid; None when the token is neither."""
    if token.isdigit():
        index = int(token)
        return index if index < N_CLASSES else None
    return wnids.get(token)


def _read_kaggle_csv(path: Path, text: str, wnids: dict[str, int]) -> dict[str, int]:
    labels: dict[str, int] = {}
    for row in csv.DictReader(text.splitlines()):
        image_id = (row.get("ImageId") or "").strip()
        tokens = (row.get("PredictionString") or "").split()
        if not image_id or not tokens or tokens[0] not in wnids:
            raise SysnoiseError(
                f"{path}: cannot read a wnid for row {row}; expected Kaggle's "
                "'ImageId,PredictionString' rows whose PredictionString starts with a wnid"
            )
        labels[image_id] = wnids[tokens[0]]
    return labels


def _is_header(parts: list[str]) -> bool:
    """Whether a labels line is exactly a header such as ``file label`` or ``image,class``."""
    return (
        len(parts) == 2
        and parts[0].strip().lower() in _HEADER_FILE_WORDS
        and parts[1].strip().lower() in _HEADER_LABEL_WORDS
    )


def _read_labels_txt(path: Path, text: str, wnids: dict[str, int]) -> dict[str, int]:
    labels: dict[str, int] = {}
    first = True
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(None, 1) if len(line.split()) > 1 else line.rsplit(",", 1)
        label = _parse_label(parts[-1].strip(), wnids) if len(parts) == 2 else None
        if first and _is_header(parts):
            first = False
            continue
        first = False
        if label is None:
            raise SysnoiseError(
                f"{path}:{number}: expected '<file name or stem> <label>' with a class index "
                f"0..{N_CLASSES - 1} or a wnid, got {line!r} (one ILSVRC id per line, as in "
                f"{_ILSVRC_GROUND_TRUTH}, is not accepted)"
            )
        name = parts[0].strip()
        if labels.setdefault(name, label) != label:
            raise SysnoiseError(f"{path}:{number}: {name!r} has two different labels")
    return labels


def read_labels_file(path: Path, wnids: dict[str, int]) -> dict[str, int]:
    """Labels keyed by file name, stem or relative path, as the file writes them; `wnids` maps
    each wnid to its class index. Any line that is neither the header nor valid is an error."""
    _reject_ilsvrc_ground_truth(path)
    if not path.exists():
        raise SysnoiseError(f"labels file {path} does not exist; check the path")
    problem = regular_file_problem(path)
    if problem is not None:
        raise SysnoiseError(f"labels file {path} cannot be read: {problem}")
    try:
        # utf-8-sig: a byte-order mark, as spreadsheet programs write one, is not part of line 1
        text = read_regular_file(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SysnoiseError(
            f"labels file {path} is not UTF-8 text (byte {exc.start} is "
            f"{exc.object[exc.start]:#04x}); pass a LOC_val_solution.csv or a labels.txt saved "
            "as UTF-8"
        ) from None
    except OSError as exc:
        raise SysnoiseError(f"cannot read labels file {path}: {exc.strerror or exc}") from None
    if text.lstrip().lower().startswith("imageid,"):
        return _read_kaggle_csv(path, text, wnids)
    return _read_labels_txt(path, text, wnids)


def find_labels_file(root: Path) -> Path | None:
    """The labels file found in `root`, if any; the ILSVRC devkit ground truth is refused."""
    for name in _AUTO_LABEL_FILES:
        if (root / name).is_file():
            return root / name
    if (root / _ILSVRC_GROUND_TRUTH).is_file():
        _reject_ilsvrc_ground_truth(root / _ILSVRC_GROUND_TRUTH)
    return None


def lookup_label(labels: dict[str, int], image_id: str, path: Path) -> int:
    """The label of an image by relative path, file name or stem; UNLABELLED when none."""
    for key in (image_id, path.name, path.stem):
        if key in labels:
            return labels[key]
    return UNLABELLED
