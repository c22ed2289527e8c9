"""Write an ImageNet-S set: every variant's uint8 model inputs, resumably, manifest last.

Each worker reads a file once, hashes it, and makes all pending variants of it with one
`ImagePreparer` (one decode per decoder, one resize per distinct resize). The main process writes
rows into each variant's .npy at their offsets and, every `chunk_size` images, makes them durable
and only then advances that variant's progress record. A variant is marked done only after its
file is complete, synced and hashed. A re-run reads the records and continues from the first
chunk a variant is missing, so an interruption (Ctrl-C, kill) costs at most one chunk; the rows it
rewrites come out bit-identical. The manifest is written last, atomically. Under torchrun each
rank does this for its own rows (`sysnoise.imagenet_s.parts`), and the files come out the same.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sysnoise.config import default_cache_dir
from sysnoise.datasets import Dataset, load_folder, sample_dataset
from sysnoise.errors import SysnoiseError
from sysnoise.imagenet_s import layout
from sysnoise.imagenet_s.manifest import write_manifest
from sysnoise.imagenet_s.parts import (
    Records,
    check_shared,
    drop_other_parts,
    drop_parts,
    merge_parts,
    rank_records,
)
from sysnoise.imagenet_s.prepare import DIGEST_BYTES, prepare_all
from sysnoise.imagenet_s.variants import (
    Variant,
    base_pipeline,
    check_protocol,
    parse_variants,
    with_protocol,
)
from sysnoise.pipeline import Pipeline

if TYPE_CHECKING:
    from sysnoise.distributed import Shard

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateConfig:
    """What `sysnoise imagenet-s generate` writes, from which images, and how."""

    out: Path
    data: Path | None = None  # None: the embedded sample set
    labels: Path | None = None
    variants: str = "imagenet-s"
    protocol: str = "published"  # or "shorter"; see sysnoise.imagenet_s.variants
    crop_size: int = 224
    resize_size: int | None = None  # None: crop_size * 256 / 224
    model: str | None = None  # take sizes and normalisation from this model's reference instead
    workers: int = 0
    chunk_size: int = 256
    limit: int | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    progress: bool = True


@dataclass(frozen=True)
class GenerateOutcome:
    """A finished set: its manifest, and which variants this run wrote, reused and skipped."""

    manifest_path: Path
    written: list[str]
    reused: list[str]
    skipped: dict[str, str]
    n_images: int
    images_processed: int
    seconds: float


def generate(
    config: GenerateConfig, after_chunk: Callable[[int], None] | None = None
) -> GenerateOutcome | None:
    """Generate (or resume) the set `config` describes; `after_chunk(k)` runs after chunk k.

    Under torchrun the ranks share the work (`write_set`); rank 0 returns the outcome, the
    others None.
    """
    from sysnoise.distributed import current_shard

    if config.chunk_size < 1 or config.workers < 0:
        raise SysnoiseError("chunk size must be at least 1 and workers 0 or more")
    if config.data is None:
        dataset = sample_dataset(config.cache_dir)
    else:
        dataset = load_folder(config.data, config.labels)
    check_protocol(config.protocol)
    variants = parse_variants(config.variants, _base(config), config.protocol)
    shard = current_shard()
    try:
        return write_set(
            dataset.limit(config.limit), config.out, variants, config, after_chunk, shard
        )
    finally:
        shard.end()


def _base(config: GenerateConfig) -> Pipeline:
    if config.model is None:
        return base_pipeline(config.crop_size, config.resize_size, config.protocol)
    from sysnoise.zoo import resolve_model

    return with_protocol(resolve_model(config.model).reference, config.protocol)


def write_set(
    dataset: Dataset,
    root: Path,
    variants: list[Variant],
    config: GenerateConfig,
    after_chunk: Callable[[int], None] | None = None,
    shard: Shard | None = None,
) -> GenerateOutcome | None:
    """Write `variants` of `dataset` under `root`, resuming what a previous run left.

    With several ranks, rank 0 checks the folder and creates the files, each rank writes the rows
    of its slice of the images (`Shard.bounds`) and records its own progress, so that it resumes
    its own slice; the ranks then hash the variants between them and rank 0 writes the manifest:
    the same bytes one process writes. `root` must be a folder every rank sees. `shard`: this
    process's rank (default: the only one). Rank 0 returns the outcome, the others None.
    """
    from sysnoise.distributed import Shard

    started = time.perf_counter()
    shard = shard or Shard()
    if not dataset.records:
        raise SysnoiseError("the dataset has no images")
    skipped = {}
    for variant in variants:
        reason = variant.unavailable_reason()
        if reason is not None:
            logger.warning("skipping variant %s: %s", variant.name, reason)
            skipped[variant.name] = reason
    if len({tuple(sorted(names)) for names in shard.everyone(list(skipped))}) > 1:
        raise SysnoiseError(
            "the ranks cannot run the same variants: give every node the same libraries"
        )
    runnable = [v for v in variants if v.name not in skipped]
    if not runnable:
        raise SysnoiseError("none of the requested variants can run here (reasons above)")
    root = Path(root)
    n = len(dataset)
    handles = None
    if shard.writes:
        _check_run_record(root, dataset)
        states = {v.name: _load_state(root, v, n) for v in runnable}
        pending = [v for v in runnable if not states[v.name]["done"]]
        fill = bool(pending) or not layout.sources_path(root).is_file()
        if fill:
            handles = _open(root, n, pending, states)
        drop_other_parts(root, shard.world)
    states, fill = shard.share((states, fill) if shard.writes else None)
    check_shared(root, shard)
    pending = [v for v in runnable if not states[v.name]["done"]]
    processed = 0
    if fill:
        if handles is None:
            handles = _open(root, n, pending, states, create=False)
        rows = shard.bounds(n)
        if shard.world == 1:
            records = {
                v.name: (states[v.name], layout.progress_path(root, v.name)) for v in pending
            }
        else:
            records = rank_records(root, pending, states, shard, rows)
        processed = _fill(dataset, rows, handles, pending, records, config, after_chunk)
    processed = sum(shard.everyone(processed))  # and every rank's rows are now durable
    mine = pending[shard.rank :: shard.world]
    if shard.world > 1:
        for variant in mine:
            merge_parts(root, variant.name, states[variant.name], shard.world)
    image_ids = [r.image_id for r in dataset.records]
    with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:  # hashing is I/O bound
        list(pool.map(lambda v: _finish(root, v, states[v.name], image_ids), mine))
    shard.barrier()
    if not shard.writes:
        return None
    shutil.rmtree(layout.parts_dir(root), ignore_errors=True)
    skipped_entries = [
        {"name": v.name, "pipeline": v.pipeline.to_dict(), "reason": skipped[v.name]}
        for v in variants
        if v.name in skipped
    ]
    manifest_path = write_manifest(
        root, dataset, [v.name for v in runnable], skipped_entries, config.protocol
    )
    return GenerateOutcome(
        manifest_path=manifest_path,
        written=[v.name for v in pending],
        reused=[v.name for v in runnable if v not in pending],
        skipped=skipped,
        n_images=n,
        images_processed=processed,
        seconds=time.perf_counter() - started,
    )


def _check_run_record(root: Path, dataset: Dataset) -> None:
    """Refuse to resume on other images, or with other library versions than the set began."""
    from sysnoise.noises.decoders import library_versions

    path = layout.run_record_path(root)
    record = {
        "image_ids": [r.image_id for r in dataset.records],
        "labels": [r.label for r in dataset.records],
        "library_versions": library_versions(),
    }
    if not path.is_file():
        layout.write_json(path, record)
        return
    previous = layout.read_json(path)
    if (previous.get("image_ids"), previous.get("labels")) != (
        record["image_ids"],
        record["labels"],
    ):
        raise SysnoiseError(f"{root} holds a set of other images or labels; use a new --out folder")
    if previous.get("library_versions") != record["library_versions"]:
        raise SysnoiseError(
            f"{root} was begun with other image library versions "
            f"({previous.get('library_versions')}); finish it in that environment or use a new "
            "--out folder"
        )


def _load_state(root: Path, variant: Variant, n_images: int) -> dict[str, Any]:
    """The variant's progress record: resumed, or new when there is none or its file is lost."""
    fresh = {
        "name": variant.name,
        "pipeline": variant.pipeline.to_dict(),
        "shape": [n_images, variant.pipeline.crop_size, variant.pipeline.crop_size, 3],
        "images_done": 0,
        "failures": [],
        "done": False,
    }
    path = layout.progress_path(root, variant.name)
    if not path.is_file():
        return fresh
    state = layout.read_json(path)
    if (state.get("pipeline"), state.get("shape")) != (fresh["pipeline"], fresh["shape"]):
        raise SysnoiseError(
            f"variant {variant.name} in {root} was generated with other settings "
            f"({state.get('pipeline')}); use a new --out folder"
        )
    data = layout.data_path(root, variant.name)
    if state["done"] and not (data.is_file() and data.stat().st_size == state["bytes"]):
        logger.warning(
            "variant %s was done, but its file is gone or resized: redoing it", variant.name
        )
        return fresh
    return state


