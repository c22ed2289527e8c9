"""Bad, odd and hostile inputs: every case is scored, recorded as a failure with its reason, or
skipped with a message, and memory stays bounded; nothing hangs, and the reasons are the same in
every run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sysnoise.datasets import load_folder
from sysnoise.engine import EngineOptions, evaluate
from sysnoise.errors import SysnoiseError
from sysnoise.fileio import read_regular_file
from sysnoise.noises.decoders import DecodeError, decode
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import ImagePreparer, PreprocessError
from sysnoise.store import PredictionStore

import hostile_files
import images
from tiny import CountingBackend, tiny_classifier

DECODER_NAMES = ("pil", "cv2", "torchvision", "pyav", "turbo-fastdct", "turbo-fastupsample")
DECODER_NAMES += ("pil-draft",)
JPEG_ONLY = ("turbo-fastdct", "turbo-fastupsample")
OPTIONS = EngineOptions(batch_size=8, workers=0, progress=False)


@pytest.fixture()
def corpus(tmp_path, monkeypatch) -> tuple[Path, dict[str, hostile_files.Expected]]:
    monkeypatch.setenv("SYSNOISE_MAX_FILE_BYTES", str(hostile_files.MAX_FILE_BYTES))
    folder = tmp_path / "corpus"
    return folder, hostile_files.write_corpus(folder)


def _library_limit(image_id: str, decoder: str) -> bool:
    """Formats a decoder's library does not read: a recorded failure, not a refusal."""
    jpeg = image_id.endswith(".jpg")
    if decoder in JPEG_ONLY:
        return not jpeg
    return decoder == "torchvision" and image_id.endswith((".bmp", ".tiff"))


def test_listing_reads_regular_image_files_and_reports_every_skipped_one(corpus, caplog):
    folder, expected = corpus
    dataset = load_folder(folder)
    listed = {r.image_id for r in dataset.records}
    assert listed == {i for i, e in expected.items() if e.outcome != "skipped"}
    skipped = {s.image_id: s.reason for s in dataset.skipped}
    assert set(skipped) == {i for i, e in expected.items() if e.outcome == "skipped"}
    for image_id, reason in skipped.items():
        assert expected[image_id].reason in reason, (image_id, reason)
    assert f"skipped {len(skipped)} files that are not readable images" in caplog.text
    assert f"({len(skipped)} files skipped)" in dataset.description


def test_every_decoder_scores_or_refuses_each_file_with_its_reason(corpus):
    folder, expected = corpus
    for record in load_folder(folder).records:
        outcome = expected[record.image_id]
        preparer = ImagePreparer(read_regular_file(record.path))
        for name in DECODER_NAMES:
            pipeline = Pipeline(decoder=name)
            if outcome.outcome == "scored" and not _library_limit(record.image_id, name):
                assert preparer.model_input(pipeline).shape == (224, 224, 3), record.image_id
                continue
            with pytest.raises(PreprocessError) as caught:
                preparer.model_input(pipeline)
            message = str(caught.value)
            assert f"decoder {name!r}" in message and " at 0x" not in message
            if outcome.outcome == "failed":
                assert outcome.reason in message, (record.image_id, name, message)


def test_sixteen_bit_pngs_are_refused_by_every_decoder_and_eight_bit_ones_decode():
    for data in (hostile_files.png16(rgb=False), hostile_files.png16(rgb=True)):
        for name in DECODER_NAMES:
            with pytest.raises(DecodeError, match="16-bit samples: only 8-bit images"):
                decode(name, data, 224)
    assert decode("cv2", images.png(), 224).shape == (512, 512, 3)


