"""One evaluation across processes and nodes, on torch.distributed (launched by torchrun).

    torchrun --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT] -m sysnoise bench ...

Each rank takes a contiguous, deterministic slice of the images (the same slice for the same
dataset and number of ranks), evaluates it through the one engine with its own prediction store
(so after an interruption each rank resumes its own slice), and rank 0 gathers the outcomes into
exactly the evaluation a single process makes, in dataset order, and writes the results. The
outcomes are compact top-5 arrays on the CPU, gathered over gloo; on GPU machines the process
group also carries NCCL for device tensors, and each rank uses the GPU of its local rank.
`imagenet-s generate` shards the same slices (`sysnoise.imagenet_s.generate.write_set`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sysnoise.datasets import Dataset
from sysnoise.engine import Evaluation
from sysnoise.errors import SysnoiseError

T = TypeVar("T")
# How long a rank waits for the others at a collective: ranks finish their slices at different
# times (a resumed rank, a slower node), and the wait for the slowest is normal, not a fault.
_WAIT = timedelta(hours=24)


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
        """The [start, stop) range of this rank's images among `count`, in dataset order."""
        return self.rank * count // self.world, (self.rank + 1) * count // self.world

    def select(self, dataset: Dataset) -> Dataset:
        """This rank's images of `dataset`."""
        if self.world == 1:
            return dataset
        start, stop = self.bounds(len(dataset.records))
        return dataclasses.replace(dataset, records=dataset.records[start:stop])

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
    """The evaluation of the concatenated slices `parts` (in rank order), as one process makes it.

    Per-image fields are concatenated, per-pipeline tables concatenated key by key, error maps
    joined, and counts summed; every rank must have evaluated the same pipelines.
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
    return Evaluation(**values)


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
