"""`sysnoise imagenet-s generate|verify`: write a set of stored variants, or check one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sysnoise.cli.argtypes import non_negative, positive
from sysnoise.config import default_cache_dir


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `imagenet-s` with its `generate` and `verify` actions; `generate`'s defaults
    are `GenerateConfig`'s."""
    from sysnoise.imagenet_s.generate import GenerateConfig

    defaults = GenerateConfig(out=Path())
    parser = commands.add_parser(
        "imagenet-s",
        help="generate or verify a stored ImageNet-S set (every decoder x resizer variant)",
        description="Store a dataset's model inputs under many decoders and resizers, or verify "
        "such a set. Evaluate a model on it with `sysnoise bench --imagenet-s DIR`.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    generate = actions.add_parser(
        "generate",
        help="write (or resume writing) a set",
        description="Write each variant's uint8 crops (N x S x S x 3 .npy), a failures list "
        "per variant and, last, manifest.json. Re-run the same command to resume.",
    )
    generate.add_argument("--out", type=Path, required=True, help="output folder")
    generate.add_argument(
        "--data", type=Path, default=None, help="image folder (default: the sample set)"
    )
    generate.add_argument("--labels", type=Path, default=None, help="labels file for a flat folder")
    generate.add_argument(
        "--variants",
        default=defaults.variants,
        help="comma-separated DECODER/RESIZER names, lone decoder or resizer names, or presets "
        "(imagenet-s: 3 decoders x 11 resizers, the default; all: every decoder x resizer)",
    )
    generate.add_argument(
        "--protocol",
        choices=("published", "shorter"),
        default=defaults.protocol,
        help="published (default): squash to (size x 8/7)^2, then centre crop, OpenCV and the "
        "ffmpeg program applying EXIF, as the published ImageNet-S generator; shorter: resize the "
        "shorter side keeping the aspect (torchvision), EXIF ignored, FFmpeg through PyAV",
    )
    generate.add_argument(
        "--size",
        type=positive,
        default=defaults.crop_size,
        help=f"crop size (default {defaults.crop_size})",
    )
    generate.add_argument(
        "--resize-size",
        type=positive,
        default=None,
        help="size before the crop (default size * 8 / 7): both sides under the published "
        "protocol, the shorter side under --protocol shorter",
    )
    generate.add_argument(
        "--model",
        default=None,
        help="take resize and crop sizes from this model's reference pipeline instead",
    )
    generate.add_argument(
        "--workers",
        type=non_negative,
        default=defaults.workers,
        help=f"worker processes (default {defaults.workers})",
    )
    generate.add_argument(
        "--chunk",
        type=positive,
        default=defaults.chunk_size,
        help=f"images between progress commits (default {defaults.chunk_size})",
    )
    generate.add_argument(
        "--limit", type=positive, default=None, help="a class-stratified sample of N images"
    )
    generate.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"where the sample set is kept (default {defaults.cache_dir})",
    )
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    generate.set_defaults(run=run_generate)
    verify = actions.add_parser("verify", help="re-hash a set; exit 1 if a variant is damaged")
    verify.add_argument("root", type=Path, help="the set's folder")
    verify.add_argument("--threads", type=positive, default=2, help="files hashed at once")
    verify.set_defaults(run=run_verify)


def run_generate(args: argparse.Namespace) -> int:
    """Build the config and generate; print what was written, reused and skipped. Under
    torchrun every rank writes its share of the rows and rank 0 prints."""
    from sysnoise.cli.argtypes import check_limits, check_output_dir
    from sysnoise.errors import SysnoiseError
    from sysnoise.imagenet_s.generate import GenerateConfig, generate

    if args.model is not None and (args.size != GenerateConfig.crop_size or args.resize_size):
        raise SysnoiseError("--model sets the sizes: leave out --size and --resize-size")
    check_output_dir(args.out, "--out")
    check_output_dir(args.cache_dir or default_cache_dir(), "--cache-dir")
    check_limits()
    config = GenerateConfig(
        out=args.out,
        data=args.data,
        labels=args.labels,
        variants=args.variants,
        protocol=args.protocol,
        crop_size=args.size,
        resize_size=args.resize_size,
        model=args.model,
        workers=args.workers,
        chunk_size=args.chunk,
        limit=args.limit,
        cache_dir=args.cache_dir or default_cache_dir(),
        progress=not args.no_progress,
    )
    outcome = generate(config)
    if outcome is None:  # a rank other than 0 of a torchrun run: rank 0 reports
        return 0
    print(
        f"{outcome.n_images} images, {config.protocol} protocol: wrote {len(outcome.written)} "
        f"variants, {len(outcome.reused)} already done, {len(outcome.skipped)} skipped "
        f"({outcome.images_processed} images processed in {outcome.seconds:.1f} s)"
    )
    for name, reason in outcome.skipped.items():
        print(f"skipped {name}: {reason}")
    print(f"wrote {outcome.manifest_path}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Print one line per variant; exit status 1 when any is damaged or missing."""
    from sysnoise.imagenet_s.verify import format_checks, verify

    checks = verify(args.root, args.threads)
    print(format_checks(checks))
    bad = [check.name for check in checks if check.bad]
    if bad:
        print(f"sysnoise: {len(bad)} damaged or missing variant(s) in {args.root}", file=sys.stderr)
        return 1
    return 0
