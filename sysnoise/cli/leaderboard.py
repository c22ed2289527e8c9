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
    show = actions.add_parser("show", help="print one table per task, dataset and suite")
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
    """One ranked table per group, as wide as the terminal allows."""
    import shutil
    import textwrap

    from sysnoise.leaderboard.table import group_entries, terminal_table

    width = shutil.get_terminal_size(fallback=(100, 24)).columns
    groups = group_entries(entries)
    if not groups:
        print("no entries on the board")
    for group in groups:
        print(textwrap.fill(group.title, width))
        print(textwrap.fill(f"({group.scale_note})", width))
        if group.board is not None:
            print(textwrap.fill(f"{group.task.capitalize()}, {group.ranking}.", width))
        text, hidden = terminal_table(group.frame, width, group.core_columns)
        print(text)
        if hidden:
            named = ", ".join(hidden[:3]) + (", ..." if len(hidden) > 3 else "")
            note = (
                f"{len(hidden)} more columns ({named}) do not fit: widen the terminal, or see "
                "leaderboard.csv from `sysnoise leaderboard build`"
            )
            print(textwrap.fill(note, width))
        print()
    if not groups or any(group.board is None for group in groups):
        print(
            textwrap.fill(
                "Classification: ranked by mean flip % (share of images whose top-1 changes, over "
                "the single noises; lower is more robust); Δ = reference minus noisy top-1 in pp.",
                width,
            )
        )
    return 0
