"""The per-image predictions side file (``*.predictions.csv.gz``), written a block at a time.

One row per image: ``image_id``, ``label``, ``sha256``, then per named pipeline its top-5 classes
(``NAME`` for top-1, ``NAME@2`` .. ``NAME@5``; -1: no prediction). The table is a set of views
over the evaluation's compact (N, 5) arrays: it is never built whole, as a DataFrame or as text,
so writing it costs the same memory for 33 images as for 50,000. The file is an ordinary gzipped
CSV (``pandas.read_csv`` reads it) with a fixed gzip header, so the same predictions always give
the same bytes.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sysnoise.engine import Evaluation
from sysnoise.pipeline import Pipeline

# Cells (rows x columns) per block written: a few MiB of DataFrame whatever the run's size.
BLOCK_CELLS = 1 << 20


@dataclass(frozen=True)
class PredictionsTable:
    """The side file's columns, in order: equal-length sequences (lists or array views)."""

    columns: dict[str, Any]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def frame(self, start: int = 0, stop: int | None = None) -> Any:
        """Rows [start, stop) as a pandas DataFrame (the whole table by default)."""
        import pandas as pd

        return pd.DataFrame({name: column[start:stop] for name, column in self.columns.items()})

    def blocks(self) -> Iterator[Any]:
        """The table as consecutive DataFrames of about `BLOCK_CELLS` cells (at least one)."""
        rows = max(1, BLOCK_CELLS // len(self.columns))
        yield self.frame(0, rows)
        for start in range(rows, len(self), rows):
            yield self.frame(start, start + rows)


def predictions_table(
    evaluation: Evaluation, named: list[tuple[str, Pipeline]]
) -> PredictionsTable:
    """The side file of `evaluation` for the pipelines `named` (name, pipeline), in that order."""
    columns: dict[str, Any] = {
        "image_id": evaluation.image_ids,
        "label": evaluation.labels,
        "sha256": evaluation.image_hashes,
    }
    for name, pipeline in named:
        top5 = evaluation.top5[pipeline.key]
        columns[name] = top5[:, 0]
        for k in range(1, top5.shape[1]):
            columns[f"{name}@{k + 1}"] = top5[:, k]
    return PredictionsTable(columns)


def write_predictions(predictions: PredictionsTable | Any, path: Path) -> None:
    """Write `predictions` (a table, or any pandas DataFrame) to `path` as gzipped CSV."""
    blocks = predictions.blocks() if isinstance(predictions, PredictionsTable) else [predictions]
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
        io.TextIOWrapper(packed, encoding="utf-8", newline="") as text,
    ):
        for position, block in enumerate(blocks):
            block.to_csv(text, index=False, header=position == 0, lineterminator="\n")
