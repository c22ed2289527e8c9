"""Undo what a test registers: side environments add decoders and resizers to global registries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sysnoise.noises import decoders, resizers, sideenv


@contextmanager
def restored_registries() -> Iterator[None]:
    """The decoder, resizer and side-environment tables as they were before the block."""
    tables = [
        decoders.DECODERS._entries,
        resizers.RESIZERS._entries,
        sideenv._ENVIRONMENTS,
        sideenv._ENTRY_ENVIRONMENTS,
    ]
    saved = [dict(table) for table in tables]
    try:
        yield
    finally:
        for table, copy in zip(tables, saved, strict=True):
            table.clear()
            table.update(copy)
