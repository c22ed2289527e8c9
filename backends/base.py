"""The backend lifecycle: prepare once for a model, infer batches, release."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from sysnoise.errors import SysnoiseError


class BackendUnavailable(SysnoiseError):
    """This backend cannot run on this machine; the message says why."""


class Backend(ABC):
    """Runs one model on batches of normalised NCHW float32 inputs and returns logits."""

    name = "backend"

    @classmethod
    def availability(cls) -> str | None:
        """None when the backend can run here, else the reason it cannot."""
        return None

    def prepare(self, model: Any, example: np.ndarray | None = None) -> None:
        """Take the model (and an example batch) and get ready to infer; called once."""
        reason = self.availability()
        if reason is not None:
            raise BackendUnavailable(f"{self.name}: {reason}")
        self._prepare(model, example)

    @abstractmethod
    def _prepare(self, model: Any, example: np.ndarray | None) -> None: ...

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N, classes) float32 for a float32 batch (N, 3, H, W)."""

    def release(self) -> None:  # noqa: B027 (optional hook)
        """Free what `prepare` took."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
