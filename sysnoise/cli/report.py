"""`sysnoise report`: re-print the report of any results JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `report` and its options."""
    parser = commands.add_parser(
        "report",
        help="print the report of a results JSON",
        description="Print the report of a results JSON written by `sysnoise bench`: what the "
        "run can detect, the most harmful noises first, categories, the combined stack, what to "
        "deploy and what was left out.",
    )
    parser.add_argument("file", type=Path, help="results JSON written by `sysnoise bench`")
    parser.add_argument("--all", action="store_true", help="every row, not only the most harmful")
    parser.add_argument("--csv", action="store_true", help="the rows table as CSV on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read, validate and print."""
    from sysnoise.cli.submit import read_document
    from sysnoise.leaderboard.validate import check
    from sysnoise.report import format_report, rows_table

    document = read_document(args.file)
    check(document)
    if args.csv:
        rows_table(document, limit=None).to_csv(sys.stdout, index=False)
    else:
        print(format_report(document, all_rows=args.all))
    return 0
