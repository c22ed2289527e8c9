"""One evaluation across processes and nodes, on torch.distributed (launched by torchrun).

    torchrun --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT] -m sysnoise bench ...

Each rank takes a deterministic share of the images, balanced by their estimated cost (the same
share for the same files and number of ranks), evaluates it through the one engine with its own
prediction store (so after an interruption each rank resumes its own share), and rank 0 gathers
the outcomes into exactly the evaluation a single process makes, in dataset order, and writes the
results. The outcomes are compact top-5 arrays on the CPU, gathered over gloo; on GPU machines
the process group also carries NCCL for device tensors, and each rank uses the GPU of its local
rank. `imagenet-s generate` writes contiguous row ranges (`Shard.bounds`) into shared variant files
(`sysnoise.imagenet_s.generate.write_set`).
"""

from __future__ import annotations

import dataclasses
import heapq
import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sysnoise.datasets import Dataset
from sysnoise.engine import Evaluation
from sysnoise.errors import SysnoiseError
from sysnoise.fileio import regular_file_problem

T = TypeVar("T")
# How long a rank waits for the others at a collective: ranks finish their slices at different
# times (a resumed rank, a slower node), and the wait for the slowest is normal, not a fault.
_WAIT = timedelta(hours=24)
# Preparing an image costs a fixed part (its crops: resizes to the output size, hashes,
# comparisons) and a part that grows with its pixels (decoding, resizing): on the sample set
# under the decoders-x-resizers suite, an image of this many pixels cost twice the fixed part.
_PIXELS_PER_FIXED_COST = 600_000


