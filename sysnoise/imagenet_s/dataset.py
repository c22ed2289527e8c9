"""Reading a generated set: variants as memory-mapped arrays, and a torch Dataset per variant."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.errors import SysnoiseError
from sysnoise.imagenet_s import layout
from sysnoise.pipeline import Pipeline


@dataclass(frozen=True)
class StoredVariant:
    """One variant of a set: its pipeline, file, and the images it could not produce."""

    name: str
    pipeline: Pipeline
    path: Path
    shape: tuple[int, ...]
    sha256: str
    failures: dict[int, str]  # image index -> error message

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
        sidecar = layout.read_json(self.root / entry["failures_file"])
        return StoredVariant(
            name=entry["name"],
            pipeline=Pipeline.from_dict(entry["pipeline"]),
            path=self.root / entry["file"],
            shape=tuple(entry["shape"]),
            sha256=entry["sha256"],
            failures={f["index"]: f["error"] for f in sidecar["failures"]},
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
