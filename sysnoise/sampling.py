"""Seeded, class-stratified samples of a dataset that are the same on every machine.

Each image's place in the draw is the sha256 of the seed and its id, so the sample depends only
on the seed and the ids (no random-number stream that a library release may change).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _key(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}\0{text}".encode()).hexdigest()


def class_quotas(labels: Sequence[int], n: int, seed: int) -> dict[int, int]:
    """How many of `n` images each label gets: proportional to its share of `labels`, the
    remainder going to the largest fractional parts (ties in a seeded order)."""
    counts: dict[int, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    total = len(labels)
    quotas = {label: n * count // total for label, count in counts.items()}
    remainder = n - sum(quotas.values())
    # Exact integer fractional parts (n * count mod total) keep the order machine-independent.
    by_fraction = sorted(
        counts, key=lambda label: (-(n * counts[label] % total), _key(seed, f"class {label}"))
    )
    for label in by_fraction[:remainder]:
        quotas[label] += 1
    return quotas


def stratified_sample(
    image_ids: Sequence[str], labels: Sequence[int], n: int, seed: int
) -> list[int]:
    """Indices (ascending) of a seeded sample of `n` images, stratified by label (unlabelled
    images form their own stratum)."""
    if len(image_ids) != len(labels):
        raise ValueError("stratified_sample needs one label per image id")
    if not 0 <= n <= len(image_ids):
        raise ValueError(f"cannot draw {n} of {len(image_ids)} images")
    members: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        members.setdefault(label, []).append(index)
    chosen = []
    for label, quota in class_quotas(labels, n, seed).items():
        ranked = sorted(members[label], key=lambda i: _key(seed, image_ids[i]))
        chosen.extend(ranked[:quota])
    return sorted(chosen)
