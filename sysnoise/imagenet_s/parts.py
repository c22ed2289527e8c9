"""Generation across torchrun ranks: each rank's progress on its own rows of every variant.

Rank r of W keeps, per pending variant, a record of its rows ([start, stop) of `Shard.bounds`),
how far it has written them and the failures among them, in ``progress/parts/``; it commits it
chunk by chunk as one process commits the variant's own record, so that after an interruption it
resumes its own rows. Once every rank is done, the records fold into the variant's record exactly
as one process would have left it. A run with another number of ranks starts the rows again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sysnoise.errors import SysnoiseError
from sysnoise.imagenet_s import layout
from sysnoise.imagenet_s.variants import Variant

if TYPE_CHECKING:
    from sysnoise.distributed import Shard

# A progress record (images_done, failures) and the file it is kept in, per variant.
Records = dict[str, tuple[dict[str, Any], Path]]


def drop_other_parts(root: Path, world: int) -> None:
    """Forget the ranks' progress of a run with another number of ranks (its rows are redone)."""
    for part in layout.parts_dir(root).glob("*.json"):
        if not part.name.endswith(f"-of-{world}.json"):
            part.unlink()


def drop_parts(root: Path, name: str) -> None:
    """Forget the ranks' progress on variant `name` (its file was lost)."""
    stem = layout.variant_stem(name)
    for part in layout.parts_dir(root).glob("*.json"):
        if part.name.rsplit(".", 2)[0] == stem:
            part.unlink()


def check_shared(root: Path, shard: Shard) -> None:
    """Refuse to go on unless every rank sees the folder rank 0 set up."""
    seen = shard.everyone(layout.run_record_path(root).is_file())
    blind = [rank for rank, ok in enumerate(seen) if not ok]
    if blind:
        raise SysnoiseError(
            f"rank(s) {blind} do not see {root}, which rank 0 set up: give --out a folder on a "
            "filesystem every node shares"
        )


def rank_records(
    root: Path,
    pending: list[Variant],
    states: dict[str, dict[str, Any]],
    shard: Shard,
    rows: tuple[int, int],
) -> Records:
    """This rank's progress records on its rows: resumed, or begun where the variant's record
    (from a single-process run) left them."""
    start, stop = rows
    records = {}
    for variant in pending:
        path = layout.part_path(root, variant.name, shard.rank, shard.world)
        record = layout.read_json(path) if path.is_file() else None
        if record is None or record.get("rows") != [start, stop]:
            state = states[variant.name]
            begin = min(max(start, state["images_done"]), stop)
            failures = [f for f in state["failures"] if start <= f[0] < begin]
            record = {"rows": [start, stop], "images_done": begin, "failures": failures}
            layout.write_json(path, record)
        records[variant.name] = (record, path)
    return records


def merge_parts(root: Path, name: str, state: dict[str, Any], world: int) -> None:
    """Fold the ranks' records of variant `name` into its record: complete, failures in order."""
    failures = []
    for rank in range(world):
        part = layout.read_json(layout.part_path(root, name, rank, world))
        if part["images_done"] != part["rows"][1]:
            raise RuntimeError(f"rank {rank} left variant {name} incomplete")  # a bug
        failures += part["failures"]
    state.update(images_done=state["shape"][0], failures=failures)
