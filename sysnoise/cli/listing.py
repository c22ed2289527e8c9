"""`sysnoise list`: the registered models, decoders, resizers, suites and backends."""

from __future__ import annotations

import argparse

KINDS = ("models", "decoders", "resizers", "colours", "suites", "backends")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `list`."""
    parser = commands.add_parser(
        "list", help="list models, decoders, resizers, colours, suites, backends"
    )
    parser.add_argument("kind", choices=KINDS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per entry of the chosen kind."""
    for name, description in entries(args.kind):
        print(f"{name:<24} {description}")
    return 0


def entries(kind: str) -> list[tuple[str, str]]:
    """(name, one-line description) for every entry of `kind`."""
    if kind == "decoders":
        from sysnoise.noises.decoders import DECODERS

        return [
            (n, f"[{d.library}] {d.description}{_unavailable(d.unavailable_reason())}")
            for n, d in ((n, DECODERS.get(n)) for n in DECODERS)
        ]
    if kind == "resizers":
        from sysnoise.noises.resizers import RESIZERS

        return [
            (n, f"{r.description}{_unavailable(r.unavailable_reason())}")
            for n, r in ((n, RESIZERS.get(n)) for n in RESIZERS)
        ]
    if kind == "colours":
        from sysnoise.noises.colour import COLOURS

        return [(n, COLOURS.get(n).description) for n in COLOURS]
    if kind == "suites":
        from sysnoise.noises.suites import SUITES

        return [(n, SUITES.get(n).description) for n in SUITES]
    if kind == "backends":
        from sysnoise.backends import BACKENDS

        return [
            (
                n,
                f"{b.__doc__.strip().splitlines()[0]} [{', '.join(b.precisions)}; {b.family}"
                f"{', diff per layer' if b.instrumentable else ''}]"
                f"{_unavailable(b.availability())}",
            )
            for n, b in ((n, BACKENDS.get(n)) for n in BACKENDS)
        ]
    from sysnoise.zoo import model_registry, resolve_model

    rows = []
    for arch in model_registry():
        spec = resolve_model(arch)
        top1 = f"{spec.published_top1:.2f}%" if spec.published_top1 else "?"
        rows.append(
            (
                arch,
                f"{spec.weights_tag}, published top-1 {top1}, reference "
                f"{spec.reference.resizer} {spec.reference.resize_size}/"
                f"{spec.reference.crop_size}",
            )
        )
    return rows


def _unavailable(reason: str | None) -> str:
    return "" if reason is None else f" (unavailable here: {reason})"
