"""Reading a generated set: variants as memory-mapped arrays, and a torch Dataset per variant.

What is read is checked against the manifest: a variant's file must have its recorded size and
sha256 before it is mapped, and its failures list its sha256, so a damaged set is refused rather
than evaluated. Hashing a large variant takes seconds per gigabyte, so a file that matched is
recorded in ``.verified.json`` by size, modification time and inode, and hashed again only when
one of those changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.errors import SysnoiseError
from sysnoise.fileio import atomic_write_text
from sysnoise.imagenet_s import layout
from sysnoise.pipeline import Pipeline

_VERIFIED = ".verified.json"


@dataclass(frozen=True)
class StoredVariant:
    """One variant of a set: its pipeline, file, and the images it could not produce."""

    name: str
    pipeline: Pipeline
    path: Path
    shape: tuple[int, ...]
    sha256: str
    failures: dict[int, str]  # image index -> error message
    n_bytes: int | None = None  # the file's size, as the manifest records it

    def failed_mask(self) -> np.ndarray:
        """(N,) bool: True where the row holds no image (it is all zeros)."""
        mask = np.zeros(self.shape[0], dtype=bool)
        mask[list(self.failures)] = True
        return mask


class StoredSet:
    """A generated set, read from its manifest; arrays are memory-mapped on first use."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.manifest = layout.read_manifest(self.root)
        images = self.manifest["images"]
        self.image_ids: list[str] = list(images["ids"])
        self.labels = np.asarray(images["labels"], dtype=np.int64)
        self.source_sha256: list[str | None] = list(images["sha256"])
        self._arrays: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def names(self) -> list[str]:
        """Stored variant names, in manifest order."""
        return [entry["name"] for entry in self.manifest["variants"]]

    @cached_property
    def variants(self) -> dict[str, StoredVariant]:
        """Every stored variant by name, in manifest order."""
        return {entry["name"]: self._variant(entry) for entry in self.manifest["variants"]}

    def variant(self, name: str) -> StoredVariant:
        """The stored variant `name`; an unknown name lists the stored ones."""
        try:
            return self.variants[name]
        except KeyError:
            skipped = {s["name"]: s["reason"] for s in self.manifest.get("skipped", [])}
            why = f" (skipped when generated: {skipped[name]})" if name in skipped else ""
            raise SysnoiseError(
                f"{self.root} has no variant {name!r}{why}; stored: {', '.join(self.names)}"
            ) from None

    def array(self, name: str) -> np.ndarray:
        """Variant `name` as a read-only (N, S, S, 3) uint8 memmap."""
        if name not in self._arrays:
            variant = self.variant(name)
            self._verify(variant)
            try:
                array = np.load(variant.path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise SysnoiseError(
                    f"cannot map {variant.path}: {exc}; "
                    f"run `sysnoise imagenet-s verify {self.root}`"
                ) from None
            if array.shape != variant.shape or array.dtype != np.uint8:
                raise SysnoiseError(
                    f"{variant.path} holds {array.dtype}{array.shape}, the manifest says "
                    f"uint8{variant.shape}; run `sysnoise imagenet-s verify {self.root}`"
                )
            self._arrays[name] = array
        return self._arrays[name]

    def _variant(self, entry: dict[str, Any]) -> StoredVariant:
        failures_file = self.root / entry["failures_file"]
        if failures_file.is_file() and layout.sha256_file(failures_file) != entry.get(
            "failures_sha256"
        ):
            raise self._damaged(f"{failures_file} does not match its sha256 in the manifest")
        sidecar = layout.read_json(failures_file)
        return StoredVariant(
            name=entry["name"],
            pipeline=Pipeline.from_dict(entry["pipeline"]),
            path=self.root / entry["file"],
            shape=tuple(entry["shape"]),
            sha256=entry["sha256"],
            failures={f["index"]: f["error"] for f in sidecar["failures"]},
            n_bytes=entry.get("bytes"),
        )

    def _verify(self, variant: StoredVariant) -> None:
        """Refuse a variant file whose size or sha256 is not the manifest's (see module doc)."""
        try:
            info = variant.path.stat()
        except OSError as exc:
            raise self._damaged(f"cannot read {variant.path}: {exc.strerror or exc}") from None
        if variant.n_bytes is not None and info.st_size != variant.n_bytes:
            raise self._damaged(
                f"{variant.path} has {info.st_size} bytes, the manifest says {variant.n_bytes}"
            )
        seen = [info.st_size, info.st_mtime_ns, info.st_ino, variant.sha256]
        records = self._verified_records()
        if records.get(variant.name) == seen:
            return
        if layout.sha256_file(variant.path) != variant.sha256:
            raise self._damaged(f"{variant.path} does not match its sha256 in the manifest")
        records[variant.name] = seen
        try:
            atomic_write_text(self.root / _VERIFIED, json.dumps(records, sort_keys=True))
        except OSError:
            pass  # a read-only set is hashed again next time; nothing else is lost

    def _verified_records(self) -> dict[str, Any]:
        try:
            records = json.loads((self.root / _VERIFIED).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return records if isinstance(records, dict) else {}

    def _damaged(self, what: str) -> SysnoiseError:
        return SysnoiseError(
            f"{what}: the set is damaged; run `sysnoise imagenet-s verify {self.root}` and "
            "generate the damaged variants again (delete them, then re-run generate)"
        )

    def __getstate__(self) -> dict[str, Any]:  # memmaps are reopened in each DataLoader worker
        return {**self.__dict__, "_arrays": {}}


class ImageNetS:
    """One stored variant as a torch Dataset of (CHW uint8 tensor, or transform of it; label).

    `failed` marks images the variant could not produce (their tensor is all zeros); labels are
    torchvision class indices, -1 for unlabelled images. Pages are read from disk on access.
    """

    def __init__(self, root: Path, variant: str, transform: Any = None) -> None:
        self.stored = StoredSet(root)
        self.variant = self.stored.variant(variant)
        self.transform = transform
        self.image_ids = self.stored.image_ids
        self.labels = self.stored.labels
        self.failed = self.variant.failed_mask()

    def __len__(self) -> int:
        return len(self.stored)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        import torch

        row = np.array(self.stored.array(self.variant.name)[index])  # a copy: writeable, in RAM
        image = torch.from_numpy(row).permute(2, 0, 1)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])
