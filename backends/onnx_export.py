"""Export a torch model to ONNX once, cache it, and expose every intermediate tensor.

The exporter is torch's dynamo-based `torch.onnx.export(dynamo=True)` (needs onnxscript): on torch
2.14 it exports torchvision classifiers (mobilenet_v2, resnet) and small test nets with the batch
axis dynamic, where the legacy TorchScript exporter (`dynamo=False`) refuses adaptive pooling to a
size that does not divide the input. The legacy exporter is tried only when dynamo fails; which
one ran is written into the file's metadata (`sysnoise.exporter`).

Both exporters, as deployed with their defaults, fold eval-mode BatchNorm into the preceding
convolution (dynamo through its graph optimiser, `optimize=True`), so every ONNX backend, even
"onnxruntime-noopt", runs folded weights; without that optimiser the dynamo graph carries ~100
Shape/Expand/CastLike nodes per mobilenet_v2 that would get in the way of quantization.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import io
import json
import re
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sysnoise.backends.base import BackendContext
from sysnoise.errors import SysnoiseError
from sysnoise.fileio import atomic_write

if TYPE_CHECKING:
    import onnx
    import torch

OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
EXPORT_DTYPES = ("fp32", "fp16")


def module_fingerprint(model: torch.nn.Module) -> str:
    """A hash of the module tree and every parameter and buffer: a fallback model id.

    It cannot see code changes that leave the module tree alone (a patched `forward`), which is
    why callers should pass `BackendContext.model_id`.
    """
    digest = hashlib.sha256(repr(model).encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def export_onnx(
    model: torch.nn.Module,
    example: np.ndarray,
    path: Path,
    dtype: str = "fp32",
    dynamic_size: bool = False,
) -> str:
    """Write `model` as ONNX (opset 18, batch axis dynamic, and height and width with
    `dynamic_size`) to `path`; returns the exporter used.

    The export runs on a CPU copy of the model, cast to `dtype` ("fp32" or "fp16"): an FP16 graph
    is what a strongly typed TensorRT network needs for FP16.
    """
    import onnx
    import torch

    torch_dtype = {"fp32": torch.float32, "fp16": torch.float16}[dtype]
    cpu_model = copy.deepcopy(model).cpu().to(torch_dtype).eval()
    rows = np.ascontiguousarray(example[:2], dtype=np.float32)
    if len(rows) < 2:  # batch size 1 would be specialised to a constant by torch.export
        rows = np.concatenate([rows, rows])
    args = (torch.from_numpy(rows).to(torch_dtype),)
    exporter = "dynamo"
    spatial = {"dynamic_size": True} if dynamic_size else {}
    try:
        _export(cpu_model, args, path, dynamo=True, **spatial)
    except Exception as dynamo_error:
        exporter = "torchscript"
        try:
            _export(cpu_model, args, path, dynamo=False, **spatial)
        except Exception as legacy_error:
            raise SysnoiseError(
                f"cannot export the model to ONNX: dynamo exporter: {dynamo_error}; "
                f"TorchScript exporter: {legacy_error}"
            ) from legacy_error
    proto = onnx.load(str(path))
    metadata = {
        "sysnoise.exporter": exporter,
        "sysnoise.torch_version": torch.__version__,
        "sysnoise.dtype": dtype,
        "sysnoise.opset": str(OPSET),
    }
    onnx.helper.set_model_props(proto, metadata)
    onnx.save(proto, str(path))
    return exporter


def _export(model: Any, args: tuple, path: Path, dynamo: bool, dynamic_size: bool = False) -> None:
    import torch

    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_size else {0: "batch"}
    options: dict[str, Any] = {
        "input_names": [INPUT_NAME],
        "output_names": [OUTPUT_NAME],
        "opset_version": OPSET,
        "dynamo": dynamo,
    }
    if dynamo:
        options.update(dynamic_shapes=(axes,), external_data=False, verbose=False)
    else:
        options.update(dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes})
    # The exporters report progress on stdout and warn about their own deprecations.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), **options)


def cached_onnx(
    model: torch.nn.Module, example: np.ndarray, context: BackendContext, dtype: str = "fp32"
) -> Path:
    """The ONNX export of `model` under `context.cache_dir`/onnx/, exported only when missing.

    Keyed by `context.model_id` (or a fingerprint of the weights), input size, dtype, opset and
    torch version, and written atomically. With no cache_dir it goes to a new temp folder that
    the caller removes.
    """
    if dtype not in EXPORT_DTYPES:
        raise SysnoiseError(f"ONNX export dtype {dtype!r}; valid: {', '.join(EXPORT_DTYPES)}")
    if example is None or np.ndim(example) != 4:
        raise SysnoiseError(
            "exporting to ONNX needs an example batch (N, 3, H, W) of model inputs: "
            "pass it to Backend.prepare(model, example)"
        )
    root = context.cache_dir if context.cache_dir is not None else Path(tempfile.mkdtemp())
    if getattr(model, "format", None) == "onnx":  # a model file (sysnoise.sources.files)
        return _cached_copy(model, Path(root), dtype)
    name = _file_name(model, example, context.model_id, dtype, context.dynamic_size)
    path = Path(root) / "onnx" / name
    export = export_onnx
    if context.dynamic_size:
        export = functools.partial(export_onnx, dynamic_size=True)
    if not path.is_file():
        atomic_write(path, lambda tmp: export(model, example, tmp, dtype))
    return path


def _cached_copy(model_file: Any, root: Path, dtype: str) -> Path:
    """A user's ONNX file, copied into the cache by content (derived files go beside it)."""
    if dtype != "fp32":
        raise SysnoiseError(
            f"{model_file.path.name} is an ONNX file: it runs as exported, not in {dtype}"
        )
    path = root / "onnx" / f"file-{model_file.sha256[:16]}.onnx"
    if not path.is_file():
        atomic_write(path, lambda tmp: _embed_copy(model_file.path, tmp))
    return path


