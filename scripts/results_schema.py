"""Write (or check) the shipped JSON Schema of the results document, generated from its types.

    .venv/bin/python scripts/results_schema.py           # rewrite the shipped schema file
    .venv/bin/python scripts/results_schema.py --check   # exit 1 when the shipped file is stale
"""

from __future__ import annotations

import argparse
import sys

from sysnoise.document import results_schema_text
from sysnoise.leaderboard.validate import SCHEMA_FILE

COMMAND = "python scripts/results_schema.py"


def main(argv: list[str] | None = None) -> int:
    """Write the schema; with --check, only say whether the shipped one is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    text = results_schema_text()
    current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.is_file() else None
    if args.check:
        if current != text:
            print(f"{SCHEMA_FILE} is not the schema the types give; run `{COMMAND}`")
            return 1
        print(f"{SCHEMA_FILE} is current")
        return 0
    SCHEMA_FILE.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
