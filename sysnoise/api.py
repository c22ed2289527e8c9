"""The Python API: evaluate a model under system noise from a notebook or a script.

    import sysnoise
    result = sysnoise.evaluate(model, suite="quick", limit=20)
    result.rows                      # one row per noise (pandas DataFrame)
    result.save("my-run.json")       # the results JSON, plus the per-image predictions beside it
    sysnoise.load_results("my-run.json")

`model` is anything `sysnoise bench --model` takes (a zoo name, ``timm:NAME``, a model file), a
`ModelSource`, an `nn.Module`, or a callable on normalised NCHW float batches.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sysnoise.config import BenchConfig, default_cache_dir
from sysnoise.errors import SysnoiseError
from sysnoise.fileio import atomic_write
from sysnoise.pipeline import Pipeline


@dataclass(frozen=True)
class Result:
    """A results document (see the README's results format) and where its predictions are."""

    document: dict[str, Any]
    predictions_path: Path | None = None

    @property
    def rows(self) -> Any:
        """One row per evaluated noise, as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.document["rows"])

    @property
    def not_evaluated(self) -> Any:
        """The suite's noises left out of the run, with status and reason (a DataFrame)."""
        import pandas as pd

        return pd.DataFrame(
            self.document.get("not_evaluated", []), columns=["noise", "status", "reason"]
        )

    @property
    def predictions(self) -> Any:
        """Per-image top-1 classes under the reference and every noise (a DataFrame)."""
        import pandas as pd

        if self.predictions_path is None or not self.predictions_path.is_file():
            raise SysnoiseError("this result has no predictions file beside it")
        return pd.read_csv(self.predictions_path)

    def save(self, path: str | Path) -> Path:
        """Write the results JSON to `path` and the predictions beside it; returns `path`."""
        path = Path(path)
        document = dict(self.document)
        if self.predictions_path is not None:
            name = f"{path.stem}.predictions.csv.gz"
            target = path.with_name(name)
            if target.resolve() != self.predictions_path.resolve():
                atomic_write(target, lambda tmp: shutil.copyfile(self.predictions_path, tmp))
            document["predictions_file"] = name
        text = json.dumps(document, indent=2, allow_nan=False) + "\n"
        atomic_write(path, lambda tmp: tmp.write_text(text))
        return path


def load_results(path: str | Path) -> Result:
    """A Result from any saved results JSON (`sysnoise bench` output or `Result.save`)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SysnoiseError(f"results file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SysnoiseError(f"{path} is not a results JSON: {exc}") from None
    if not isinstance(document, dict) or "schema_version" not in document or "rows" not in document:
        raise SysnoiseError(f"{path} is not a sysnoise results document (no schema_version/rows)")
    name = document.get("predictions_file")
    return Result(document, path.with_name(name) if name else None)


def evaluate(
    model: Any,
    data: str | Path | None = None,
    suite: str | Sequence[str] = "quick",
    reference: str | Pipeline | None = None,
    *,
    labels: str | Path | None = None,
    weights: str | Path | None = None,
    limit: int | None = None,
    device: str = "auto",
    batch_size: int = 32,
    workers: int = 0,
    out_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> Result | None:
    """Evaluate `model` on `data` (an image folder; None: the embedded sample set) under `suite`
    (a suite name, a suite file, or a list of noise names such as ``"resize=cv2-linear"``).

    `reference` is the model's reference pipeline: needed for model files and modules that do not
    use torchvision's classic preprocessing (a name such as ``"torchvision-v1"``, a zoo model, a
    ``field=value`` spec or a `Pipeline`). Results are written under `out_dir` (default: a
    temporary folder; use `Result.save` to keep them). Under torchrun the ranks share the images
    and rank 0 returns the results; the other ranks return None.
    """
    from sysnoise.bench import run_bench

    noises = None
    suite_name = suite
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="sysnoise-"))
    if not isinstance(suite, str):
        noises = ",".join(name.replace(",", "+") for name in suite)
        suite_name = "custom"
    config = BenchConfig(
        model=model if isinstance(model, str) else "mobilenet_v2",
        reference=reference,
        data=None if data is None else Path(data),
        labels=None if labels is None else Path(labels),
        suite=str(suite_name),
        noises=noises,
        limit=limit,
        batch_size=batch_size,
        workers=workers,
        weights=None if weights is None else Path(weights),
        device=device,
        out_dir=out,
        cache_dir=Path(cache_dir) if cache_dir is not None else default_cache_dir(),
        progress=progress,
    )
    outcome = run_bench(config, model=None if isinstance(model, str) else model)
    if outcome is None:  # a rank other than 0 under torchrun: rank 0 holds the results
        return None
    return load_results(outcome.json_path)
