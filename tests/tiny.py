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


def tiny_bn_classifier(prototypes: np.ndarray, seed: int = 0) -> torch.nn.Module:
    """A seeded conv net (conv, BatchNorm, ReLU, max-pool, linear) that acts trained.

    Its linear head is a nearest-prototype classifier over its own features: class k is the
    centred feature direction of `prototypes[k]` (a normalised NCHW batch), so inputs that look
    like different prototypes get different, confident classes, as with a trained model.
    """
    torch.manual_seed(seed)
    features = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, stride=2, padding=1),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
    )
    for module in features:
        if isinstance(module, torch.nn.BatchNorm2d):  # non-trivial running statistics
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    features.eval()
    with torch.no_grad():
        embedded = features(torch.from_numpy(prototypes))
        centre = embedded.mean(0)
        directions = embedded - centre
        directions = directions / directions.norm(dim=1, keepdim=True)
        head = torch.nn.Linear(embedded.shape[1], len(prototypes))
        head.weight.copy_(directions * 10)
        head.bias.copy_(-(directions * 10) @ centre)
    return torch.nn.Sequential(features, head).eval()


def photo_crops(count: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """`count` normalised (N, 3, size, size) float32 crops of two real photos, seeded."""
    from images import astronaut, china

    rng = np.random.default_rng(seed)
    photos = [astronaut()[::4, ::4], china()[::4, ::4]]  # downscaled so a crop holds objects
    crops = []
    for index in range(count):
        photo = photos[index % len(photos)]
        top = rng.integers(0, photo.shape[0] - size + 1)
        left = rng.integers(0, photo.shape[1] - size + 1)
        crops.append(photo[top : top + size, left : left + size])
    batch = np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2) / 255
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((batch - mean) / std, dtype=np.float32)


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


def pooled_classifier() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=2),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(3, stride=2),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 1000),
    ).eval()


def bench_argv(tmp_path: Path, *extra: str) -> list[str]:
    """`sysnoise bench` arguments that keep outputs and cache under `tmp_path`, quietly."""
    out, cache = str(tmp_path / "out"), str(tmp_path / "cache")
    return ["bench", "--out", out, "--cache-dir", cache, "--no-progress", *extra]
