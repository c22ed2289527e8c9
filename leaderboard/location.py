"""Where the board's entries live: in a checkout, its `leaderboard/entries`; in an installed
package, the entries it ships (read-only) plus a writable folder of the user's own submissions."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

ENTRIES_VARIABLE = "SYSNOISE_ENTRIES"
SHIPPED_ENTRIES_DIR = Path(__file__).resolve().parent / "entries"


def installed() -> bool:
    """Whether sysnoise runs from an installed package (site-packages), not from a checkout."""
    here = Path(__file__).resolve()
    roots = {sysconfig.get_path(name) for name in ("purelib", "platlib")}
    return any(root and here.is_relative_to(Path(root).resolve()) for root in roots)


def default_entries_dir() -> Path:
    """Where `submit` writes and the board reads: ``$SYSNOISE_ENTRIES``; else a checkout's
    `leaderboard/entries`; else, for an installed package, ``$XDG_DATA_HOME/sysnoise/entries``
    (``~/.local/share/sysnoise/entries``), never the package's own folder."""
    if os.environ.get(ENTRIES_VARIABLE):
        return Path(os.environ[ENTRIES_VARIABLE]).expanduser()
    if not installed():
        return SHIPPED_ENTRIES_DIR
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "sysnoise" / "entries"


def board_dirs(entries_dir: Path | None) -> list[Path]:
    """The folders a board is built from: `entries_dir` alone when given; by default the
    default folder and, where it is another one, the entries this package ships."""
    if entries_dir is not None:
        return [entries_dir]
    default = default_entries_dir()
    return list(dict.fromkeys([default.resolve(), SHIPPED_ENTRIES_DIR]))
