"""Where a result was computed: tool version, git hash, library versions, CPU and GPU."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import sysnoise

_PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "pillow",
    "opencv-python-headless",
    "av",
    "simplejpeg",
    "onnxruntime",
    "scipy",
    "pandas",
)


def git_hash() -> str | None:
    """The commit sysnoise runs from, with "-dirty" for uncommitted changes; None outside git."""
    root = Path(sysnoise.__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def cpu_name() -> str:
    """The CPU model as the OS reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Versions and hardware, JSON-ready."""
    import torch

    from sysnoise.noises.decoders import library_versions

    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "packages": packages,
        "image_libraries": library_versions(),
    }


def tool_info() -> dict[str, Any]:
    """sysnoise's own version and commit."""
    return {"name": "sysnoise", "version": sysnoise.__version__, "git_hash": git_hash()}
