"""The `sysnoise` command: one subcommand per module."""

from __future__ import annotations

import argparse
import errno
import sys

from sysnoise.errors import SysnoiseError

# A full disk, a quota or a read-only folder: the environment, not a bug.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand."""
    from sysnoise.cli import (
        bench,
        compare,
        diff,
        imagenet_s,
        leaderboard,
        listing,
        report,
        submit,
    )

    parser = argparse.ArgumentParser(
        prog="sysnoise",
        description="Measure how much system noise (decoders, resizers, ...) costs a model.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench.add_parser(commands)
    listing.add_parser(commands)
    submit.add_parser(commands)
    leaderboard.add_parser(commands)
    imagenet_s.add_parser(commands)
    diff.add_parser(commands)
    report.add_parser(commands)
    compare.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, and turn user errors into one clear line and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SysnoiseError as exc:
        print(f"sysnoise: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"sysnoise: error: cannot write{where}: {exc.strerror}; free space or choose "
            "another folder, then run again (finished predictions are cached)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            "sysnoise: interrupted; finished predictions are cached, run the same command "
            "again to resume",
            file=sys.stderr,
        )
        return 130


def one_line(exc: SysnoiseError) -> str:
    """The message of `exc`; when torch re-raised it from a DataLoader worker, with the worker's
    traceback folded into the message, only the original message."""
    text = str(exc)
    if "\nOriginal Traceback" in text:
        last = text.rstrip().splitlines()[-1]
        return last.split("SysnoiseError: ", 1)[-1]
    return text


if __name__ == "__main__":
    sys.exit(main())
