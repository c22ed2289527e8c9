"""Where a generated ImageNet-S set keeps what, and the files' formats.

```
DIR/manifest.json                 written last, atomically: the set is complete when it exists
DIR/SHA256SUMS                    the same hashes for `sha256sum -c` (written with the manifest)
DIR/variants/<variant>.npy        N x S x S x 3 uint8, a .npy file: np.load(..., mmap_mode="r")
DIR/variants/<variant>.failures.json   images the variant could not produce, with the error
DIR/progress/                     resumption state while generating (not needed to read the set)
DIR/progress/parts/               under torchrun, each rank's progress on its row range
```

A variant's file name is its name with "/" written as "__" (``pil/cv2-area`` ->
``pil__cv2-area.npy``). The row of an image that failed is all zeros.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.errors import SysnoiseError
from sysnoise.fileio import atomic_write_text
from sysnoise.hashing import sha256_file  # noqa: F401 (generate and verify hash through layout)

FORMAT = "sysnoise-imagenet-s"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
VARIANTS_DIR = "variants"
PROGRESS_DIR = "progress"
_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def variant_stem(name: str) -> str:
    """The file stem of variant `name` ("decoder/resizer" -> "decoder__resizer")."""
    parts = name.split("/")
    if len(parts) != 2 or not all(_NAME_PART.fullmatch(part) for part in parts):
        raise SysnoiseError(f"variant name {name!r} must look like DECODER/RESIZER")
    return "__".join(parts)


def data_path(root: Path, name: str) -> Path:
    """The .npy file of variant `name`."""
    return root / VARIANTS_DIR / f"{variant_stem(name)}.npy"


def failures_path(root: Path, name: str) -> Path:
    """The failures sidecar of variant `name`."""
    return root / VARIANTS_DIR / f"{variant_stem(name)}.failures.json"


def progress_path(root: Path, name: str) -> Path:
    """The progress record of variant `name` while it is generated."""
    return root / PROGRESS_DIR / f"{variant_stem(name)}.json"


def part_path(root: Path, name: str, rank: int, world: int) -> Path:
    """Rank `rank` of `world`'s progress record on its rows of variant `name`."""
    return parts_dir(root) / f"{variant_stem(name)}.{rank}-of-{world}.json"


def parts_dir(root: Path) -> Path:
    """The folder of the ranks' progress records."""
    return root / PROGRESS_DIR / "parts"


def sources_path(root: Path) -> Path:
    """The sha256 digests of the source files, filled in as images are processed."""
    return root / PROGRESS_DIR / "sources.npy"


def run_record_path(root: Path) -> Path:
    """The images and library versions a generation began with (checked when it resumes)."""
    return root / PROGRESS_DIR / "run.json"


def write_json(path: Path, document: Any) -> None:
    """Write `document` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(document, indent=1, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    """The parsed JSON at `path`; a SysnoiseError naming the file if it is unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SysnoiseError(f"cannot read {path}: {exc}") from exc


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of the set at `root`, checked for its format and version."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        hint = (
            "generation has not finished; run the same `sysnoise imagenet-s generate` again "
            "to resume"
            if (Path(root) / PROGRESS_DIR).is_dir()
            else "it is not an ImageNet-S set written by `sysnoise imagenet-s generate`"
        )
        raise SysnoiseError(f"{root} has no {MANIFEST}: {hint}")
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SysnoiseError(f"{path} is not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise SysnoiseError(
            f"{path} has format version {manifest.get('format_version')}; this sysnoise reads "
            f"version {FORMAT_VERSION}"
        )
    return manifest


class RowFile:
    """A .npy file of fixed-shape rows, written row by row at its offset (resumable).

    Created at full size with its header (a sparse file: unwritten rows read as zeros); rows are
    written with pwrite and made durable by `sync`, so a re-run rewrites any row it is unsure of.
    """

    def __init__(self, path: Path, n_rows: int, row_shape: tuple[int, ...], dtype: str) -> None:
        self.path = path
        self.shape = (n_rows, *row_shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(row_shape)) * self.dtype.itemsize
        header = _npy_header(self.shape, self.dtype)
        self.offset = len(header)
        size = self.offset + n_rows * self.row_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = (
            not path.is_file()
            or path.stat().st_size != size
            or _read_head(path, len(header)) != header
        )
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if fresh:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, header, 0)
            os.ftruncate(self._fd, size)
        self.fresh = fresh

    def write(self, index: int, row: np.ndarray) -> None:
        """Write row `index` (shape and dtype must match)."""
        if row.shape != self.shape[1:] or row.dtype != self.dtype:
            raise ValueError(f"row {row.dtype}{row.shape} does not fit {self.dtype}{self.shape}")
        data = np.ascontiguousarray(row).data
        written = os.pwrite(self._fd, data, self.offset + index * self.row_bytes)
        if written != self.row_bytes:
            raise OSError(errno.ENOSPC, "short write (is the disk full?)", str(self.path))

    def sync(self) -> None:
        """Flush what was written to the disk."""
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    import io

    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _read_head(path: Path, size: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)
