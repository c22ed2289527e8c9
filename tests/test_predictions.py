"""The predictions side file: written a block of rows at a time, it is the whole table's CSV."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd

from sysnoise import predictions
from sysnoise.engine import Evaluation
from sysnoise.pipeline import Pipeline
from sysnoise.predictions import predictions_table, write_predictions

NAMED = [("reference", Pipeline()), ("cv2", Pipeline(decoder="cv2"))]


def _evaluation(n: int) -> Evaluation:
    rng = np.random.default_rng(0)
    top5 = {p.key: rng.integers(-1, 1000, size=(n, 5)) for _, p in NAMED}
    hashes = [None if i % 7 == 3 else f"{i:064x}" for i in range(n)]
    ids = [f"img, {i}.jpg" if i % 5 == 0 else f"{i}.jpg" for i in range(n)]  # a comma: quoted
    return Evaluation(ids, rng.integers(-1, 1000, size=n), hashes, top5)


def test_blocks_write_exactly_the_whole_tables_csv(tmp_path, monkeypatch):
    evaluation = _evaluation(1001)
    table = predictions_table(evaluation, NAMED)
    whole = table.frame()
    assert list(whole.columns)[:5] == ["image_id", "label", "sha256", "reference", "reference@2"]
    assert (whole["cv2@5"].to_numpy() == evaluation.top5[NAMED[1][1].key][:, 4]).all()
    monkeypatch.setattr(predictions, "BLOCK_CELLS", 13 * 100)  # 13 columns: blocks of 100 rows
    assert len(list(table.blocks())) == 11
    write_predictions(table, tmp_path / "blocks.csv.gz")
    write_predictions(whole, tmp_path / "whole.csv.gz")
    text = gzip.decompress((tmp_path / "blocks.csv.gz").read_bytes())
    assert text == gzip.decompress((tmp_path / "whole.csv.gz").read_bytes())
    assert text == whole.to_csv(index=False, lineterminator="\n").encode()
    read = pd.read_csv(io.BytesIO(text))
    pd.testing.assert_frame_equal(read.drop(columns="sha256"), whole.drop(columns="sha256"))


def test_the_table_is_views_not_copies_and_the_file_is_the_same_bytes_every_time(tmp_path):
    evaluation = _evaluation(50)
    table = predictions_table(evaluation, NAMED)
    reference, cv2 = (evaluation.top5[p.key] for _, p in NAMED)
    assert np.shares_memory(table.columns["reference@5"], reference)
    assert np.shares_memory(table.columns["cv2"], cv2)
    write_predictions(table, tmp_path / "a.csv.gz")
    write_predictions(table, tmp_path / "b.csv.gz")
    assert (tmp_path / "a.csv.gz").read_bytes() == (tmp_path / "b.csv.gz").read_bytes()


def test_no_images_still_write_the_header(tmp_path):
    table = predictions_table(_evaluation(0), NAMED)
    write_predictions(table, tmp_path / "empty.csv.gz")
    header = gzip.decompress((tmp_path / "empty.csv.gz").read_bytes()).decode()
    assert header.startswith("image_id,label,sha256,reference,") and header.count("\n") == 1
