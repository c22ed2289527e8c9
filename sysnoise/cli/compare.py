"""`sysnoise compare`: two runs on the same images, noise by noise."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `compare` and its options."""
    parser = commands.add_parser(
        "compare",
        help="compare two results on the same images, noise by noise",
        description="Compare two runs on the same dataset (two models, or one model in two "
        "environments): per noise, the difference in flip rate and in Δtop-1 with 95% "
        "intervals, from the two predictions files, and the images whose outcome differs.",
    )
    parser.add_argument("a", type=Path, help="results JSON A (its predictions file beside it)")
    parser.add_argument("b", type=Path, help="results JSON B (its predictions file beside it)")
    parser.add_argument("--json", action="store_true", help="the records as JSON on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load both runs, compare, print."""
    from sysnoise.compare import compare_runs, compare_table, load_run

    a, b = load_run(args.a), load_run(args.b)
    records = compare_runs(a, b)
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    print(f"A: {a.label}, {args.a.name}\nB: {b.label}, {args.b.name}")
    print(f"{len(records)} noises in both runs, on {a.document['dataset']['name']}\n")
    options = {"max_rows": None, "max_colwidth": 60, "na_rep": "-"}
    print(compare_table(records).to_string(index=False, **options))
    if records and "task" in records[0]:
        print(
            "\nΔ = reference minus noisy, each run against its own reference, with its paired "
            "bootstrap interval; A-B: square-and-add of the two intervals (ignores their "
            "correlation: errs wide); changed = share of "
            + ("pixels" if records[0]["task"] == "segmentation" else "images")
            + " whose prediction differs from the run's own reference."
        )
        return 0
    print(
        "\nflip = share of images whose top-1 differs from the run's own reference; flip A-B: "
        "Newcombe paired interval (same images); Δtop1 A-B: square-and-add of the two runs' "
        "paired intervals (ignores their correlation: errs wide); images differ: flipped in "
        "one run and not in the other."
    )
    return 0
