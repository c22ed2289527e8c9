"""A real small results document for the leaderboard tests, made once per test session."""

from __future__ import annotations

import json
from pathlib import Path

from sysnoise.cli import main


def generated_result(base: Path) -> dict:
    """A real quick-suite result on 3 images, made once per session under `base`."""
    out = base / "leaderboard-result"
    found = sorted(out.glob("*.json"))
    if not found:
        argv = ["bench", "--suite", "quick", "--limit", "3", "--out", str(out)]
        argv += ["--cache-dir", str(base / "leaderboard-cache"), "--no-progress"]
        assert main(argv) == 0
        found = sorted(out.glob("*.json"))
    return json.loads(found[0].read_text())
