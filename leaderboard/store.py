"""The board's entries: one validated results JSON per submission in an entries folder."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from sysnoise.document import utc_now
from sysnoise.errors import SysnoiseError
from sysnoise.fileio import atomic_write_text
from sysnoise.leaderboard.validate import board_problems, check

DEFAULT_ENTRIES_DIR = Path(__file__).resolve().parent / "entries"
MAX_ENTRY_BYTES = 4 << 20  # a 120-noise result is about 400 kB; per-image data is a side file
_MAX_NAME_LENGTH = 64
_HASH_LENGTH = 12


def content_hash(document: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the result, leaving out the submission block."""
    result = {k: v for k, v in document.items() if k != "submission"}
    canonical = json.dumps(
        result, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def sanitise_name(name: str) -> str:
    """`name` reduced to [A-Za-z0-9._-], with no '..', no leading dot and a capped length."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", name)
    safe = re.sub(r"\.{2,}", ".", safe).strip(".-")[:_MAX_NAME_LENGTH].strip(".-")
    return safe or "model"


def entry_stem(document: dict[str, Any]) -> str:
    """``<sanitised model name>-<12 hex of the content hash>``: the entry's file stem."""
    name = document.get("model", {}).get("name", "model")
    return f"{sanitise_name(str(name))}-{content_hash(document)[:_HASH_LENGTH]}"


def submit(
    document: dict[str, Any],
    *,
    name: str | None = None,
    paper: str | None = None,
    notes: str | None = None,
    code: str | None = None,
    entries_dir: Path = DEFAULT_ENTRIES_DIR,
) -> tuple[Path, bool]:
    """Validate and store `document`; (its entry path, whether it was new). Nothing is written
    unless the entry, submission block included, is valid."""
    if not isinstance(document, dict):
        check(document)  # says what it is instead of an object
    result = {k: v for k, v in document.items() if k != "submission"}
    check(result, board=True)  # every task's schema and cross checks, a built-in suite
    root = Path(entries_dir).resolve()
    path = (root / f"{entry_stem(result)}.json").resolve()
    if path.parent != root:
        raise SysnoiseError(f"entry path {path} would leave the entries folder {root}")
    if path.exists():
        return path, False
    entry = {
        **result,
        "submission": {
            "name": name or result["model"]["name"],
            "paper": paper,
            "code": code,
            "notes": notes,
            "submitted": utc_now(),
        },
    }
    check(entry, board=True)
    text = json.dumps(entry, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if len(text.encode()) > MAX_ENTRY_BYTES:
        raise SysnoiseError(
            f"the entry would take {len(text.encode())} bytes, more than {MAX_ENTRY_BYTES}; "
            "submit the results JSON that sysnoise bench wrote, without added data"
        )
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path, True


def load_entries(
    entries_dir: Path = DEFAULT_ENTRIES_DIR, problems: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every valid entry in `entries_dir`, by file name; invalid files go to `problems`.

    A missing entries folder is a SysnoiseError: an empty board would hide a wrong path."""
    if not Path(entries_dir).is_dir():
        raise SysnoiseError(
            f"entries folder {entries_dir} does not exist or is not a folder; pass --entries DIR"
        )
    entries = []
    for path in sorted(Path(entries_dir).glob("*.json")):
        try:
            document = read_entry(path)
        except SysnoiseError as exc:
            _report(problems, f"{path.name}: unreadable ({exc})")
            continue
        found = board_problems(document)
        if found:
            _report(problems, f"{path.name}: invalid ({'; '.join(found[:5])})")
            continue
        entries.append(document)
    return entries


def read_entry(path: Path) -> Any:
    """The parsed JSON of a regular file of at most MAX_ENTRY_BYTES; SysnoiseError otherwise."""
    from sysnoise.fileio import read_regular_file

    try:
        return json.loads(read_regular_file(path, MAX_ENTRY_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise SysnoiseError(f"no such file: {path}") from None
    except OSError as exc:
        raise SysnoiseError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SysnoiseError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise SysnoiseError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise SysnoiseError(f"{path} is nested too deeply to be a results document") from None


def _report(problems: list[str] | None, message: str) -> None:
    if problems is not None:
        problems.append(message)
