"""`sysnoise leaderboard build|show`: render the board, or print it in the terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `leaderboard` with its `build` and `show` actions."""
    parser = commands.add_parser(
        "leaderboard",
        help="build the leaderboard site or show the board",
        description="Build the static leaderboard site, or print the board as tables.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="write the static site, LEADERBOARD.md and CSV")
    build.add_argument("--out", type=Path, default=Path("site"), help="output folder (site/)")
    show = actions.add_parser("show", help="print one table per dataset and suite")
    for action in (build, show):
        add_entries_option(action)
    parser.set_defaults(run=run)


def add_entries_option(parser: argparse.ArgumentParser) -> None:
    """The `--entries DIR` option shared by the leaderboard commands."""
    from sysnoise.leaderboard.location import ENTRIES_VARIABLE, default_entries_dir

    parser.add_argument(
        "--entries",
        type=Path,
        default=None,
        help=f"entries folder (default ${ENTRIES_VARIABLE}, else {default_entries_dir()}; the "
        "board also shows the entries sysnoise ships)",
    )


def run(args: argparse.Namespace) -> int:
    """Load the valid entries (reporting invalid ones on stderr) and build or show the board."""
    from sysnoise.cli.argtypes import check_output_dir
    from sysnoise.leaderboard.location import board_dirs
    from sysnoise.leaderboard.store import content_hash, load_entries

    if args.action == "build":
        check_output_dir(args.out, "--out")
    problems: list[str] = []
    entries = []
    for folder in board_dirs(args.entries):
        if args.entries is None and not folder.exists():
            continue  # the default folder of one's own submissions, before the first one
        entries += load_entries(folder, problems)  # a named folder must exist
    entries = list({content_hash(entry): entry for entry in entries}.values())
    for problem in problems:
        print(f"sysnoise: skipped {problem}", file=sys.stderr)
    if args.action == "build":
        from sysnoise.leaderboard.render import build_site

        index = build_site(entries, args.out)
        print(f"wrote {index} ({len(entries)} entries), LEADERBOARD.md and leaderboard.csv")
        return 0
    return _show(entries)


def _show(entries: list[dict]) -> int:
    from sysnoise.leaderboard.table import group_entries

    groups = group_entries(entries)
    if not groups:
        print("no entries on the board")
    for group in groups:
        print(group.title)
        print(group.frame.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.2f}"))
        print()
    return 0
