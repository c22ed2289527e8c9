"""Atomic file writes (a reader sees the old file or the whole new one, never half of one), and
reading untrusted image files: regular files only, of bounded size."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then move it into place.

    The file gets the usual permissions (0666 less the umask), not a temporary file's 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


MAX_FILE_BYTES_ENV = "SYSNOISE_MAX_FILE_BYTES"
_DEFAULT_MAX_FILE_BYTES = 64 << 20  # ImageNet's largest validation JPEG is under 16 MB


def max_file_bytes() -> int:
    """The largest image file read: ``$SYSNOISE_MAX_FILE_BYTES``, else 64 MiB."""
    return positive_env_int(MAX_FILE_BYTES_ENV, _DEFAULT_MAX_FILE_BYTES, "bytes")


def positive_env_int(name: str, default: int, unit: str) -> int:
    """The positive integer in environment variable `name`, else `default`; a one-line error
    naming the variable for anything else."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        from sysnoise.errors import SysnoiseError

        raise SysnoiseError(f"{name}={text!r} must be a positive number of {unit}")
    return value


def regular_file_problem(path: Path, limit: int | None = None) -> str | None:
    """Why `path` (symbolic links followed) is not a regular file of at most `limit` bytes to
    read as an image, or None. FIFOs, devices and folders are refused: reading them can block
    forever (a FIFO) or never end (/dev/zero)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else "it no longer exists"
    except OSError as exc:
        return f"cannot stat it: {exc.strerror or exc}"
    return _stat_problem(info, max_file_bytes() if limit is None else limit, limit is None)


def _stat_problem(info: os.stat_result, limit: int, configurable: bool) -> str | None:
    if stat.S_ISDIR(info.st_mode):
        return "a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a FIFO, socket or device)"
    if info.st_size > limit:
        hint = f" (set {MAX_FILE_BYTES_ENV})" if configurable else ""
        return f"{info.st_size} bytes, over the limit of {limit}{hint}"
    return None


def read_regular_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of `path` if it is a regular file of at most `limit` bytes (default
    `max_file_bytes()`); OSError otherwise. Opened without blocking and checked on the open
    descriptor, so a file swapped for a FIFO after it was listed cannot hang the reader."""
    configurable = limit is None
    limit = max_file_bytes() if limit is None else limit
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(descriptor, "rb") as handle:
        problem = _stat_problem(os.fstat(descriptor), limit, configurable)
        if problem is not None:
            raise OSError(errno.EINVAL, problem)
        data = handle.read(limit + 1)
    if len(data) > limit:  # grew after the check
        raise OSError(errno.EFBIG, f"more than {limit} bytes")
    return data
