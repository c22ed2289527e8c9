"""What to deploy when a library is imposed: the pipeline closest to the reference for each
decoder and each resize library a run measured."""

from __future__ import annotations

from typing import Any

_PIXEL_FIELDS = {"decoder", "resizer"}


def resize_library(resizer: str) -> str:
    """The library of a resizer name: 'cv2-area' -> 'cv2', 'torch-bilinear-aa' -> 'torch'."""
    return resizer.split("-", 1)[0]


def _candidates(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The reference and every row that changes only the decoder and/or the resizer, with its
    effective decoder and resizer."""
    reference = document["reference_pipeline"]
    candidates = [
        {
            "pipeline": "reference",
            "decoder": reference["decoder"],
            "resizer": reference["resizer"],
            "flip_rate": 0.0,
            "delta_top1": 0.0 if document["reference"].get("top1") is not None else None,
            "n_failed": 0,
            "n_changes": 0,
        }
    ]
    for row in document["rows"]:
        changes = row.get("changes") or {}
        if not changes or not set(changes) <= _PIXEL_FIELDS or row.get("flip_rate") is None:
            continue
        candidates.append(
            {
                "pipeline": row["noise"],
                "decoder": changes.get("decoder", reference["decoder"]),
                "resizer": changes.get("resizer", reference["resizer"]),
                "flip_rate": row["flip_rate"],
                "delta_top1": row["delta_top1"],
                "n_failed": row["n_failed"],
                "n_changes": sum(changes[f] != reference[f] for f in changes),
            }
        )
    return candidates


def _closeness(candidate: dict[str, Any]) -> tuple[float, float, int, str]:
    """Lowest flip rate, then lowest |Δtop-1|; on a tie the pipeline with fewer changes."""
    delta = candidate["delta_top1"]
    magnitude = abs(delta) if delta is not None else 0.0
    return (candidate["flip_rate"], magnitude, candidate["n_changes"], candidate["pipeline"])


def deployment_advice(document: dict[str, Any]) -> list[dict[str, Any]]:
    """For each decoder and each resize library in the run, the measured pipeline closest to the
    reference (lowest flip rate, then lowest |Δtop-1|); only libraries with a choice to make
    (two or more measured pipelines) are listed. Pipelines with failed images are left out."""
    candidates = {}
    for candidate in _candidates(document):
        if candidate["n_failed"] == 0:  # one per (decoder, resizer), the first measured
            candidates.setdefault((candidate["decoder"], candidate["resizer"]), candidate)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for candidate in candidates.values():
        groups.setdefault(("decoder", candidate["decoder"]), []).append(candidate)
        groups.setdefault(("resize", resize_library(candidate["resizer"])), []).append(candidate)
    advice = []
    for (kind, name), members in groups.items():
        if len(members) < 2:
            continue
        best = min(members, key=_closeness)
        tied = [
            f"{m['decoder']} + {m['resizer']}"
            for m in members
            if m is not best and _closeness(m)[:2] == _closeness(best)[:2]
        ]
        advice.append(
            {
                "imposed": f"{kind} {name}",
                "use": f"decoder {best['decoder']}, resize {best['resizer']}",
                "pipeline": best["pipeline"],
                "flip_rate": best["flip_rate"],
                "delta_top1": best["delta_top1"],
                "options": len(members),
                "tied_with": tied,
            }
        )
    return sorted(advice, key=lambda a: a["imposed"])
