"""Noises by name: the row names of results (``resize=cv2-linear``), one-off lists and suite files.

A noise name is one or more comma-separated parts, each a noise of a built-in suite
(``decoder=pyav``, ``precision=onnxruntime-int8``, ``pil/cv2-area``) or a ``kind=value`` change:
``decoder=D``, ``resize=R`` (a resizer, or the protocol ``squash`` / ``shorter`` /
``crop-resize``), ``colour=C``, ``ceil_mode=flipped``, ``upsample=U``, ``postprocess=P`` (a
detector's post-processing), ``pyramid=R`` (a resizer for a model's own image pyramid),
``backend=B`` and ``precision=B-P`` (backend and precision). ``decoder=cv2,resize=cv2-area`` is
one noise that makes both changes. A suite file is TOML::

    name = "my-suite"
    description = "what it measures"
    noises = ["resize=cv2-linear", "decoder=pyav", "decoder=cv2,resize=cv2-area"]
"""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path
from typing import Any

from sysnoise.errors import SysnoiseError, UnknownNameError
from sysnoise.noises.suites import SUITES, Noise, Suite
from sysnoise.pipeline import RESIZE_PROTOCOLS


def parse_noise(name: str) -> Noise:
    """The Noise a name stands for; unknown parts raise with the closest valid names."""
    parts = [p.strip() for p in name.split(",") if p.strip()]
    if not parts:
        raise SysnoiseError("empty noise name")
    whole = catalogue().get(name.strip())
    if whole is not None:
        return whole
    changes: dict[str, Any] = {}
    for part in parts:
        changes |= _part_changes(part)
    return Noise(",".join(parts), changes)


def parse_cli_noises(text: str) -> list[Noise]:
    """`--noises a,b,c`: one noise per comma; ``a+b`` joins changes into one noise."""
    return [parse_noise(n.replace("+", ",")) for n in text.split(",") if n.strip()]


def load_suite_file(path: Path) -> Suite:
    """The suite a TOML file describes (see the module docstring)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    if not path.is_file():
        raise SysnoiseError(f"suite file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SysnoiseError(f"suite file {path} is not valid TOML: {exc}") from None
    names = data.get("noises")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
        raise SysnoiseError(f"suite file {path}: `noises` must be a non-empty list of names")
    noises = [parse_noise(n) for n in names]
    return custom_suite(
        noises, str(data.get("name") or path.stem), str(data.get("description") or path.name)
    )


def custom_suite(noises: list[Noise], name: str = "custom", description: str = "") -> Suite:
    """A Suite over an explicit list of noises."""
    frozen = list(noises)
    return Suite(name, description or f"{len(frozen)} noises given by name", lambda: frozen)


def resolve_suite(suite: str, noises: str | None = None) -> Suite:
    """The suite to run: `noises` (a `--noises` list) when given, else a suite file (a path
    ending in .toml) or a built-in suite by name."""
    if noises:
        return custom_suite(parse_cli_noises(noises), "custom", f"--noises {noises}")
    if suite.endswith(".toml") or Path(suite).is_file():
        return load_suite_file(Path(suite))
    return SUITES.get(suite)


@cache
def catalogue() -> dict[str, Noise]:
    """Every built-in suite's noises by name (the sysnoise suite first)."""
    order = ["sysnoise", *(n for n in SUITES.names() if n != "sysnoise")]
    found: dict[str, Noise] = {}
    for suite in order:
        for noise in SUITES.get(suite).build():
            found.setdefault(noise.name, noise)
    return found


@cache
def vocabulary() -> dict[str, dict[str, Any]]:
    """Every single ``kind=value`` change sysnoise knows, with its pipeline changes."""
    from sysnoise.backends import BACKENDS
    from sysnoise.noises.colour import COLOURS
    from sysnoise.noises.decoders import DECODERS
    from sysnoise.noises.model_patches import UPSAMPLE_OPS
    from sysnoise.noises.postprocess import postprocess_noises
    from sysnoise.noises.resizers import RESIZERS

    words: dict[str, dict[str, Any]] = {}
    words.update({f"decoder={d}": {"decoder": d} for d in DECODERS})
    words.update({f"resize={r}": {"resizer": r} for r in RESIZERS})
    words.update({f"resize={p}": {"resize_protocol": p} for p in RESIZE_PROTOCOLS})
    words.update({f"colour={c}": {"colour": c} for c in COLOURS})
    words["ceil_mode=flipped"] = {"ceil_mode": "flipped"}
    words.update({f"upsample={u}": {"upsample": u} for u in UPSAMPLE_OPS})
    words.update({f"postprocess={p}": {"postprocess": p} for p in postprocess_noises()})
    words.update({f"pyramid={r}": {"pyramid": r} for r in RESIZERS})
    for backend in BACKENDS:
        words[f"backend={backend}"] = {"backend": backend}
        for precision in BACKENDS.get(backend).precisions:
            words[f"precision={backend}-{precision}"] = {
                "backend": backend,
                "precision": precision,
            }
    return words


def _part_changes(part: str) -> dict[str, Any]:
    noise = catalogue().get(part)
    if noise is not None and noise.category != "combined":
        return dict(noise.changes)
    changes = vocabulary().get(part)
    if changes is not None:
        return changes
    known = list(dict.fromkeys([*catalogue(), *vocabulary()]))
    close = difflib.get_close_matches(part, known, n=5, cutoff=0.6)
    hint = (
        f"did you mean: {', '.join(close)}"
        if close
        else "`sysnoise list noises sysnoise` shows valid names"
    )
    raise UnknownNameError(f"unknown noise {part!r}; {hint}")
