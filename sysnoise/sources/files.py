"""Model files: ONNX, TorchScript and torch.export programs, identified by their contents.

A file carries no preprocessing, so its reference pipeline is given by the user (`--reference
torchvision-v1` or an explicit spec, see `sysnoise.references`). Its fingerprint is the file's
sha256, so two different files with the same name never share cached predictions. Model-side
patches (ceil_mode, upsample) need a torch module tree and are not applicable to any file; an
ONNX file runs on the ONNX backends (ONNX Runtime at each optimisation level, its INT8 QDQ
quantization, TensorRT on a GPU).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sysnoise.errors import SysnoiseError
from sysnoise.pipeline import Pipeline
from sysnoise.sources.base import LoadedModel, ModelSource
from sysnoise.zoo import ModelSpec

FORMATS = {
    ".onnx": "onnx",
    ".pt": "torchscript",
    ".ts": "torchscript",
    ".torchscript": "torchscript",
    ".pt2": "torch-export",
    ".engine": "tensorrt-engine",
    ".plan": "tensorrt-engine",
}
ONNX_BACKENDS = ("onnxruntime", "onnxruntime-noopt", "tensorrt")
# Formats only some backends run: the reference runs on the first.
FIXED_BACKENDS = {"onnx": ONNX_BACKENDS, "tensorrt-engine": ("tensorrt",)}


@dataclass(frozen=True)
class ModelFile:
    """A model that exists only as a file: what ONNX backends run directly."""

    path: Path
    format: str
    sha256: str

    def eval(self) -> ModelFile:
        """Files are always in inference mode (for callers that expect a module)."""
        return self


class FileSource(ModelSource):
    """A model file: .onnx, TorchScript (.pt, .ts), torch.export (.pt2) or a TensorRT engine."""

    kind = "file"
    description = "a model file: .onnx, TorchScript .pt/.ts, torch.export .pt2, TensorRT .engine"

    @classmethod
    def claims(cls, name: str) -> bool:
        return Path(name).suffix.lower() in FORMATS

    @classmethod
    def open(cls, name: str, reference: Pipeline | None = None) -> FileSource:
        path = Path(name).expanduser()
        file_format = FORMATS.get(path.suffix.lower())
        if file_format is None:
            raise SysnoiseError(
                f"{path}: unknown model file type {path.suffix!r}; "
                f"valid: {', '.join(sorted(FORMATS))}"
            )
        if not path.is_file():
            raise SysnoiseError(f"model file {path} does not exist")
        if reference is None:
            raise SysnoiseError(
                f"{path.name} carries no preprocessing: pass --reference torchvision-v1, a zoo "
                "model whose preprocessing it shares, or a spec such as "
                "'resizer=pil-bicubic,resize_size=256,crop_size=224,mean=0.5,std=0.5'"
            )
        if file_format in FIXED_BACKENDS:
            reference = reference.with_changes(backend=FIXED_BACKENDS[file_format][0])
        digest = model_file_sha256(path, file_format)
        spec = ModelSpec(
            name=path.stem,
            arch=f"{file_format}-file-{digest[:12]}",
            weights_tag=file_format,
            weights_url=str(path.resolve()),
            reference=reference,
            num_classes=0,  # a model file does not declare it
            published_top1=None,
            source=cls.kind,
        )
        return cls(spec)

    @property
    def path(self) -> Path:
        return Path(self.spec.weights_url)

    def load(self, weights_file: Path | None = None) -> LoadedModel:
        if weights_file is not None:
            raise SysnoiseError("a model file carries its own weights; drop --weights")
        digest = model_file_sha256(self.path, self.spec.weights_tag)
        file_format = self.spec.weights_tag
        reason = f"the model is a {file_format} file, not a torch module tree"
        if file_format == "onnx":
            _check_onnx_input(self.path, self.spec.reference.crop_size)
            return LoadedModel(
                ModelFile(self.path, file_format, digest),
                digest,
                patchable=False,
                backends=ONNX_BACKENDS,
                precisions=("fp32", "int8"),
                limit_reason="the model is an ONNX file: it runs as exported or INT8-quantized "
                f"(fp32, int8) on {', '.join(ONNX_BACKENDS)}",
            )
        if file_format == "tensorrt-engine":
            return LoadedModel(
                ModelFile(self.path, file_format, digest),
                digest,
                patchable=False,
                backends=("tensorrt",),
                precisions=("fp32",),
                limit_reason="the model is a prebuilt TensorRT engine: it runs as built, on a GPU",
            )
        module = _load_torch_file(self.path, file_format)
        return LoadedModel(module, digest, patchable=False, limit_reason=reason)


def model_file_sha256(path: Path, file_format: str) -> str:
    """sha256 of a model file and, for ONNX, of the external data files it names."""
    from sysnoise.weights import sha256_file

    digest = sha256_file(path)
    if file_format != "onnx":
        return digest
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    proto = onnx.load(str(path), load_external_data=False)
    locations = sorted(
        {
            ExternalDataInfo(tensor).location
            for tensor in proto.graph.initializer
            if uses_external_data(tensor)
        }
    )
    if not locations:
        return digest
    combined = hashlib.sha256(digest.encode())
    for location in locations:
        data = path.parent / location
        if not data.is_file():
            raise SysnoiseError(f"{path.name} keeps its weights in {location}, which is missing")
        combined.update(f"{location}\n{sha256_file(data)}".encode())
    return combined.hexdigest()


def _check_onnx_input(path: Path, crop: int) -> None:
    """Refuse an ONNX file whose image input cannot take the reference's crops."""
    import onnx

    from sysnoise.backends.onnxruntime_backend import input_layout

    graph = onnx.load(str(path), load_external_data=False).graph
    initialisers = {tensor.name for tensor in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialisers]
    if len(inputs) != 1:
        raise SysnoiseError(f"{path.name} has {len(inputs)} inputs; an image classifier has one")
    shape = [d.dim_value or d.dim_param or None for d in inputs[0].type.tensor_type.shape.dim]
    layout, _ = input_layout(shape)
    height, width = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    for side in (height, width):
        if isinstance(side, int) and side != crop:
            raise SysnoiseError(
                f"{path.name} takes {height}x{width} inputs but the reference crops {crop}x{crop}: "
                f"pass a --reference with crop_size={side}"
            )


def _load_torch_file(path: Path, file_format: str) -> Any:
    try:
        if file_format == "torchscript":
            return torch.jit.load(str(path), map_location="cpu").eval()
        return _ExportedModule(torch.export.load(str(path)).module())
    except (RuntimeError, ValueError, OSError) as exc:
        hint = (
            "; a state dict is not a model: use --model ARCH --weights FILE"
            if file_format == "torchscript"
            else ""
        )
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SysnoiseError(f"{path} is not a loadable {file_format} file: {first}{hint}") from None



class _ExportedModule(torch.nn.Module):
    """A torch.export program as a module: its graph is frozen in the mode it was exported in,
    so train()/eval() change nothing (the program itself refuses them)."""

    def __init__(self, program: Any) -> None:
        super().__init__()
        self.program = program

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.program(batch)

    def train(self, mode: bool = True) -> _ExportedModule:
        return self
