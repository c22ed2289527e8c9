"""The k best classes of each row of logits, as a stable full sort orders them."""

from __future__ import annotations

import numpy as np


def top_k(logits: np.ndarray, k: int) -> np.ndarray:
    """(N, k) indices of each row's k largest logits, best first, ties to the lower index.

    Exactly `np.argsort(-logits, axis=1, kind="stable")[:, :k]`, NaN last included, without
    sorting all 1,000 classes: a partition finds the k largest, and only rows where a tie at the
    k-th value leaves the choice open (or a logit is not finite) take the full sort.
    """
    negated = -logits
    classes = negated.shape[1]
    if classes <= k:
        return np.argsort(negated, axis=1, kind="stable")[:, :k]
    candidates = np.argpartition(negated, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(negated, candidates, axis=1)
    order = np.lexsort((candidates, values), axis=1)  # by value, then index
    top = np.take_along_axis(candidates, order, axis=1)
    kth = np.take_along_axis(values, order[:, -1:], axis=1)
    ambiguous = ~np.isfinite(negated).all(axis=1) | ((negated <= kth).sum(axis=1) > k)
    if ambiguous.any():
        top[ambiguous] = np.argsort(negated[ambiguous], axis=1, kind="stable")[:, :k]
    return top