@dataclass(frozen=True)
class Shard:
    """This process's part of a run: rank `rank` of `world` (0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    owns_group: bool = False  # the process group was started here, and is ended here

    @property
    def writes(self) -> bool:
        """Whether this rank writes the results (rank 0)."""
        return self.rank == 0

    def bounds(self, count: int) -> tuple[int, int]:
        """The [start, stop) range of this rank's rows among `count`: a contiguous slice, for
        outputs that ranks write side by side (`imagenet-s generate`)."""
        return self.rank * count // self.world, (self.rank + 1) * count // self.world

    def positions(self, dataset: Dataset) -> list[int]:
        """This rank's images of `dataset`, by position, in dataset order.

        Images are not equal work, and a contiguous slice of a folder can hold all its large
        photos: each image, costliest first, goes to the rank with the least estimated work so
        far (`_estimated_cost`). The same shares for the same files and number of ranks."""
        count = len(dataset.records)
        if self.world == 1:
            return list(range(count))
        costs = [_estimated_cost(record.path) for record in dataset.records]
        totals = [(0.0, rank) for rank in range(self.world)]  # a heap: least work first
        mine = []
        for i in sorted(range(count), key=lambda i: (-costs[i], i)):
            total, rank = heapq.heappop(totals)
            heapq.heappush(totals, (total + costs[i], rank))
            if rank == self.rank:
                mine.append(i)
        return sorted(mine)

    def select(self, dataset: Dataset) -> Dataset:
        """This rank's images of `dataset` (see `positions`)."""
        if self.world == 1:
            return dataset
        records = tuple(dataset.records[i] for i in self.positions(dataset))
        return dataclasses.replace(dataset, records=records)

    def store_path(self, path: Path) -> Path:
        """This rank's prediction store: `path` itself in a single process, else one per rank."""
        if self.world == 1:
            return path
        return path.with_name(f"{path.stem}.rank{self.rank}{path.suffix}")

    def gather(self, evaluation: Evaluation) -> Evaluation | None:
        """On rank 0, every rank's evaluation merged into the whole dataset's; None elsewhere."""
        if self.world == 1:
            return evaluation
        import torch.distributed as dist

        parts: list[Any] | None = [None] * self.world if self.writes else None
        dist.gather_object(evaluation, parts, dst=0)
        self.end()
        return None if parts is None else merge_evaluations(parts)

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def share(self, value: T) -> T:
        """Rank 0's `value`, on every rank (picklable values)."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        box = [value if self.writes else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def everyone(self, value: T) -> list[T]:
        """Every rank's `value`, in rank order, on every rank (picklable values)."""
        if self.world == 1:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def end(self) -> None:
        """End the process group if it was started here."""
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def current_shard() -> Shard:
    """This process's shard, joining torchrun's process group when WORLD_SIZE is over 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Shard()
    import torch
    import torch.distributed as dist

    owns_group = not dist.is_initialized()
    if owns_group:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend="cpu:gloo,cuda:nccl", timeout=_WAIT)
        else:
            dist.init_process_group(backend="gloo", timeout=_WAIT)
    return Shard(dist.get_rank(), dist.get_world_size(), owns_group)


def merge_evaluations(parts: list[Evaluation]) -> Evaluation:
    """The evaluation of the images of every part, as one process makes it.

    Per-image fields are joined, per-pipeline tables joined key by key, error maps united, and
    counts summed, then every per-image field is put in dataset order (a dataset keeps its images
    sorted by id, and so does each rank's share); every rank must have evaluated the same
    pipelines.
    """
    keys = list(parts[0].top5)
    for rank, part in enumerate(parts):
        if list(part.top5) != keys:
            raise SysnoiseError(
                f"rank {rank} evaluated other noises than rank 0 ({sorted(part.top5)} vs "
                f"{sorted(keys)}): give every node the same libraries and devices"
            )
    values = {}
    for field in dataclasses.fields(Evaluation):
        pieces = [getattr(part, field.name) for part in parts]
        if isinstance(pieces[0], dict):  # per pipeline: merge each pipeline's pieces
            values[field.name] = {
                key: _join(field.name, [piece[key] for piece in pieces]) for key in pieces[0]
            }
        else:
            values[field.name] = _join(field.name, pieces)
    ids = values["image_ids"]
    order = sorted(range(len(ids)), key=ids.__getitem__)
    if order == list(range(len(ids))):
        return Evaluation(**values)
    ordered_ids = [ids[i] for i in order]
    for name, value in values.items():
        if isinstance(value, dict):
            values[name] = {key: _reorder(item, order, ordered_ids) for key, item in value.items()}
        else:
            values[name] = _reorder(value, order, ordered_ids)
    return Evaluation(**values)


def _estimated_cost(path: Path) -> float:
    """The preparation cost of the image at `path`, in units of an image's fixed part, from the
    pixel count in its header; 1 where the header cannot be read (the engine reports why)."""
    from PIL import Image

    if regular_file_problem(path) is not None:
        return 1.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return 1.0
    return 1.0 + width * height / _PIXELS_PER_FIXED_COST


def _reorder(value: Any, order: list[int], ordered_ids: list[str]) -> Any:
    """A joined per-image value put in dataset order (`order`: joined positions, in that order);
    other values as they are."""
    if isinstance(value, list):
        return [value[i] for i in order]
    if isinstance(value, np.ndarray):
        return value[order]
    if isinstance(value, dict):  # image id -> message
        return {image_id: value[image_id] for image_id in ordered_ids if image_id in value}
    return value


def _join(name: str, pieces: list[Any]) -> Any:
    """Consecutive slices' values of one field joined: lists and arrays concatenated, maps by
    image united, counts summed, names that every rank shares kept."""
    first = pieces[0]
    if isinstance(first, list):
        return [item for piece in pieces for item in piece]
    if isinstance(first, np.ndarray):
        return np.concatenate(pieces)
    if isinstance(first, dict):
        return {key: value for piece in pieces for key, value in piece.items()}
    if isinstance(first, int):
        return sum(pieces)
    if isinstance(first, str) and all(piece == first for piece in pieces):
        return first  # the same on every rank (the task)
    raise TypeError(f"Evaluation.{name}: cannot join {type(first).__name__} across ranks")
