"""Argument types shared by the subcommands: each rejects a bad value with the rule it broke."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def positive(text: str) -> int:
    """An integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative(text: str) -> int:
    """An integer of at least 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """A number of at least 0 (not NaN)."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def check_output_dir(path: Path, option: str) -> None:
    """Refuse, before any work, an output folder that is a file or cannot be created or written."""
    from sysnoise.errors import SysnoiseError

    if path.exists() and not path.is_dir():
        raise SysnoiseError(f"{option} {path} is an existing file, not a folder; name a folder")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SysnoiseError(f"{option} {path} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SysnoiseError(f"{option} {path} is not writable here; name a writable folder")


def check_limits() -> None:
    """Refuse a malformed SYSNOISE_MAX_PIXELS or SYSNOISE_MAX_FILE_BYTES before any work."""
    from sysnoise.fileio import max_file_bytes
    from sysnoise.noises.decoders import max_pixels

    max_pixels()
    max_file_bytes()
