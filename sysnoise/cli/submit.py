"""`sysnoise submit`: add a results JSON to the leaderboard's entries."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sysnoise.errors import SysnoiseError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `submit` and its options."""
    from sysnoise.cli.leaderboard import add_entries_option

    parser = commands.add_parser(
        "submit",
        help="validate a results JSON and add it to the leaderboard",
        description="Validate a results JSON and add it to the leaderboard's entries.",
    )
    parser.add_argument("file", type=Path, help="results JSON written by `sysnoise bench`")
    parser.add_argument("--name", default=None, help="display name (default: the model name)")
    parser.add_argument("--paper", default=None, help="paper or project URL")
    parser.add_argument("--code", default=None, help="code repository URL")
    parser.add_argument("--notes", default=None, help="free-text notes shown on the entry page")
    add_entries_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validate and store the file; say whether it was new."""
    from sysnoise.leaderboard.location import default_entries_dir
    from sysnoise.leaderboard.store import submit

    path, created = submit(
        read_document(args.file),
        name=args.name,
        paper=args.paper,
        code=args.code,
        notes=args.notes,
        entries_dir=args.entries or default_entries_dir(),
    )
    print(f"added {path}" if created else f"already on the board: {path}")
    return 0


def read_document(path: Path) -> Any:
    """The parsed JSON at `path`, or a SysnoiseError saying why it cannot be read."""
    from sysnoise.leaderboard.store import read_entry

    if not path.exists():
        raise SysnoiseError(f"no such results file: {path}")
    return read_entry(path)
