"""Side environments: decoders and resizers from another Python environment, in a worker process.

Some libraries cannot share an interpreter with the ones sysnoise runs on: Pillow-SIMD replaces
Pillow, and comparing two releases of one library (Pillow 9 against Pillow 13, two OpenCV builds)
needs both installed at once. A `SideEnvironment` is such an environment's interpreter. Its kernels
(`sideenv_worker.py`, run there by path) are called from a long-lived worker process over a pipe,
and return numpy arrays to the main process. Where the environment is absent, every entry that
uses it says why (`availability`) and is skipped, never silently replaced by the main Pillow.

Built in: Pillow-SIMD, in ``.venv-pillow-simd`` (``make pillow-simd-env``) or at the interpreter
named by ``$SYSNOISE_PILLOW_SIMD_PYTHON``. Others: ``$SYSNOISE_SIDE_ENVS`` holds
``PREFIX:KIND:PYTHON`` entries separated by ``;`` (KIND ``pillow`` or ``opencv``), e.g.
``pillow-9.5:pillow:/opt/pillow95/bin/python``, which registers decoder ``pillow-9.5`` and
resizers ``pillow-9.5-bilinear`` and so on. Entries are registered by `register_side_entries`.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
import threading
import weakref
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.errors import SysnoiseError
from sysnoise.noises import sideenv_worker
from sysnoise.noises.decoders import DECODERS, Decoder
from sysnoise.noises.resizers import RESIZERS, Resizer

WORKER_SCRIPT = Path(sideenv_worker.__file__).resolve()
PILLOW_SIMD_PYTHON_VARIABLE = "SYSNOISE_PILLOW_SIMD_PYTHON"
SIDE_ENVS_VARIABLE = "SYSNOISE_SIDE_ENVS"
_STDERR_TAIL = 2000


class SideEnvironmentError(SysnoiseError):
    """The side environment's worker could not be started or died."""


