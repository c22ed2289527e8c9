"""Regenerate the shipped leaderboard entries: each offline model on the sample set, each suite.

    .venv/bin/python scripts/regenerate_entries.py                      # every offline model
    .venv/bin/python scripts/regenerate_entries.py --models mobilenet_v2 --suites sysnoise
    .venv/bin/python scripts/regenerate_entries.py --models craft mtcnn  # the dense ones

Classifiers run under `SUITES`, the dense models (segmentation, detection) under their own
suites in `DENSE_MODELS`; `--suites` overrides both. Each (model, suite) is run with `sysnoise
bench` on the embedded sample set and submitted to the entries folder; the entry it replaces
(same model, suite and dataset name, so also one measured on an older version of the sample set)
is removed. A model the zoo does not know is skipped with
a message, so the list can name models that are still to come.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from sysnoise.cli import main as sysnoise_main
from sysnoise.config import default_cache_dir
from sysnoise.errors import SysnoiseError
from sysnoise.leaderboard.store import DEFAULT_ENTRIES_DIR, submit

OFFLINE_MODELS = ("mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
SUITES = ("imagenet-s", "sysnoise")
# Dense models that run offline, scored by agreement with their reference (the sample set has no
# masks or boxes), under the suites whose noises reach them. Not imagenet-s: its grid is the
# published one for ImageNet classifiers' resize protocols.
DENSE_MODELS = {"craft": ("quick", "sysnoise"), "mtcnn": ("quick", "sysnoise")}


def unknown_model_reason(model: str) -> str | None:
    """Why `model` cannot be run here (the zoo does not know it), or None."""
    from sysnoise.zoo import resolve_model

    try:
        resolve_model(model)
    except SysnoiseError as exc:
        return str(exc).split(";")[0].splitlines()[0]
    return None


def regenerate(
    model: str, suite: str, entries: Path, cache_dir: Path, work: Path, extra: list[str]
) -> Path | None:
    """Bench `model` under `suite` on the sample set and submit it; the new entry, or None."""
    out = work / f"{model}-{suite}"
    argv = ["bench", "--model", model, "--suite", suite, "--out", str(out)]
    argv += ["--cache-dir", str(cache_dir), "--no-progress", *extra]
    if sysnoise_main(argv) != 0:
        return None
    [result] = sorted(out.glob("*.json"))
    document = json.loads(result.read_text(encoding="utf-8"))
    path, _ = submit(document, entries_dir=entries)
    for stale in _same_run_entries(entries, document):
        if stale.resolve() != path.resolve():
            stale.unlink()
            print(f"removed the replaced entry {stale.name}")
    return path


def _same_run_entries(entries: Path, document: dict[str, Any]) -> list[Path]:
    """Entries for the same model name, suite and dataset name as `document`."""
    key = _run_key(document)
    same = []
    for path in sorted(entries.glob("*.json")):
        try:
            other = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # not an entry this script wrote; leave it to `sysnoise leaderboard`
        if isinstance(other, dict) and _run_key(other) == key:
            same.append(path)
    return same


def _run_key(document: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return (
            document["model"]["name"],
            document["suite"]["name"],
            document["dataset"]["name"],
        )
    except (KeyError, TypeError):
        return ()


def main(argv: list[str] | None = None) -> int:
    """Regenerate the entries of the given models and suites; 1 if any run failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", default=[*OFFLINE_MODELS, *DENSE_MODELS], metavar="MODEL"
    )
    parser.add_argument(
        "--suites",
        nargs="+",
        default=None,
        metavar="SUITE",
        help=f"default: {', '.join(SUITES)} for classifiers, DENSE_MODELS' for dense models",
    )
    parser.add_argument("--entries", type=Path, default=DEFAULT_ENTRIES_DIR)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="first N images (quick checks)")
    args = parser.parse_args(argv)
    cache_dir = args.cache_dir or default_cache_dir()
    extra = ["--batch", str(args.batch)] + (
        [] if args.limit is None else ["--limit", str(args.limit)]
    )
    failed = []
    with tempfile.TemporaryDirectory(prefix="sysnoise-entries-") as work:
        for model in args.models:
            reason = unknown_model_reason(model)
            if reason is not None:
                print(f"skipped {model}: not known to this installation ({reason})")
                continue
            for suite in args.suites or DENSE_MODELS.get(model, SUITES):
                print(f"== {model}, suite {suite}", flush=True)
                path = regenerate(model, suite, args.entries, cache_dir, Path(work), extra)
                if path is None:
                    failed.append(f"{model}/{suite}")
                else:
                    print(f"entry {path}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
