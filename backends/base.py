"""The backend lifecycle: prepare once for a model, infer batches, release."""

from __future__ import annotations

import dataclasses
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sysnoise.errors import SysnoiseError, Unavailable

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
DEVICES = ("cpu", "cuda", "auto")  # and "cuda:N" for one GPU of several
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def check_calibration_method(method: str) -> str:
    """`method` if it is an INT8 calibration method; else a SysnoiseError naming the valid ones."""
    if method not in CALIBRATION_METHODS:
        valid = ", ".join(CALIBRATION_METHODS)
        raise SysnoiseError(f"unknown calibration method {method!r}; valid methods: {valid}")
    return method


class BackendUnavailable(Unavailable):
    """This backend cannot run on this machine; the message says why."""


@dataclass(frozen=True)
class BackendContext:
    """What a backend needs besides the model: where to run, where to cache, how to calibrate."""

    device: str = "auto"  # "cpu", "cuda", "cuda:N" or "auto"
    cache_dir: Path | None = None  # exported ONNX, QDQ models, TensorRT engines; None: a temp dir
    model_id: str = ""  # fingerprint of the exact (possibly patched) model; keys every artefact
    calibration: np.ndarray | None = None  # normalised float32 NCHW batch for INT8 calibration
    calibration_method: str = "minmax"  # "minmax", "entropy" or "percentile"
    dynamic_size: bool = False  # inputs of many heights and widths (dense tasks), not one

    def __post_init__(self) -> None:
        if self.device not in DEVICES and not re.fullmatch(r"cuda:\d+", self.device):
            raise SysnoiseError(
                f"unknown device {self.device!r}; valid devices: {', '.join(DEVICES)}, cuda:N"
            )
        check_calibration_method(self.calibration_method)


class Backend(ABC):
    """Runs one model on batches of normalised NCHW float32 inputs and returns float32 logits.

    Subclasses set `name` and `precisions` and implement `_prepare` and `infer`; optional
    libraries are imported inside those methods, never at module level. `family` names the
    runtime ("torch", "onnxruntime", "tensorrt"); `instrumentable` says whether `sysnoise diff`
    can compare its layers (torch through forward hooks, onnxruntime through every graph tensor).
    """

    name = "backend"
    precisions: tuple[str, ...] = ("fp32",)
    family = "other"
    instrumentable = False

    def __init__(
        self,
        precision: str = "fp32",
        context: BackendContext | None = None,
        *,
        device: str | None = None,
    ) -> None:
        """`device`, where given, overrides the context's."""
        if precision not in self.precisions:
            raise SysnoiseError(
                f"backend {self.name!r} does not support precision {precision!r}; "
                f"valid precisions: {', '.join(self.precisions)}"
            )
        self.precision = precision
        context = context if context is not None else BackendContext()
        if device is not None:
            context = dataclasses.replace(context, device=device)
        self.context = context
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def availability(cls, precision: str = "fp32") -> str | None:
        """None when the backend can run `precision` here, else the one-line reason it cannot."""
        return None

    def prepare(self, model: Any, example: np.ndarray | None = None) -> None:
        """Take the model and an example batch (N, 3, H, W) and get ready to infer; called once."""
        reason = self.availability(self.precision)
        if reason is not None:
            raise BackendUnavailable(f"{self.name} {self.precision}: {reason}")
        self._prepare(model, example)

    @abstractmethod
    def _prepare(self, model: Any, example: np.ndarray | None) -> None: ...

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N, classes) float32 for a float32 batch (N, 3, H, W), any N."""

    def predict(
        self,
        crops: np.ndarray,
        table: np.ndarray,
        k: int,
        check: Callable[[np.ndarray], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k classes (int64, best first) and their float32 logits for uint8 (N, H, W, 3)
        crops, normalised through `table` (`sysnoise.preprocess.normalisation_table`).

        Here: normalised on the CPU, `infer`, and the top-k taken on the CPU. A backend on a GPU
        may send the uint8 crops (a quarter of the bytes) and do all three on the device.
        `check(logits)` raises on logits that cannot be scored; a device backend may call it
        only when its own test of the same conditions fails.
        """
        from sysnoise.preprocess import normalise_with_table
        from sysnoise.topk import top_k

        logits = self.infer(normalise_with_table(crops, table))
        if check is not None:
            check(logits)
        top = top_k(logits, k)
        return top, np.take_along_axis(logits, top, axis=1).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts about how this backend runs the model, for the results file."""
        return {"backend": self.name, "precision": self.precision, "device": self.context.device}

    def release(self) -> None:
        """Free what `prepare` took (and the scratch cache folder, if one was made)."""
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def cache_root(self) -> Path:
        """`context.cache_dir`, or a scratch folder that lives until `release`."""
        if self.context.cache_dir is not None:
            return Path(self.context.cache_dir)
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix=f"sysnoise-{self.name}-")
        return Path(self._scratch.name)

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def resolve_device(device: str, cuda_available: bool, backend: str) -> str:
    """ "cpu" or "cuda[:N]" for a requested device; CUDA without a GPU raises BackendUnavailable."""
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    if device.startswith("cuda") and not cuda_available:
        raise BackendUnavailable(
            f"{backend}: device {device!r} asked for, but torch sees no CUDA GPU here; "
            "use --device cpu"
        )
    return device


def require_calibration(context: BackendContext, backend: str) -> np.ndarray:
    """The calibration batch as contiguous float32, or a SysnoiseError when there is none."""
    calibration = context.calibration
    if calibration is None or len(calibration) == 0:
        raise SysnoiseError(
            f"{backend} int8 needs calibration images: pass BackendContext(calibration=...), "
            "a normalised float32 (N, 3, H, W) batch of held-out reference inputs"
        )
    calibration = np.ascontiguousarray(calibration, dtype=np.float32)
    if calibration.ndim != 4:
        raise SysnoiseError(
            f"{backend} int8: calibration must be (N, 3, H, W), got shape {calibration.shape}"
        )
    return calibration
