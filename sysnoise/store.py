"""On-disk prediction cache: what a run has computed survives an interruption.

One SQLite file holds, per (model fingerprint, pipeline key, image content hash), the top-5 classes
and scores, the hash of the model input, its difference from the reference input, or the decode
error. 5 classes and 5 scores are what every metric needs and keep a 50,000-image x 120-noise run
under a gigabyte, where full logits would take 24 GB. Dense tasks (`sysnoise.tasks`) keep one
compact encoded blob per image instead (a PNG label map, packed box arrays) in their own table.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sysnoise.errors import SysnoiseError

TOP_K = 5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    model TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    image TEXT NOT NULL,
    top5 BLOB,
    scores BLOB,
    input_hash TEXT,
    max_abs_diff INTEGER,
    mse REAL,
    error TEXT,
    PRIMARY KEY (model, pipeline, image)
)
"""
_DENSE_SCHEMA = """
CREATE TABLE IF NOT EXISTS dense_predictions (
    model TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    image TEXT NOT NULL,
    output BLOB,
    input_hash TEXT,
    max_abs_diff INTEGER,
    mse REAL,
    error TEXT,
    PRIMARY KEY (model, pipeline, image)
)
"""
STORE_KINDS = ("top5", "dense")


@dataclass(frozen=True)
class Prediction:
    """One pipeline's outcome on one image: a top-5 or an error, and the input-side difference."""

    top5: np.ndarray | None  # int64 (5,), best first
    scores: np.ndarray | None  # float32 (5,)
    input_hash: str | None
    max_abs_diff: int | None  # against the reference input of the same image; None if unknown
    mse: float | None
    error: str | None = None


@dataclass(frozen=True)
class DensePrediction:
    """A dense task's outcome on one image: its encoded output (see `sysnoise.tasks.dense`) or
    an error, and the input-side difference."""

    output: bytes | None
    input_hash: str | None
    max_abs_diff: int | None
    mse: float | None
    error: str | None = None


class PredictionStore:
    """Read and write cached predictions for one model fingerprint.

    `kind` is the task's `store_kind`: "top5" rows (classes and scores) or "dense" rows."""

    def __init__(
        self, path: Path, model_fingerprint: str, *, readonly: bool = False, kind: str = "top5"
    ) -> None:
        if kind not in STORE_KINDS:
            raise ValueError(f"unknown prediction kind {kind!r}; valid: {', '.join(STORE_KINDS)}")
        self.path = path
        self.model = model_fingerprint
        self.kind = kind
        with self._guard():
            if readonly:
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, timeout=60)
                self._db.execute("PRAGMA journal_mode=WAL")
                # A commit survives the process being killed, without an fsync per batch; a power
                # cut may lose the last batches, never the cache's consistency (they are redone).
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(_SCHEMA if kind == "top5" else _DENSE_SCHEMA)
                self._db.commit()
            self._db.execute(f"SELECT COUNT(*) FROM {self._table} LIMIT 1").fetchone()

    @property
    def _table(self) -> str:
        return "predictions" if self.kind == "top5" else "dense_predictions"

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite's errors on a damaged or full cache as one line that says what to do."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise SysnoiseError(store_error_message(self.path, exc)) from None

    def lookup(
        self, image: str, pipelines: list[str]
    ) -> dict[str, Prediction] | dict[str, DensePrediction]:
        """Cached predictions of `image` under any of `pipelines`, by pipeline key."""
        marks = ",".join("?" * len(pipelines))
        if self.kind == "dense":
            with self._guard():
                rows = self._db.execute(
                    "SELECT pipeline, output, input_hash, max_abs_diff, mse, error FROM "
                    f"dense_predictions WHERE model = ? AND image = ? AND pipeline IN ({marks})",
                    (self.model, image, *pipelines),
                ).fetchall()
                return {row[0]: _dense_from_row(row[1:]) for row in rows}
        with self._guard():
            rows = self._db.execute(
                "SELECT pipeline, top5, scores, input_hash, max_abs_diff, mse, error FROM "
                f"predictions WHERE model = ? AND image = ? AND pipeline IN ({marks})",
                (self.model, image, *pipelines),
            ).fetchall()
            return {row[0]: _from_row(row[1:]) for row in rows}

    def put(self, image: str, pipeline: str, prediction: Prediction | DensePrediction) -> None:
        """Add or replace one prediction (visible to others after `commit`)."""
        p = prediction
        with self._guard():
            self._insert(image, pipeline, p)

    def _insert(self, image: str, pipeline: str, p: Prediction | DensePrediction) -> None:
        if isinstance(p, DensePrediction):
            self._db.execute(
                "INSERT OR REPLACE INTO dense_predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.model,
                    pipeline,
                    image,
                    p.output,
                    p.input_hash,
                    p.max_abs_diff,
                    p.mse,
                    p.error,
                ),
            )
            return
        self._db.execute(
            "INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.model,
                pipeline,
                image,
                None if p.top5 is None else p.top5.astype("<i2").tobytes(),
                None if p.scores is None else p.scores.astype("<f4").tobytes(),
                p.input_hash,
                p.max_abs_diff,
                p.mse,
                p.error,
            ),
        )

    def commit(self) -> None:
        """Make everything put so far durable."""
        with self._guard():
            self._db.commit()

    def count(self) -> int:
        """Predictions stored for this model."""
        return self._db.execute(
            f"SELECT COUNT(*) FROM {self._table} WHERE model = ?", (self.model,)
        ).fetchone()[0]

    def close(self) -> None:
        """Commit and close the connection."""
        try:
            with self._guard():
                self._db.commit()
        finally:
            self._db.close()


def store_error_message(path: Path, exc: sqlite3.Error) -> str:
    """What went wrong with the cache at `path`, and what to do about it."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL" or "disk is full" in str(exc):
        return (
            f"the disk holding the prediction cache {path} is full; free space or pass "
            "--cache-dir on another disk (finished predictions are kept)"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")):
        return f"cannot write the prediction cache {path} ({exc}); pass a writable --cache-dir"
    return (
        f"the prediction cache {path} is damaged ({exc}); delete it and its -wal and -shm "
        "files, then run again (its predictions will be recomputed)"
    )


def _dense_from_row(row: tuple) -> DensePrediction:
    output, input_hash, max_abs_diff, mse, error = row
    if (output is None) == (error is None):
        raise sqlite3.DatabaseError("a row holds neither a prediction nor an error")
    return DensePrediction(output, input_hash, max_abs_diff, mse, error)


def _from_row(row: tuple) -> Prediction:
    top5, scores, input_hash, max_abs_diff, mse, error = row
    if (top5 is None) != (scores is None) or (top5 is None) == (error is None):
        raise sqlite3.DatabaseError("a row holds neither a prediction nor an error")
    if top5 is not None and (len(top5) != 2 * TOP_K or len(scores) != 4 * TOP_K):
        raise sqlite3.DatabaseError(f"a row holds {len(top5)} bytes of classes, not {2 * TOP_K}")
    return Prediction(
        top5=None if top5 is None else np.frombuffer(top5, dtype="<i2").astype(np.int64),
        scores=None if scores is None else np.frombuffer(scores, dtype="<f4").copy(),
        input_hash=input_hash,
        max_abs_diff=max_abs_diff,
        mse=mse,
        error=error,
    )
