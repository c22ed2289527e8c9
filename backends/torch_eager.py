"""PyTorch eager FP32: the reference backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from sysnoise.backends.base import Backend, BackendUnavailable


class TorchEagerBackend(Backend):
    """The model as torch runs it in eager mode, FP32, on `device` ("cpu", "cuda" or "auto")."""

    name = "torch"

    def __init__(self, device: str = "auto") -> None:
        self.device_name = device
        self._model: Any = None

    def _prepare(self, model: Any, example: np.ndarray | None) -> None:
        import torch

        if self.device_name == "auto":
            self.device_name = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self._device = torch.device(self.device_name)
        except RuntimeError as exc:
            raise BackendUnavailable(f"torch: bad device {self.device_name!r}: {exc}") from None
        if self._device.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(
                f"torch: device {self.device_name!r} asked for, but torch sees no CUDA GPU here; "
                "use --device cpu"
            )
        self._model = model.to(self._device).eval()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits = self._model(torch.from_numpy(batch).to(self._device))
        return logits.float().cpu().numpy()

    def release(self) -> None:
        self._model = None
