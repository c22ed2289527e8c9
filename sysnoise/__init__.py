"""sysnoise: how much system noise (decoders, resizers, precisions, backends) costs a model."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Result", "evaluate", "load_results"]


def __getattr__(name: str) -> Any:
    # The API pulls in torch and the image libraries: import it on first use only.
    if name in __all__:
        from sysnoise import api

        return getattr(api, name)
    raise AttributeError(f"module 'sysnoise' has no attribute {name!r}")
