"""Worker side of generation: one file read once, hashed, and turned into every pending variant."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from sysnoise.errors import SysnoiseError
from sysnoise.fileio import read_regular_file
from sysnoise.pipeline import Pipeline
from sysnoise.preprocess import ImagePreparer, PreprocessError

DIGEST_BYTES = 32  # a sha256; all zeros stands for an unreadable file

# (image index, path, positions of the pipelines to make)
Task = tuple[int, str, tuple[int, ...]]
# (image index, sha256 digest, (position, crop or error message) per requested pipeline)
Result = tuple[int, bytes, list[tuple[int, np.ndarray | str]]]

_WORKER_PIPELINES: list[Pipeline] = []
# Some messages name a Python object by address ("<_io.BytesIO object at 0x7f..>"): dropped, so
# that a failures file comes out byte-identical on every run.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def error_text(message: str) -> str:
    """`message` without object addresses."""
    return _ADDRESS.sub("", message)


def prepare_image(task: Task, pipelines: list[Pipeline] | None = None) -> Result:
    """Read one file once; its sha256 and, per requested pipeline, the crop or the error."""
    index, path, positions = task
    pipelines = pipelines if pipelines is not None else _WORKER_PIPELINES
    try:
        data = read_regular_file(Path(path))
    except OSError as exc:
        message = f"cannot read {path}: {exc.strerror or exc}"
        return index, bytes(DIGEST_BYTES), [(k, message) for k in positions]
    preparer = ImagePreparer(data)
    outputs: list[tuple[int, np.ndarray | str]] = []
    for position in positions:
        try:
            outputs.append((position, preparer.model_input(pipelines[position])))
        except PreprocessError as exc:
            outputs.append((position, error_text(str(exc))))
    return index, hashlib.sha256(data).digest(), outputs


def _exit_when_gone(main_pid: int) -> None:
    """End this worker once the main process is gone: after a kill -9 nothing else would."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(main_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # it exists, under another user
            pass


def _init_worker(pipelines: list[Pipeline], main_pid: int) -> None:
    from sysnoise.noises.sideenv import register_side_entries

    threading.Thread(target=_exit_when_gone, args=(main_pid,), daemon=True).start()

    register_side_entries()  # a fresh worker starts with the built-in registries only
    _WORKER_PIPELINES[:] = pipelines
    # One thread per worker: the workers are the parallelism.
    if _needs_torch(pipelines):
        import torch

        torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


def prepare_all(tasks: Iterator[Task], pipelines: list[Pipeline], workers: int) -> Iterator[Result]:
    """Results in task order, from `workers` processes (0: in this process).

    Workers are fresh processes (forkserver, else spawn): a forked copy of a process that has run
    OpenCV's or OpenMP's thread pools can deadlock in them. At most 8 tasks per worker are in
    flight, so memory stays bounded however far the workers run ahead.
    """
    if workers == 0:
        for task in tasks:
            yield prepare_image(task, pipelines)
        return
    context = _context(pipelines)
    executor = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(pipelines, os.getpid())
    )
    in_flight: deque[Future[Result]] = deque()
    try:
        for task in tasks:
            in_flight.append(executor.submit(prepare_image, task))
            if len(in_flight) >= 8 * workers:
                yield _result(in_flight.popleft())
        while in_flight:
            yield _result(in_flight.popleft())
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _kernel_modules(pipelines: list[Pipeline]) -> list[str]:
    """The modules the pipelines' decoders and resizers import, as their entries declare."""
    from sysnoise.noises.decoders import DECODERS
    from sysnoise.noises.resizers import RESIZERS

    modules: list[str] = []
    for pipeline in pipelines:
        for entry in (DECODERS.get(pipeline.decoder), RESIZERS.get(pipeline.resizer)):
            modules += [m for m in entry.modules if m not in modules]
    return modules


def _needs_torch(pipelines: list[Pipeline]) -> bool:
    return "torch" in _kernel_modules(pipelines)


def _preload(pipelines: list[Pipeline]) -> list[str]:
    modules = [__name__, "cv2"]
    return modules + [m for m in _kernel_modules(pipelines) if m not in modules]


def _context(pipelines: list[Pipeline]) -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Imported once in the fork server, not in each worker (torchvision takes seconds); an import
    # starts no thread pool, so forking from there is safe. Ignored once the server runs.
    context.set_forkserver_preload(_preload(pipelines))
    return context


def _result(future: Future[Result]) -> Result:
    try:
        return future.result()
    except BrokenProcessPool:
        raise SysnoiseError(
            "a worker process died (a decoder crashed?); run again to resume, with --workers 0 "
            "to see the failing image"
        ) from None
