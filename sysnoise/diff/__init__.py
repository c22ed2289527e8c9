"""`sysnoise diff`: where a noise's difference comes from, layer by layer (forward hooks on
torch; every intermediate tensor of the graph ONNX Runtime runs), in the spirit of Polygraphy's
per-layer comparison. Heavy libraries are imported only when a comparison runs."""

from sysnoise.diff.compare import DiffReport, FinalOutputs, LayerStat
from sysnoise.diff.config import DiffConfig
from sysnoise.diff.run import DiffSubject, diff_model, run_diff
from sysnoise.diff.table import format_diff, layer_frame, summary_lines

__all__ = [
    "DiffConfig",
    "DiffReport",
    "DiffSubject",
    "FinalOutputs",
    "LayerStat",
    "diff_model",
    "format_diff",
    "layer_frame",
    "run_diff",
    "summary_lines",
]