def _embed_copy(source: Path, destination: Path) -> None:
    """Copy an ONNX file with any external data (weights in side files) embedded."""
    import onnx

    proto = onnx.load(str(source))  # reads external data from the source's folder
    try:
        onnx.save(proto, str(destination))
    except ValueError as exc:  # protobuf's 2 GB limit
        raise SysnoiseError(f"{source.name} is too large to copy into the cache: {exc}") from None


def _file_name(
    model: torch.nn.Module, example: np.ndarray, model_id: str, dtype: str, dynamic_size: bool
) -> str:
    import torch

    model_id = model_id or module_fingerprint(model)
    key = {
        "model": model_id,
        "input": list(example.shape[1:]),
        "dtype": dtype,
        "opset": OPSET,
        "torch": torch.__version__,
    }
    if dynamic_size:
        key["dynamic_size"] = True
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", model_id)[:40].strip("-.") or "model"
    return f"{slug}-{dtype}-{digest}.onnx"


def with_all_outputs(onnx_path: Path) -> onnx.ModelProto:
    """The model at `onnx_path` with every intermediate tensor added as a graph output.

    For per-layer comparison: run it in ONNX Runtime and every node's outputs come back, named
    as in the graph. Types come from ONNX shape inference where it knows them.
    """
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(onnx_path)))
    graph = model.graph
    known = {info.name: info for info in graph.value_info}
    present = {output.name for output in graph.output}
    for node in graph.node:
        for name in node.output:
            if name and name not in present:
                graph.output.append(known.get(name) or onnx.ValueInfoProto(name=name))
                present.add(name)
    return model


def onnx_metadata(onnx_path: Path) -> dict[str, str]:
    """The `metadata_props` of an ONNX file as a dict (exporter, dtype, quantization settings)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return {prop.key: prop.value for prop in model.metadata_props}
