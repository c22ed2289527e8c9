"""`sysnoise diff`: where a noise's difference comes from, layer by layer."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sysnoise.backends.base import CALIBRATION_METHODS
from sysnoise.cli.argtypes import non_negative_float, positive
from sysnoise.config import default_cache_dir


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `diff` and its options; every default is `DiffConfig`'s."""
    from sysnoise.diff.config import DiffConfig

    defaults = DiffConfig()
    parser = commands.add_parser(
        "diff",
        help="compare a model's activations under the reference and a noisy pipeline",
        description=(
            "Run the reference and one noisy pipeline side by side on a few images and show, "
            "layer by layer, where the activations first diverge beyond a tolerance."
        ),
    )
    parser.add_argument(
        "model", nargs="?", default=defaults.model, help=f"model (default {defaults.model})"
    )
    parser.add_argument(
        "--noise",
        required=True,
        help="noise name, e.g. precision=torch-bf16 (see the sysnoise suite)",
    )
    parser.add_argument(
        "--suite",
        default=None,
        help="suite to find the noise in (default: sysnoise, then every other suite)",
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="image folder (default: the sample set)"
    )
    parser.add_argument(
        "--images", type=positive, default=defaults.images, help=f"images ({defaults.images})"
    )
    parser.add_argument(
        "--tolerance",
        type=non_negative_float,
        default=defaults.tolerance,
        help="relative error (max abs diff / max abs of the reference) a layer may have "
        f"({defaults.tolerance:g})",
    )
    parser.add_argument(
        "--top", type=positive, default=None, help="show only the K layers with the largest error"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument(
        "--device", default=defaults.device, help=f"cpu, cuda or auto ({defaults.device})"
    )
    parser.add_argument(
        "--weights", type=Path, default=None, help="checkpoint instead of torchvision's cache"
    )
    parser.add_argument(
        "--calibration",
        type=positive,
        default=None,
        help="INT8 calibration images, held out of the comparison (default: as bench does)",
    )
    parser.add_argument(
        "--calibration-method",
        default=defaults.calibration_method,
        choices=CALIBRATION_METHODS,
        help=f"INT8 calibration method (default {defaults.calibration_method})",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"exported models and sample files (default {defaults.cache_dir})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build the config, compare, print the table (and write the JSON)."""
    from sysnoise.diff import DiffConfig, format_diff, run_diff
    from sysnoise.fileio import atomic_write_text

    config = DiffConfig(
        model=args.model,
        noise=args.noise,
        suite=args.suite,
        data=args.data,
        images=args.images,
        tolerance=args.tolerance,
        device=args.device,
        weights=args.weights,
        cache_dir=args.cache_dir or default_cache_dir(),
        calibration_size=args.calibration,
        calibration_method=args.calibration_method,
    )
    report = run_diff(config)
    print(format_diff(report, top=args.top))
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0
