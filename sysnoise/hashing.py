"""Every fingerprint sysnoise computes, in one place: files, datasets and models."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

_BLOCK = 8 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks (hashlib releases the GIL: threads hash in parallel)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def dataset_fingerprint(
    image_ids: Iterable[str], image_hashes: Iterable[str | None], labels: Iterable[int]
) -> str:
    """sha256 over each image's id, content hash and label: what a result's dataset is."""
    digest = hashlib.sha256()
    for image_id, image_hash, label in zip(image_ids, image_hashes, labels, strict=True):
        digest.update(f"{image_id}\t{image_hash or 'unreadable'}\t{label}\n".encode())
    return digest.hexdigest()


def model_fingerprint(arch: str, weights_sha256: str, backend: str) -> str:
    """What identifies a model's predictions: architecture, exact weights, reference backend."""
    return hashlib.sha256(f"{arch}\n{weights_sha256}\n{backend}".encode()).hexdigest()[:16]