@dataclass
class _Chunk:
    """What changed since the last commit: failures, and the variants written."""

    failures: dict[str, list[list[Any]]] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)


@dataclass
class _Handles:
    """The open row files: source digests, and one per pending variant."""

    sources: layout.RowFile
    files: dict[str, layout.RowFile]

    def close(self) -> None:
        self.sources.close()
        for handle in self.files.values():
            handle.close()


def _open(
    root: Path, n: int, pending: list[Variant], states: dict[str, dict[str, Any]], create=True
) -> _Handles:
    """Open (create, with `create`) the row files; a variant whose file was lost starts again."""
    sources = layout.RowFile(layout.sources_path(root), n, (DIGEST_BYTES,), "uint8")
    files = {}
    for variant in pending:
        state = states[variant.name]
        shape = tuple(state["shape"][1:])
        path = layout.data_path(root, variant.name)
        files[variant.name] = layout.RowFile(path, n, shape, "uint8")
        if files[variant.name].fresh:  # its data file was lost (or is new): start it again
            state.update(images_done=0, failures=[])
            drop_parts(root, variant.name)
    handles = _Handles(sources, files)
    if not create and (sources.fresh or any(f.fresh for f in files.values())):
        handles.close()
        raise SysnoiseError(f"{root}: rank 0's files are not here; use a folder every rank sees")
    return handles