class SideEnvironment:
    """An interpreter of another environment, and a worker process in it started on first use.

    `distributions` and `modules` are what `availability` checks the environment has; `versions`
    reports the distributions' versions and what the `version_kernels` return; `setup_hint` says
    how to build it. `kernels_file` is a Python file of the user's own kernels (a ``KERNELS``
    dict of name -> function), loaded into the worker when it starts. Safe to use after a fork:
    each process starts its own worker.
    """

    def __init__(
        self,
        name: str,
        python: Path,
        setup_hint: str,
        distributions: tuple[str, ...] = (),
        modules: tuple[str, ...] = (),
        kernels_file: Path | None = None,
        version_kernels: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.python = Path(python)
        self.setup_hint = setup_hint
        self.distributions = distributions
        self.modules = modules
        self.kernels_file = kernels_file
        self.version_kernels = version_kernels
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._stderr: Any = None
        self._owner_pid = -1
        self._probe: dict[str, str] | str | None = None  # versions, or why it is unavailable

    def __repr__(self) -> str:
        return f"SideEnvironment({self.name!r}, {str(self.python)!r})"

    def availability(self) -> str | None:
        """None when the environment runs and has what it needs, else why not (checked once)."""
        if self._probe is None:
            self._probe = self._run_probe()
        return self._probe if isinstance(self._probe, str) else None

    def versions(self) -> dict[str, str]:
        """Python, numpy and the checked distributions' versions in the environment."""
        reason = self.availability()
        if reason is not None:
            raise SideEnvironmentError(reason)
        assert isinstance(self._probe, dict)
        return dict(self._probe)

    def call(self, kernel: str, *args: Any) -> Any:
        """Run `kernel(*args)` in the worker; its exception comes back as a RuntimeError."""
        with self._lock:
            process = self._ensure_worker()
            try:
                sideenv_worker.write_message(process.stdin, {"call": kernel, "args": list(args)})
                reply = sideenv_worker.read_message(process.stdout)
            except (OSError, EOFError, ValueError) as exc:
                message = self._died(f"{type(exc).__name__}: {exc}")
                self._stop()
                raise SideEnvironmentError(message) from None
            if reply is None:
                message = self._died("it closed its output")
                self._stop()
                raise SideEnvironmentError(message)
        if not reply["ok"]:
            raise RuntimeError(f"{self.name}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        """Stop this process's worker (a new one starts on the next call)."""
        with self._lock:
            self._stop()

    def _run_probe(self) -> dict[str, str] | str:
        if not (self.python.is_file() and os.access(self.python, os.X_OK)):
            return f"no interpreter at {self.python}: {self.setup_hint}"
        try:
            versions = self.call("probe", list(self.distributions), list(self.modules))
            for kernel in self.version_kernels:
                versions.update(self.call(kernel))
        except (SysnoiseError, RuntimeError) as exc:
            return f"{exc} ({self.setup_hint})"
        return {str(k): str(v) for k, v in versions.items()}

    def _ensure_worker(self) -> subprocess.Popen:
        if self._owner_pid != os.getpid():  # a forked child must not talk on its parent's pipes
            self._stop()
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()  # a worker that died: close its pipes before starting the next
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                [str(self.python), "-u", str(WORKER_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
            )
        except OSError as exc:
            raise SideEnvironmentError(
                f"cannot start {self.python} for side environment {self.name!r}: {exc}"
            ) from None
        self._owner_pid = os.getpid()
        _LIVE.add(self)
        if self.kernels_file is not None:
            sideenv_worker.write_message(
                self._process.stdin, {"call": "load", "args": [str(self.kernels_file)]}
            )
            reply = sideenv_worker.read_message(self._process.stdout)
            if reply is None or not reply["ok"]:
                error = reply["error"] if reply else "the worker exited"
                self._stop()
                raise SideEnvironmentError(f"{self.name}: cannot load {self.kernels_file}: {error}")
        return self._process

    def _died(self, what: str) -> str:
        tail = ""
        try:
            if self._process is not None:
                self._process.wait(timeout=2)  # let it finish writing its last words
        except subprocess.TimeoutExpired:
            pass
        if self._stderr is not None:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip()
            tail = f"; its stderr ends: {text[-_STDERR_TAIL:]}" if text else ""
        return f"the worker of side environment {self.name!r} ({self.python}) failed: {what}{tail}"

    def _stop(self) -> None:
        process, self._process = self._process, None
        stderr, self._stderr = self._stderr, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout, stderr):
            try:
                if stream is not None:
                    stream.close()  # in a forked child: only its copies, the worker is unharmed
            except OSError:
                pass
        if self._owner_pid != os.getpid():
            process.returncode = 0  # the parent's worker: not this process's to wait for
            return
        try:
            process.wait(timeout=5)  # its input closed, the worker ends
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_LIVE: weakref.WeakSet[SideEnvironment] = weakref.WeakSet()  # every environment with a worker


_ENVIRONMENTS: dict[str, SideEnvironment] = {}


def _close_all() -> None:
    for environment in list(_LIVE):
        environment.close()


atexit.register(_close_all)


def side_environment(name: str) -> SideEnvironment:
    """A registered side environment by name."""
    try:
        return _ENVIRONMENTS[name]
    except KeyError:
        valid = ", ".join(sorted(_ENVIRONMENTS)) or "(none)"
        raise SysnoiseError(f"unknown side environment {name!r}; registered: {valid}") from None


_ENTRY_ENVIRONMENTS: dict[tuple[str, str], SideEnvironment] = {}


def environment_of(kind: str, name: str) -> SideEnvironment | None:
    """The side environment the decoder or resizer `name` runs in; None for in-process ones."""
    return _ENTRY_ENVIRONMENTS.get((kind, name))


def _side_decode(environment: SideEnvironment, kernel: str, data: bytes, min_side: int) -> Any:
    return environment.call(kernel, data)


def _side_resize(
    environment: SideEnvironment,
    kernel: str,
    option: str,
    image: np.ndarray,
    out_h: int,
    out_w: int,
) -> Any:
    return environment.call(kernel, np.ascontiguousarray(image), out_h, out_w, option)


# suffix, interpolation, antialias on downscale, library option
_PILLOW_FILTERS = (
    ("nearest", "nearest", False, "NEAREST"),
    ("bilinear", "bilinear", True, "BILINEAR"),
    ("bicubic", "bicubic", True, "BICUBIC"),
    ("lanczos", "lanczos", True, "LANCZOS"),
    ("box", "box", True, "BOX"),
    ("hamming", "hamming", True, "HAMMING"),
)
_OPENCV_FLAGS = (
    ("nearest", "nearest", False, "INTER_NEAREST"),
    ("linear", "linear", False, "INTER_LINEAR"),
    ("cubic", "cubic", False, "INTER_CUBIC"),
    ("area", "area", True, "INTER_AREA"),
    ("lanczos4", "lanczos4", False, "INTER_LANCZOS4"),
    ("nearest-exact", "nearest-exact", False, "INTER_NEAREST_EXACT"),
)
_KINDS = {"pillow": ("pil", "Pillow", _PILLOW_FILTERS), "opencv": ("cv2", "OpenCV", _OPENCV_FLAGS)}


def register_environment(environment: SideEnvironment, prefix: str, kind: str) -> list[str]:
    """Register `environment` with a decoder `prefix` and resizers `prefix-<filter>`.

    `kind` says which built-in kernels they call: "pillow" (any Pillow or Pillow-SIMD release)
    or "opencv". Returns the names added; names already registered are left as they are.
    """
    if kind not in _KINDS:
        raise SysnoiseError(f"unknown side environment kind {kind!r}; valid: {', '.join(_KINDS)}")
    module, library, table = _KINDS[kind]
    _ENVIRONMENTS.setdefault(environment.name, environment)
    added = []
    where = f"{library} in side environment {environment.name!r} ({environment.python})"
    if prefix not in DECODERS:
        DECODERS.add(
            prefix,
            Decoder(
                prefix,
                f"{library} ({environment.name})",
                f"{where}: decode to RGB, EXIF orientation ignored",
                partial(_side_decode, environment, f"{module}.decode"),
                availability=environment.availability,
            ),
        )
        _ENTRY_ENVIRONMENTS[("decoder", prefix)] = environment
        added.append(prefix)
    for suffix, interpolation, antialias, option in table:
        name = f"{prefix}-{suffix}"
        if name in RESIZERS:
            continue
        RESIZERS.add(
            name,
            Resizer(
                name,
                f"{library} ({environment.name})",
                interpolation,
                antialias,
                f"{where}: {option}",
                partial(_side_resize, environment, f"{module}.resize", option),
                availability=environment.availability,
            ),
        )
        _ENTRY_ENVIRONMENTS[("resizer", name)] = environment
        added.append(name)
    return added


def pillow_simd_python() -> Path:
    """The Pillow-SIMD interpreter: $SYSNOISE_PILLOW_SIMD_PYTHON, else the .venv-pillow-simd
    beside this environment (where `make pillow-simd-env` puts it next to `.venv`)."""
    configured = os.environ.get(PILLOW_SIMD_PYTHON_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path(sys.prefix).parent / ".venv-pillow-simd" / "bin" / "python"


def _pillow_simd() -> SideEnvironment:
    return SideEnvironment(
        "pillow-simd",
        pillow_simd_python(),
        setup_hint=f"run `make pillow-simd-env`, or set ${PILLOW_SIMD_PYTHON_VARIABLE}",
        distributions=("pillow-simd",),
        modules=("PIL.Image",),
        version_kernels=("pil.versions",),
    )


def parse_side_envs(text: str) -> list[tuple[str, str, Path]]:
    """(prefix, kind, python) for each ``PREFIX:KIND:PYTHON`` entry of a ``;``-separated list."""
    entries = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        parts = item.split(":", 2)
        if len(parts) != 3 or not all(parts) or parts[1] not in _KINDS:
            raise SysnoiseError(
                f"${SIDE_ENVS_VARIABLE} entry {item!r} must look like PREFIX:KIND:PYTHON with "
                f"KIND one of {', '.join(_KINDS)} (e.g. pillow-9.5:pillow:/opt/p95/bin/python)"
            )
        entries.append((parts[0], parts[1], Path(parts[2]).expanduser()))
    return entries


def register_side_entries() -> list[str]:
    """Register Pillow-SIMD and the $SYSNOISE_SIDE_ENVS environments (once); the names added."""
    added = register_environment(
        _ENVIRONMENTS.get("pillow-simd") or _pillow_simd(), "pillow-simd", "pillow"
    )
    for prefix, kind, python in parse_side_envs(os.environ.get(SIDE_ENVS_VARIABLE, "")):
        environment = _ENVIRONMENTS.get(prefix) or SideEnvironment(
            prefix,
            python,
            setup_hint=f"check the interpreter given for {prefix!r} in ${SIDE_ENVS_VARIABLE}",
            modules=("PIL.Image",) if kind == "pillow" else ("cv2",),
            version_kernels=("pil.versions",) if kind == "pillow" else ("cv2.versions",),
        )
        added += register_environment(environment, prefix, kind)
    return added


def side_versions(decoders: list[str], resizers: list[str]) -> dict[str, dict[str, str] | str]:
    """Versions in each side environment the given entries use (or why it is unavailable)."""
    used: dict[str, SideEnvironment] = {}
    for kind, names in (("decoder", decoders), ("resizer", resizers)):
        for name in names:
            environment = environment_of(kind, name)
            if environment is not None:
                used[environment.name] = environment
    report: dict[str, dict[str, str] | str] = {}
    for name, environment in sorted(used.items()):
        reason = environment.availability()
        report[name] = environment.versions() if reason is None else f"unavailable: {reason}"
    return report


__all__ = [
    "SideEnvironment",
    "SideEnvironmentError",
    "environment_of",
    "parse_side_envs",
    "pillow_simd_python",
    "register_environment",
    "register_side_entries",
    "side_environment",
    "side_versions",
]
