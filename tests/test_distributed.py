"""Sharded evaluation: ranks' slices merge into exactly the single-process evaluation, and a
2-rank torchrun of `sysnoise bench` writes the same results as one process, then resumes."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sysnoise.distributed import Shard, merge_evaluations
from sysnoise.engine import EngineOptions, evaluate
from sysnoise.pipeline import Pipeline
from sysnoise.store import PredictionStore

import images
from tiny import CountingBackend, tiny_classifier, write_dataset

PIPELINES = [
    Pipeline(),
    Pipeline(decoder="cv2"),
    Pipeline(decoder="pyav"),
    Pipeline(resizer="cv2-linear"),
]
OPTIONS = EngineOptions(batch_size=3, workers=0, progress=False)


def test_every_image_is_in_exactly_one_slice_in_order():
    for count in (0, 1, 5, 33, 50_000):
        for world in (1, 2, 3, 8):
            slices = [Shard(rank, world).bounds(count) for rank in range(world)]
            assert slices[0][0] == 0 and slices[-1][1] == count
            assert all(a[1] == b[0] for a, b in zip(slices, slices[1:], strict=False))
            sizes = [stop - start for start, stop in slices]
            assert max(sizes) - min(sizes) <= 1


def test_ranks_share_the_images_by_estimated_cost_whatever_their_order(tmp_path):
    # nine small images, then three large ones, as a folder of scans then photos would be
    small, large = _jpeg(32), _jpeg(800)
    files = {f"{k:02d}.jpg": small if k < 9 else large for k in range(12)}
    files["13.jpg"] = b"not an image"  # counted as an image's fixed part
    dataset = write_dataset(tmp_path, files)
    for world in (1, 2, 3, 5):
        shares = [Shard(rank, world).positions(dataset) for rank in range(world)]
        assert sorted(i for share in shares for i in share) == list(range(13))
        assert all(share == sorted(share) for share in shares)
        assert shares == [Shard(rank, world).positions(dataset) for rank in range(world)]
    one, two = (Shard(rank, 2).positions(dataset) for rank in range(2))
    assert [i for i in one if i >= 9 and i != 12] == [9, 11] and 10 in two
    assert len(one) < len(two)  # the rank with two large images takes fewer small ones
    assert [r.image_id for r in Shard(1, 2).select(dataset).records] == [
        "00.jpg", "01.jpg", "02.jpg", "04.jpg", "06.jpg", "08.jpg", "10.jpg",
    ]  # fmt: skip


def _jpeg(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (90, 120, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_each_rank_has_its_own_store_and_one_process_keeps_the_usual_one(tmp_path):
    path = tmp_path / "predictions.sqlite"
    assert Shard().store_path(path) == path
    assert Shard(1, 2).store_path(path) == tmp_path / "predictions.rank1.sqlite"


def test_merged_slices_equal_the_single_process_evaluation(tmp_path):
    files = {
        "a.jpg": images.china_jpeg(),
        "b.jpg": images.baseline_420(),
        "c.jpg": images.grayscale(),
        "d.jpg": images.truncated(),
        "e.jpg": images.progressive(),
    }
    dataset = write_dataset(tmp_path / "data", files, labels={"a.jpg": 3, "e.jpg": 7})
    model = tiny_classifier()

    def run(part, store_name):
        backend = CountingBackend()
        backend.prepare(model)
        store = PredictionStore(tmp_path / store_name, "tiny")
        try:
            return evaluate(part, PIPELINES, backend, store, OPTIONS)
        finally:
            store.close()

    whole = run(dataset, "whole.sqlite")
    world = 3
    parts = [run(Shard(r, world).select(dataset), f"rank{r}.sqlite") for r in range(world)]
    joined = [image_id for part in parts for image_id in part.image_ids]
    assert sorted(joined) == whole.image_ids != joined  # shares by cost, not slices
    merged = merge_evaluations(parts)
    assert merged.image_ids == whole.image_ids
    assert merged.image_hashes == whole.image_hashes
    np.testing.assert_array_equal(merged.labels, whole.labels)
    assert list(merged.top5) == list(whole.top5)
    for key in whole.top5:
        np.testing.assert_array_equal(merged.top5[key], whole.top5[key])
        np.testing.assert_array_equal(merged.max_abs_diff[key], whole.max_abs_diff[key])
        np.testing.assert_array_equal(merged.mse[key], whole.mse[key])
        assert list(merged.errors[key].items()) == list(whole.errors[key].items())
    assert any(whole.errors[key] for key in whole.errors)  # the truncated file fails somewhere
    assert merged.forwards == sum(p.forwards for p in parts)


def _run_bench(tmp_path: Path, out: str, ranks: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sysnoise"]
    if ranks > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={ranks}", "-m", "sysnoise"]  # fmt: skip
    command += ["bench", "--suite", "quick", "--limit", "5", "--batch", "4", "--device", "cpu",
                "--no-progress", "--out", str(tmp_path / out),
                "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _written(folder: Path) -> tuple[dict, str, bytes]:
    [json_path] = folder.glob("*.json")
    document = json.loads(json_path.read_text())
    predictions = gzip.decompress(next(folder.glob("*.predictions.csv.gz")).read_bytes())
    return document, next(folder.glob("*[0-9].csv")).read_text(), predictions


def test_two_ranks_write_what_one_process_writes_and_resume(tmp_path):
    _run_bench(tmp_path, "single", 1)
    two = _run_bench(tmp_path, "ranks", 2)
    assert two.stdout.count("wrote ") == 1  # rank 0 alone reports and writes
    single_doc, single_csv, single_predictions = _written(tmp_path / "single")
    ranks_doc, ranks_csv, ranks_predictions = _written(tmp_path / "ranks")
    assert ranks_predictions == single_predictions
    assert ranks_csv == single_csv
    assert ranks_doc["rows"] == single_doc["rows"]
    assert ranks_doc["reference"] == single_doc["reference"]
    assert ranks_doc["categories"] == single_doc["categories"]
    assert ranks_doc["dataset"] == single_doc["dataset"]
    for rank in (0, 1):
        assert (tmp_path / "cache" / f"predictions.rank{rank}.sqlite").is_file()

    _run_bench(tmp_path, "again", 2)  # each rank finds its slice in its own store
    again_doc, _, again_predictions = _written(tmp_path / "again")
    assert again_predictions == single_predictions
    assert again_doc["run"]["forward_passes"] == 0
    assert again_doc["run"]["cached_predictions"] == 5 * (again_doc["suite"]["n_noises"] + 1)


@pytest.fixture(autouse=True)
def _no_torchrun_environment(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)


GENERATE_FILES = {
    "a.jpg": images.china_jpeg(),
    "b.jpg": images.baseline_420(),
    "c.jpg": images.grayscale(),
    "d.jpg": images.progressive(),
    "garbage.jpg": b"this is not an image",
    "e.jpg": images.baseline_444(),
}
# Rank 1 dies right after it commits its first chunk (torchrun then ends rank 0 too).
_DIE_AFTER_A_CHUNK = """
import os, sys
from sysnoise.cli import main
from sysnoise.imagenet_s import generate

