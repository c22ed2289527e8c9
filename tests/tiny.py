"""Small real models and datasets for fast tests of the engine and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sysnoise.backends.torch_eager import TorchEagerBackend
from sysnoise.datasets import Dataset, ImageRecord


def tiny_classifier(seed: int = 0) -> torch.nn.Module:
    """A seeded conv net with 1000 outputs: sensitive to pixels, fast on a CPU."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 1000),
    ).eval()


class CountingBackend(TorchEagerBackend):
    """The torch backend that counts the inputs it runs, and can fail after some batches."""

    def __init__(self, fail_after_batches: int | None = None) -> None:
        super().__init__(device="cpu")
        self.rows = 0
        self.batches = 0
        self.fail_after_batches = fail_after_batches

    def infer(self, batch: np.ndarray) -> np.ndarray:
        if self.fail_after_batches is not None and self.batches >= self.fail_after_batches:
            raise KeyboardInterrupt
        self.rows += len(batch)
        self.batches += 1
        return super().infer(batch)


def write_dataset(
    folder: Path, files: dict[str, bytes], labels: dict[str, int] | None = None
) -> Dataset:
    """Write `files` into `folder` and return them as a Dataset (label -1 unless given)."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        label = (labels or {}).get(name, -1)
        records.append(ImageRecord(image_id=name, path=folder / name, label=label))
    return Dataset(name="tiny", root=folder, records=tuple(records), description="test images")
