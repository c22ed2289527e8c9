"""`sysnoise list`: the registered models, decoders, resizers, suites and backends."""

from __future__ import annotations

import argparse

KINDS = ("models", "decoders", "resizers", "colours", "suites", "backends", "noises")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `list`."""
    parser = commands.add_parser(
        "list", help="list models, decoders, resizers, colours, suites, backends, noises"
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument(
        "suite",
        nargs="?",
        default=None,
        help="for `list noises`: a suite name or a suite file (.toml); default sysnoise",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per entry of the chosen kind."""
    rows = noise_entries(args.suite or "sysnoise") if args.kind == "noises" else entries(args.kind)
    for name, description in rows:
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
    return model_entries()


def model_entries() -> list[tuple[str, str]]:
    """One line per model the registered sources can open by name, then the other kinds."""
    from sysnoise.zoo import MODEL_SOURCES, resolve_model

    rows = []
    for kind in MODEL_SOURCES:
        source = MODEL_SOURCES.get(kind)
        names = source.known_names()
        if not names:
            rows.append((f"{kind}:...", source.description))
        for name in names:
            spec = resolve_model(name)
            top1 = f"{spec.published_top1:.2f}%" if spec.published_top1 else "?"
            what = f"published top-1 {top1}" if spec.task == "classification" else spec.task
            rows.append(
                (
                    name,
                    f"{spec.weights_tag}, {what}, reference "
                    f"{spec.reference.resizer} {spec.reference.resize_size}/"
                    f"{spec.reference.crop_size}",
                )
            )
    return rows


def noise_entries(suite: str) -> list[tuple[str, str]]:
    """(noise name, its category and changes) for every noise of a suite or suite file."""
    from sysnoise.noises.noise_names import resolve_suite
    from sysnoise.pipeline import Pipeline

    return [
        (
            noise.name,
            f"[{noise.category_for(Pipeline()) or 'none'}] "
            + ", ".join(f"{field}={value}" for field, value in noise.changes.items()),
        )
        for noise in resolve_suite(suite).build()
    ]


def _unavailable(reason: str | None) -> str:
    return "" if reason is None else f" (unavailable here: {reason})"