commit = generate._commit

def commit_then_die(*args):
    commit(*args)
    if os.environ["RANK"] == "1":
        os._exit(3)

generate._commit = commit_then_die
sys.exit(main(sys.argv[1:]))
"""


def _generate(tmp_path: Path, out: str, ranks: int, die: bool = False):
    entry = ["-m", "sysnoise"]
    if die:
        (tmp_path / "die.py").write_text(_DIE_AFTER_A_CHUNK)
        entry = [str(tmp_path / "die.py")]
    command = [sys.executable, *entry]
    if ranks > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={ranks}", *entry]  # fmt: skip
    command += ["imagenet-s", "generate", "--data", str(tmp_path / "data"), "--chunk", "1",
                "--variants", "pil/pil-bilinear,cv2/cv2-area,pyav/pil-nearest",
                "--no-progress", "--out", str(tmp_path / out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def _set_files(root: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted((root / "variants").iterdir())}
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["created"]
    return {**files, "SHA256SUMS": (root / "SHA256SUMS").read_bytes(), "manifest": manifest}


def test_two_ranks_generate_the_single_process_set_and_each_resumes_its_rows(tmp_path):
    write_dataset(tmp_path / "data", GENERATE_FILES)
    assert _generate(tmp_path, "single", 1).returncode == 0
    killed = _generate(tmp_path, "ranks", 2, die=True)
    assert killed.returncode != 0
    out = tmp_path / "ranks"
    assert not (out / "manifest.json").exists()
    part = json.loads((out / "progress" / "parts" / "cv2__cv2-area.1-of-2.json").read_text())
    assert part["rows"] == [3, 6] and part["images_done"] == 4  # its first row is durable

    resumed = _generate(tmp_path, "ranks", 2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("manifest.json") == 1  # rank 0 alone reports
    processed = int(re.search(r"\((\d+) images processed", resumed.stdout).group(1))
    assert processed <= 5  # rank 1 did not redo the row it had committed
    assert _set_files(out) == _set_files(tmp_path / "single")
    failures = json.loads((out / "variants" / "pil__pil-bilinear.failures.json").read_text())
    assert [f["image_id"] for f in failures["failures"]] == ["garbage.jpg"]
    assert not (out / "progress" / "parts").exists()
