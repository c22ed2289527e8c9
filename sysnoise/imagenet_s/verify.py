"""Re-hash a generated set and say which variants are intact, damaged or missing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sysnoise.imagenet_s import layout

OK, DAMAGED, MISSING, SKIPPED = "ok", "damaged", "missing", "skipped"


@dataclass(frozen=True)
class VariantCheck:
    """The state of one variant's files against the manifest."""

    name: str
    status: str  # ok, damaged, missing, or skipped (never generated: its reason)
    detail: str

    @property
    def bad(self) -> bool:
        """Whether the variant is damaged or missing."""
        return self.status in (DAMAGED, MISSING)


def verify(root: Path, threads: int = 2) -> list[VariantCheck]:
    """One check per variant of the manifest (and per skipped one), in manifest order."""
    root = Path(root)
    manifest = layout.read_manifest(root)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        checks = list(pool.map(lambda entry: _check(root, entry), manifest["variants"]))
    checks += [VariantCheck(s["name"], SKIPPED, s["reason"]) for s in manifest.get("skipped", [])]
    return checks


def _check(root: Path, entry: dict[str, Any]) -> VariantCheck:
    problems, missing = [], []
    for key, hash_key in (("file", "sha256"), ("failures_file", "failures_sha256")):
        path = root / entry[key]
        if not path.is_file():
            missing.append(entry[key])
            continue
        if key == "file" and path.stat().st_size != entry["bytes"]:
            problems.append(f"{entry[key]} has {path.stat().st_size} bytes, not {entry['bytes']}")
        elif layout.sha256_file(path) != entry[hash_key]:
            problems.append(f"{entry[key]} does not match its sha256")
    if missing:
        return VariantCheck(entry["name"], MISSING, "no " + ", ".join(missing))
    if problems:
        return VariantCheck(entry["name"], DAMAGED, "; ".join(problems))
    return VariantCheck(entry["name"], OK, f"{entry['bytes']} bytes, {entry['n_failed']} failed")


def format_checks(checks: list[VariantCheck]) -> str:
    """A plain table: variant, status, detail."""
    width = max([len("variant")] + [len(c.name) for c in checks])
    lines = [f"{'variant':<{width}}  {'status':<8}  detail"]
    lines += [f"{c.name:<{width}}  {c.status:<8}  {c.detail}" for c in checks]
    return "\n".join(lines)
