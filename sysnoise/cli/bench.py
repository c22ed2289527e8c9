"""`sysnoise bench`: evaluate a model under a suite of system noises."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sysnoise.backends.base import CALIBRATION_METHODS
from sysnoise.cli.argtypes import check_limits, check_output_dir, non_negative, positive
from sysnoise.config import BenchConfig, default_cache_dir


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `bench` and its options; every default is `BenchConfig`'s."""
    defaults = BenchConfig()
    parser = commands.add_parser(
        "bench",
        help="evaluate a model under a noise suite",
        description="Evaluate a model under a suite of system noises.",
    )
    parser.add_argument(
        "--model",
        default=defaults.model,
        help="a zoo model (ARCH or ARCH:WEIGHTS_TAG, efficientnet_lite0), timm:NAME, or a "
        f"model file (.onnx, TorchScript .pt, torch.export .pt2, .engine); "
        f"default {defaults.model}",
    )
    parser.add_argument(
        "--reference",
        default=None,
        help="reference preprocessing for a model file: torchvision-v1, a zoo model's name, or "
        "FIELD=VALUE,... (decoder, resizer, resize_size, resize_protocol, crop_size, mean, std)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="image folder (ImageNet val layout, a VOC-style segmentation folder with "
        "JPEGImages/ and SegmentationClass/, or any images); default: sample set",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="labels file for a flat folder (LOC_val_solution.csv or labels.txt)",
    )
    parser.add_argument(
        "--task",
        default=None,
        help="classification, segmentation or detection; default: the model's own (a zoo "
        "model's task cannot be changed; a model file or object takes the one given)",
    )
    parser.add_argument(
        "--label-map",
        default=defaults.label_map,
        choices=("identity", "cityscapes"),
        help="segmentation masks: class indices as stored (VOC palette PNGs, the default) or "
        "Cityscapes label ids mapped to the 19 training ids",
    )
    parser.add_argument(
        "--annotations",
        type=Path,
        default=None,
        help="COCO instances JSON for a detection model (default: agreement with the reference)",
    )
    parser.add_argument(
        "--suite",
        default=defaults.suite,
        help=f"noise suite (sysnoise list suites) or a suite file (.toml); "
        f"default {defaults.suite}",
    )
    parser.add_argument(
        "--noises",
        default=None,
        help="one-off list instead of a suite: NOISE,NOISE,... as result rows name them; "
        "join changes into one noise with + (decoder=cv2+resize=cv2-area)",
    )
    parser.add_argument(
        "--limit",
        type=positive,
        default=None,
        help="a seeded sample of N images, stratified by class (same N and seed: same images)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative,
        default=defaults.seed,
        help=f"seed of the --limit sample (default {defaults.seed})",
    )
    parser.add_argument(
        "--batch",
        type=positive,
        default=defaults.batch_size,
        help=f"forward batch size (default {defaults.batch_size})",
    )
    parser.add_argument(
        "--workers",
        type=non_negative,
        default=defaults.workers,
        help=f"decoding worker processes (default {defaults.workers}: in the main process)",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="checkpoint file to use instead of torchvision's cache",
    )
    parser.add_argument(
        "--device", default=defaults.device, help=f"cpu, cuda or auto (default {defaults.device})"
    )
    parser.add_argument(
        "--calibration",
        type=positive,
        default=None,
        help="INT8 calibration images (default: all of --calibration-data up to 512; else a "
        "tenth of the data, 8 to 512, held out of scoring)",
    )
    parser.add_argument(
        "--calibration-data",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of INT8 calibration images (e.g. ImageNet train images), so that every "
        "evaluation image is scored",
    )
    parser.add_argument(
        "--calibration-method",
        default=defaults.calibration_method,
        choices=CALIBRATION_METHODS,
        help="INT8 activation ranges: minmax (default), entropy (KL divergence, TensorRT's) or "
        "percentile (99.99%% of |x|)",
    )
    parser.add_argument(
        "--out", type=Path, default=defaults.out_dir, help=f"results folder ({defaults.out_dir})"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"prediction cache and sample files (default {defaults.cache_dir})",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--imagenet-s",
        type=Path,
        default=None,
        metavar="DIR",
        help="evaluate on the stored variants of a set from `sysnoise imagenet-s generate` "
        "(with --suite: that suite's noises on the stored pixels)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build the config, run the benchmark, print the report."""
    from sysnoise.bench import run_bench
    from sysnoise.report import format_report

    check_output_dir(args.out, "--out")
    check_output_dir(args.cache_dir or default_cache_dir(), "--cache-dir")
    check_limits()
    config = BenchConfig(
        model=args.model,
        reference=args.reference,
        noises=args.noises,
        data=args.data,
        labels=args.labels,
        annotations=args.annotations,
        suite=args.suite,
        limit=args.limit,
        seed=args.seed,
        batch_size=args.batch,
        workers=args.workers,
        weights=args.weights,
        device=args.device,
        out_dir=args.out,
        cache_dir=args.cache_dir or default_cache_dir(),
        progress=not args.no_progress,
        calibration_size=args.calibration,
        calibration_data=args.calibration_data,
        calibration_method=args.calibration_method,
        task=args.task,
        label_map=args.label_map,
    )
    if args.imagenet_s is not None:
        from sysnoise.imagenet_s.evaluate import run_stored_bench

        outcome = run_stored_bench(config, args.imagenet_s)
    else:
        outcome = run_bench(config)
    if outcome is None:  # a rank other than 0 of a distributed run: rank 0 reports
        return 0
    print(format_report(outcome.document))
    print(f"\nwrote {outcome.json_path} (+ .csv, .predictions.csv.gz)")
    failed = [s["noise"] for s in outcome.document["not_evaluated"] if s["status"] == "failed"]
    if failed:
        print(
            f"sysnoise: {len(failed)} noise(s) failed with an error ({', '.join(failed)}): see "
            "the report; the leaderboard refuses this result until they run",
            file=sys.stderr,
        )
        return 1
    return 0