def _fill(
    dataset: Dataset,
    rows: tuple[int, int],
    handles: _Handles,
    pending: list[Variant],
    records: Records,
    config: GenerateConfig,
    after_chunk: Callable[[int], None] | None,
) -> int:
    """Produce the missing rows of `pending` in `rows`, committing chunk by chunk; images
    processed. Closes `handles`."""
    from tqdm import tqdm

    first, stop = rows
    done_at = [records[v.name][0]["images_done"] for v in pending]
    start = first if handles.sources.fresh else min(done_at, default=stop)
    tasks = (
        (i, str(dataset.records[i].path), tuple(k for k, d in enumerate(done_at) if i >= d))
        for i in range(start, stop)
    )
    chunk = _Chunk()
    progress = tqdm(total=stop - start, unit="img", desc="generating", disable=not config.progress)
    try:
        results = prepare_all(tasks, [v.pipeline for v in pending], config.workers)
        for index, digest, outputs in results:
            handles.sources.write(index, np.frombuffer(digest, dtype=np.uint8))
            for position, output in outputs:
                name = pending[position].name
                _store(handles.files[name], index, output, name, chunk)
            progress.update(1)
            if (index + 1) % config.chunk_size == 0 or index + 1 == stop:
                _commit(index + 1, handles, records, chunk)
                chunk = _Chunk()
                if after_chunk is not None:
                    after_chunk(index // config.chunk_size)
    finally:
        progress.close()
        handles.close()
    return stop - start


def _store(file: layout.RowFile, index: int, output: Any, name: str, chunk: _Chunk) -> None:
    chunk.touched.add(name)
    if isinstance(output, str):
        chunk.failures.setdefault(name, []).append([index, output])
        file.write(index, np.zeros(file.shape[1:], dtype=np.uint8))
    else:
        file.write(index, output)


def _commit(end: int, handles: _Handles, records: Records, chunk: _Chunk) -> None:
    """Make the chunk's rows durable, then (and only then) advance the progress records."""
    handles.sources.sync()
    for name in chunk.touched:
        handles.files[name].sync()
    for name in sorted(chunk.touched):
        record, path = records[name]
        record["failures"] += chunk.failures.get(name, [])
        record["images_done"] = end
        layout.write_json(path, record)


def _finish(root: Path, variant: Variant, state: dict[str, Any], image_ids: list[str]) -> None:
    """Write the failures sidecar, hash both files, and only then mark the variant done."""
    if state["images_done"] != state["shape"][0]:
        raise RuntimeError(f"variant {variant.name} is incomplete")  # a bug, not a user error
    sidecar = layout.failures_path(root, variant.name)
    failures = [
        {"index": i, "image_id": image_ids[i], "error": message} for i, message in state["failures"]
    ]
    layout.write_json(sidecar, {"variant": variant.name, "failures": failures})
    data = layout.data_path(root, variant.name)
    state.update(
        done=True,
        sha256=layout.sha256_file(data),
        bytes=data.stat().st_size,
        failures_sha256=layout.sha256_file(sidecar),
    )
    layout.write_json(layout.progress_path(root, variant.name), state)
