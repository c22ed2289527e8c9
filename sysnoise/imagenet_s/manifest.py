"""The manifest of a finished set: what each variant is, its hash, and the images it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.datasets import Dataset
from sysnoise.document import utc_now
from sysnoise.fileio import atomic_write_text
from sysnoise.hashing import dataset_fingerprint
from sysnoise.imagenet_s import layout


def write_manifest(
    root: Path,
    dataset: Dataset,
    first: list[str],
    skipped: list[dict[str, Any]],
    protocol: str = "published",
) -> Path:
    """Write SHA256SUMS, then manifest.json (atomically, last) for every done variant in `root`.

    `first` orders the variants this run asked for first; `skipped` lists those it could not run;
    `protocol` is the generation protocol ("published" or "shorter").
    """
    from sysnoise.environment import tool_info
    from sysnoise.noises.decoders import library_versions
    from sysnoise.noises.sideenv import side_versions

    entries = done_variants(root, first)
    digests = np.load(layout.sources_path(root), mmap_mode="r")
    hashes = [bytes(digest).hex() if digest.any() else None for digest in digests]
    image_ids = [r.image_id for r in dataset.records]
    labels = [r.label for r in dataset.records]
    decoders = sorted({e["pipeline"]["decoder"] for e in entries})
    resizers = sorted({e["pipeline"]["resizer"] for e in entries})
    stored = {e["name"] for e in entries}
    manifest = {
        "format": layout.FORMAT,
        "format_version": layout.FORMAT_VERSION,
        "created": utc_now(),
        "tool": tool_info(),
        "protocol": describe_protocol(protocol),
        "library_versions": library_versions(),
        "side_environments": side_versions(decoders, resizers),
        "dataset": {
            "name": dataset.name,
            "root": str(dataset.root) if dataset.root else None,
            "description": dataset.description,
            "n_images": len(image_ids),
            "n_labelled": sum(label >= 0 for label in labels),
            "fingerprint": dataset_fingerprint(image_ids, hashes, labels),
        },
        "images": {"ids": image_ids, "labels": labels, "sha256": hashes},
        "variants": entries,
        "skipped": [entry for entry in skipped if entry["name"] not in stored],
    }
    sums = "".join(
        f"{e['sha256']}  {e['file']}\n{e['failures_sha256']}  {e['failures_file']}\n"
        for e in entries
    )
    atomic_write_text(root / layout.CHECKSUMS, sums)
    layout.write_json(root / layout.MANIFEST, manifest)
    return root / layout.MANIFEST


_PROTOCOLS = {
    "published": {
        "resize": "squash: both sides to resize_size (size x 8/7), aspect not kept",
        "crop": "centre, offsets int(round((h - crop) / 2)) (Python rounds half to even)",
        "decoders": "Pillow convert('RGB') with EXIF ignored; OpenCV imdecode(IMREAD_COLOR) and "
        "the ffmpeg program (rgb24 through a pipe) with EXIF orientation applied",
        "reference": "the published ImageNet-S generator (imagenet_s_gen.py, transform_type='val')"
        " and RobustART's test transform",
    },
    "shorter": {
        "resize": "shorter side to resize_size, aspect kept, long side truncated (torchvision)",
        "crop": "centre, offsets int(round((h - crop) / 2)) (Python rounds half to even)",
        "decoders": "every decoder with EXIF ignored; FFmpeg through PyAV",
        "reference": "torchvision's ImageNet evaluation transform",
    },
}


def describe_protocol(protocol: str) -> dict[str, str]:
    """The manifest's record of a generation protocol: its name and what it does."""
    return {"name": protocol, **_PROTOCOLS[protocol]}


def done_variants(root: Path, first: list[str]) -> list[dict[str, Any]]:
    """Manifest entries of every done variant under `root`: `first` in order, then the rest."""
    records = {}
    for path in sorted((root / layout.PROGRESS_DIR).glob("*.json")):
        state = layout.read_json(path)
        if isinstance(state, dict) and state.get("done"):
            records[state["name"]] = state
    order = [name for name in first if name in records]
    order += sorted(name for name in records if name not in order)
    return [_entry(name, records[name]) for name in order]


def _entry(name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline": state["pipeline"],
        "file": layout.data_path(Path(), name).as_posix(),
        "shape": state["shape"],
        "dtype": "uint8",
        "bytes": state["bytes"],
        "sha256": state["sha256"],
        "failures_file": layout.failures_path(Path(), name).as_posix(),
        "failures_sha256": state["failures_sha256"],
        "n_failed": len(state["failures"]),
    }