def test_the_pixel_limit_is_configurable(monkeypatch):
    from PIL import Image

    pillow_limit = Image.MAX_IMAGE_PIXELS
    data = images.baseline_420()  # 512 x 512
    monkeypatch.setenv("SYSNOISE_MAX_PIXELS", str(512 * 512 - 1))
    with pytest.raises(DecodeError, match="image of 512x512 pixels is over the limit of 262143"):
        decode("cv2", data, 224)
    monkeypatch.setenv("SYSNOISE_MAX_PIXELS", str(512 * 512))
    assert decode("cv2", data, 224).shape == (512, 512, 3)
    monkeypatch.setenv("SYSNOISE_MAX_PIXELS", str(3 * 512 * 512 // 8))  # below Pillow's 2x refusal
    with pytest.raises(DecodeError, match="over the limit of 98304"):
        decode("pil", data, 224)
    assert Image.MAX_IMAGE_PIXELS == pillow_limit  # Pillow's setting is left as it was
    # Pillow's own setting is the default; the configured limit overrides it for every decoder.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    monkeypatch.delenv("SYSNOISE_MAX_PIXELS")
    with pytest.raises(DecodeError, match="over the limit of 1000"):
        decode("cv2", data, 224)
    monkeypatch.setenv("SYSNOISE_MAX_PIXELS", str(512 * 512))
    for name in ("pil", "pil-draft"):  # Pillow alone would refuse above 2000 pixels
        assert decode(name, data, 512).shape == (512, 512, 3)
    monkeypatch.setenv("SYSNOISE_MAX_PIXELS", "lots")
    with pytest.raises(SysnoiseError, match="SYSNOISE_MAX_PIXELS='lots' must be a positive"):
        decode("cv2", data, 224)


def _evaluate(dataset, store_path: Path):
    backend = CountingBackend()
    backend.prepare(tiny_classifier())
    pipelines = [Pipeline(), Pipeline(decoder="cv2"), Pipeline(decoder="torchvision")]
    store = PredictionStore(store_path, "tiny")
    try:
        return evaluate(dataset, pipelines, backend, store, OPTIONS)
    finally:
        store.close()


def test_the_engine_scores_or_records_each_file_and_two_runs_write_the_same_reasons(
    corpus, tmp_path
):
    folder, expected = corpus
    dataset = load_folder(folder)
    first = _evaluate(dataset, tmp_path / "one.sqlite")
    second = _evaluate(dataset, tmp_path / "two.sqlite")
    assert first.errors == second.errors
    reference = Pipeline().key
    for index, image_id in enumerate(first.image_ids):
        outcome = expected[image_id]
        if outcome.outcome == "scored":
            assert first.top5[reference][index, 0] >= 0, image_id
        else:
            assert outcome.reason in first.errors[reference][image_id], image_id
    for errors in first.errors.values():
        assert all(" at 0x" not in message for message in errors.values())


def test_a_file_swapped_for_a_fifo_or_device_after_listing_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "fifo.jpg")  # opening it to read would block forever without O_NONBLOCK
    with pytest.raises(OSError, match="not a regular file"):
        read_regular_file(tmp_path / "fifo.jpg")
    with pytest.raises(OSError, match="not a regular file"):
        read_regular_file(Path("/dev/zero"))
    (tmp_path / "big.jpg").write_bytes(b"\0" * 101)
    with pytest.raises(OSError, match="101 bytes, over the limit of 100"):
        read_regular_file(tmp_path / "big.jpg", limit=100)


_BOMB_SCRIPT = """
import resource, sys
sys.path.insert(0, {tests!r})
import hostile_files
from sysnoise.noises.decoders import DecodeError, decode
import av, cv2, simplejpeg, torch, torchvision.io  # mapped before the limit: they are not the test
limit = {limit}
used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + limit, used + limit))
for data in (hostile_files.png_bomb(), hostile_files.jpeg_bomb()):
    for name in {names!r}:
        try:
            decode(name, data, 224)
        except DecodeError as exc:
            assert "over the limit of" in str(exc), str(exc)
        else:
            sys.exit("decoded a bomb with " + name)
print("refused")
"""


def test_decompression_bombs_are_refused_within_an_address_space_limit():
    # 1 GB more than the interpreter has mapped: the 40000 x 40000 PNG needs 4.8 GB as RGB and
    # the 16000 x 16000 JPEG 768 MB per copy, so decoding either would fail or crash here.
    script = _BOMB_SCRIPT.format(
        tests=str(Path(__file__).parent), limit=1 << 30, names=DECODER_NAMES
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "refused"


def test_non_finite_or_constant_logits_stop_the_run(tmp_path):
    dataset = load_folder(_three_photos(tmp_path / "photos"))
    for poison, message in ((float("nan"), "non-finite logits"), (0.0, "the same value")):
        model = tiny_classifier()
        with torch.no_grad():
            model[-1].weight.fill_(poison)
            model[-1].bias.fill_(0.0 if poison != poison else poison)
        backend = CountingBackend()
        backend.prepare(model)
        store = PredictionStore(tmp_path / f"{message}.sqlite", "poisoned")
        with pytest.raises(SysnoiseError, match=message):
            evaluate(dataset, [Pipeline()], backend, store, OPTIONS)
        store.close()


def _three_photos(folder: Path) -> Path:
    folder.mkdir()
    for name, data in (
        ("a.jpg", images.china_jpeg()),
        ("b.jpg", images.baseline_420()),
        ("c.jpg", images.progressive()),
    ):
        (folder / name).write_bytes(data)
    return folder


_WORKER_SCRIPT = """
import os, sys, time
import torch.utils.data
from sysnoise.engine import _worker_init

class Slow(torch.utils.data.Dataset):
    def __len__(self):
        return 1000
    def __getitem__(self, index):
        open(os.path.join({folder!r}, str(os.getpid())), "w").close()
        time.sleep(600)  # stuck, as in a decoder that never returns: torch's own check never runs
        return index

loader = torch.utils.data.DataLoader(Slow(), num_workers=2, worker_init_fn=_worker_init)
for _ in loader:
    pass
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def test_decoding_workers_exit_when_the_main_process_is_killed(tmp_path):
    import signal
    import time

    main = subprocess.Popen([sys.executable, "-c", _WORKER_SCRIPT.format(folder=str(tmp_path))])
    deadline = time.monotonic() + 120
    while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = [int(path.name) for path in tmp_path.iterdir()]
    assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    main.send_signal(signal.SIGKILL)
    main.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in workers if _alive(pid)]
    for pid in survivors:  # leave nothing behind when the check fails
        os.kill(pid, signal.SIGKILL)
    assert not survivors


def test_the_logits_check_counts_the_bad_inputs():
    # The logits check sees every batch: a NaN anywhere is an error, finite logits pass.
    from sysnoise.engine import _check_logits

    _check_logits(np.array([[0.0, 1.0], [2.0, 0.5]], dtype=np.float32), None)
    with pytest.raises(SysnoiseError, match="1 of 2 inputs"):
        _check_logits(np.array([[0.0, np.inf], [2.0, 0.5]], dtype=np.float32), None)
