"""Run a list of models through one suite and submit each result to the leaderboard.

    python scripts/run_models.py mobilenet_v2 resnet50 --suite sysnoise --data /path/to/val

Each model is one `sysnoise bench` run (same options, same cache: an interrupted campaign resumes),
then one `sysnoise submit`. A model that cannot run (missing weights) is reported and skipped; the
exit status is 1 when any model failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from sysnoise.bench import run_bench
from sysnoise.config import BenchConfig
from sysnoise.errors import SysnoiseError
from sysnoise.leaderboard.location import default_entries_dir
from sysnoise.leaderboard.store import submit


def main(argv: list[str] | None = None) -> int:
    """Bench and submit every model named on the command line; 1 when any failed."""
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model names (sysnoise list models)")
    parser.add_argument("--suite", default=defaults.suite)
    parser.add_argument("--data", type=Path, default=None, help="default: the sample set")
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch", type=int, default=defaults.batch_size)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--device", default=defaults.device)
    parser.add_argument("--out", type=Path, default=defaults.out_dir)
    parser.add_argument("--entries", type=Path, default=None, help="entries folder to submit to")
    parser.add_argument("--no-submit", action="store_true", help="bench only")
    args = parser.parse_args(argv)
    base = BenchConfig(
        suite=args.suite,
        data=args.data,
        labels=args.labels,
        limit=args.limit,
        batch_size=args.batch,
        workers=args.workers,
        device=args.device,
        out_dir=args.out,
    )
    failed = []
    for model in args.models:
        try:
            outcome = run_bench(dataclasses.replace(base, model=model))
            print(f"{model}: wrote {outcome.json_path}")
            if not args.no_submit:
                document = json.loads(outcome.json_path.read_text(encoding="utf-8"))
                path, created = submit(document, entries_dir=args.entries or default_entries_dir())
                print(f"{model}: {'added' if created else 'already on the board:'} {path}")
        except SysnoiseError as exc:
            print(f"{model}: {exc}", file=sys.stderr)
            failed.append(model)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
