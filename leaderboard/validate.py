"""Validation of a results document before it may join the leaderboard."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

from sysnoise.errors import SysnoiseError
from sysnoise.leaderboard.consistency import consistency_problems, submission_text_problems

_MISSING = object()
_CATEGORY_TOLERANCE = 1e-9
MAX_DEPTH = 16  # a results document nests 4 deep; deeper input is refused before it is walked
MAX_NODES = 1_000_000
_STORED_SUITE = "imagenet-s-stored"  # sysnoise.imagenet_s.plan.SUITE_NAME, rows from a stored set

SCHEMA_FILE = Path(__file__).resolve().parent / "schema" / "results.schema.json"
_MAX_MESSAGE_CHARS = 200
_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def validate(document: Any) -> list[str]:
    """Every problem with `document` as a leaderboard submission; empty when it is valid."""
    from sysnoise.document import SCHEMA_VERSION

    if not isinstance(document, dict):
        return [f"document: must be a JSON object, got {type(document).__name__}"]
    shape = structure_problem(document)
    if shape is not None:
        return [shape]
    version = document.get("schema_version", _MISSING)
    if version is _MISSING:
        return ["schema_version: missing"]
    if not _is_int(version) or version != SCHEMA_VERSION:
        return [
            f"schema_version: {version!r} is not a known version (expected {SCHEMA_VERSION}; "
            "re-run sysnoise bench with this release to produce one)"
        ]
    problems = list(_non_finite_numbers(document, ""))
    problems += schema_problems(document)  # every task's types and ranges, shared blocks too
    if not problems:  # the cross checks read a document of the right types and ranges
        problems += _task_problems(document)
    problems += _submission_problems(document.get("submission", _MISSING))
    return problems


def _task_problems(document: dict) -> list[str]:
    """The cross checks of the document's task: what its figures must agree on."""
    task = document.get("task", "classification")
    if task == "segmentation":
        from sysnoise.leaderboard.segmentation_checks import segmentation_problems

        return segmentation_problems(document)
    if task == "detection":
        from sysnoise.leaderboard.detection_checks import detection_problems

        return detection_problems(document)
    return [
        *_suite_problems(document),
        *_category_problems(document),
        *consistency_problems(document),
        *_holm_problems(document["rows"]),
        *_robustart_problems(document),
    ]


def schema_problems(document: Any) -> list[str]:
    """Where `document` breaks the shipped results schema (types, ranges, required fields),
    one line per problem, naming the field."""
    problems: dict[str, None] = {}
    for error in sorted(_validator().iter_errors(document), key=lambda e: e.json_path):
        for problem in _schema_messages(error):
            problems.setdefault(problem)
    return list(problems)


@functools.cache
def _validator() -> Any:
    """The shipped schema's validator; an integer is an int, never a float such as 3.0."""
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine("integer", lambda _, value: _is_int(value))
    return jsonschema.validators.extend(base, type_checker=checker)(schema)


def _schema_messages(error: Any) -> list[str]:
    path = _dotted(error.absolute_path)
    kind, bound, value = error.validator, error.validator_value, error.instance
    if kind in ("anyOf", "oneOf"):
        # A nullable block: the non-null branch says what is wrong with the value.
        reasons = [e for e in error.context if (e.validator, e.validator_value) != ("type", "null")]
        if reasons and not all(e.validator == "type" for e in reasons):
            return [m for e in reasons if e.validator != "type" for m in _schema_messages(e)]
        return [f"{path}: must be an object or null, got {_json_type(value)}"]
    if kind == "required":
        return [f"{_joined(path, name)}: missing" for name in bound if name not in value]
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = ", ".join(sorted(str(k) for k in value if k not in known))
        return [f"{path}: unexpected fields {extra}"]
    if kind == "type":
        expected = " or ".join(bound) if isinstance(bound, list) else bound
        return [f"{path}: must be {expected}, got {_json_type(value)}"]
    if kind == "minimum":
        below = "is negative" if bound == 0 else f"is less than {_number(bound)}"
        return [f"{path}: {value} {below}"]
    if kind == "maximum":
        return [f"{path}: {value} is more than {_number(bound)}"]
    if kind == "maxLength":
        return [f"{path}: {len(value)} characters, more than {bound}"]
    if kind == "minLength":
        return [f"{path}: must not be empty"]
    if kind in ("minItems", "maxItems"):
        return [f"{path}: must hold {bound} values, got {len(value)}"]
    if kind in ("enum", "const"):
        allowed = bound if kind == "enum" else [bound]
        return [f"{path}: {_short(repr(value))} is not one of {', '.join(map(repr, allowed))}"]
    return [f"{path}: {_short(error.message)}"]


def _dotted(parts: Any) -> str:
    """``rows[0].top1`` for the path (rows, 0, top1); "document" for the root."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "document"


def _joined(path: str, name: str) -> str:
    return name if path == "document" else f"{path}.{name}"


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "..."


def structure_problem(document: Any) -> str | None:
    """Why `document` is too deep or too large to be a results document, or None."""
    stack = [(document, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            return f"document: nested more than {MAX_DEPTH} levels deep"
        if nodes > MAX_NODES:
            return f"document: more than {MAX_NODES} values"
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return None


def board_problems(document: Any) -> list[str]:
    """What keeps `document` off the board: `validate`'s problems and, for a segmentation or
    detection run, noises that are not a built-in suite's (a one-off list ranks against
    nothing; classification's `validate` checks this already). Empty when it may join."""
    problems = validate(document)
    if not problems and document.get("task", "classification") != "classification":
        problems = _suite_problems(document)
    return problems


def check(document: Any, board: bool = False) -> None:
    """Raise SysnoiseError listing every problem when `document` is not a valid results document
    (`board`: not a valid leaderboard entry, see `board_problems`)."""
    problems = board_problems(document) if board else validate(document)
    if problems:
        listed = "; ".join(problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise SysnoiseError(f"invalid results document: {listed}{more}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _non_finite_numbers(value: Any, path: str):
    if isinstance(value, float) and not math.isfinite(value):
        yield f"{path or 'document'}: {value} is not a finite number"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite_numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite_numbers(item, f"{path}[{index}]")


def _reference_pipeline(document: dict) -> Any:
    from sysnoise.pipeline import Pipeline

    return Pipeline.from_dict(document["reference_pipeline"])


def _suite_problems(document: dict) -> list[str]:
    """Rows and not-evaluated noises must be exactly the noises the run declares, each of them a
    noise of the suite as this release defines it. A suite that has grown since the run (a new
    decoder) does not invalidate it: the declared list says what the run covered."""
    from sysnoise.noises.suites import SUITES

    name = document["suite"]["name"]
    if name not in SUITES.names() and name != _STORED_SUITE:
        known_names = ", ".join([*SUITES.names(), _STORED_SUITE])
        return [f"suite.name: unknown suite {name!r} (known: {known_names})"]
    try:
        reference = _reference_pipeline(document)
        if name == _STORED_SUITE:  # the noises are the set's stored variants, named by the set
            known = {row["noise"] for row in document["rows"]} | {
                s.get("noise") for s in document.get("not_evaluated", []) if isinstance(s, dict)
            }
        else:
            known = {noise.name for noise, _ in SUITES.get(name).resolve(reference)}
    except (TypeError, ValueError, SysnoiseError) as exc:
        return [f"reference_pipeline: not a valid pipeline ({exc})"]
    declared = document["suite"].get("noises")
    skipped = document.get("not_evaluated", [])
    if not isinstance(declared, list) or not all(isinstance(n, str) for n in declared):
        return ["suite.noises: must be the list of the suite's noise names"]
    if not isinstance(skipped, list) or not all(
        isinstance(s, dict) and isinstance(s.get("noise"), str) for s in skipped
    ):
        return ["not_evaluated: must be a list of objects with a noise name"]
    actual = [row["noise"] for row in document["rows"]] + [s["noise"] for s in skipped]
    problems = []
    unknown = sorted(set(declared) - known)
    missing = sorted(set(declared) - set(actual))
    extra = sorted(set(actual) - set(declared))
    duplicated = sorted({n for n in actual if actual.count(n) > 1})
    if unknown:
        problems.append(f"suite.noises: not noises of suite {name!r}: {', '.join(unknown)}")
    if missing:
        problems.append(f"rows: missing noises of suite {name!r}: {', '.join(missing)}")
    if extra:
        problems.append(f"rows: noises not in suite {name!r}: {', '.join(extra)}")
    if duplicated:
        problems.append(f"rows: duplicated noises: {', '.join(duplicated)}")
    return problems + _status_problems(skipped)


_SKIP_STATUSES = ("not applicable", "unavailable")


def _status_problems(skipped: list[dict]) -> list[str]:
    """A noise that failed (an error, not a known unavailability) makes the run incomplete."""
    problems = []
    for index, skip in enumerate(skipped):
        status = skip.get("status")
        if status == "failed":
            problems.append(
                f"not_evaluated[{index}]: {skip['noise']} failed ({skip.get('reason')}); fix the "
                "error and run again: a failed noise is not a result"
            )
        elif status not in _SKIP_STATUSES:
            problems.append(
                f"not_evaluated[{index}].status: {status!r} is not one of "
                f"{', '.join(_SKIP_STATUSES)}"
            )
    return problems


def _category_problems(document: dict) -> list[str]:
    from sysnoise.metrics import category_summary

    expected = category_summary(document["rows"])
    actual = document["categories"]
    problems = []
    for category in sorted(set(expected) | set(actual)):
        if category not in actual:
            problems.append(f"categories.{category}: missing")
            continue
        if category not in expected:
            problems.append(f"categories.{category}: no row has this category")
            continue
        for key, want in expected[category].items():
            got = (
                actual[category].get(key, _MISSING) if isinstance(actual[category], dict) else None
            )
            if not _close(got, want):
                problems.append(
                    f"categories.{category}.{key}: {got!r} does not match the rows ({want!r})"
                )
    return problems


def _holm_problems(rows: list[dict]) -> list[str]:
    """The adjusted p of every row must be Holm's over the run's raw McNemar p-values."""
    from sysnoise.intervals import holm_adjusted

    raw = [row.get("mcnemar_p") for row in rows]
    if not all(p is None or _is_number(p) for p in raw):
        return []  # reported by the row checks
    return [
        f"rows[{i}].mcnemar_p_holm: {row.get('mcnemar_p_holm')!r} is not Holm's adjustment "
        f"of the run's McNemar p-values ({want!r})"
        for i, (row, want) in enumerate(zip(rows, holm_adjusted(raw), strict=True))
        if not _close(row.get("mcnemar_p_holm"), want)
    ]


def _robustart_problems(document: dict) -> list[str]:
    """The RobustART summary, where given, must be the one the rows give."""
    from sysnoise.robustart import robustart_summary

    got = document.get("robustart")
    if got is None:
        return []
    want = robustart_summary(document)
    if not isinstance(got, dict) or want is None:
        return ["robustart: the run holds no published ImageNet-S variant"]
    return [
        f"robustart.{key}: {got.get(key)!r} does not match the rows ({value!r})"
        for key, value in want.items()
        if not (_close(got.get(key), value) if _is_number(value) else got.get(key) == value)
    ]


def _close(got: Any, want: Any) -> bool:
    if want is None or got is None:
        return got is want
    return _is_number(got) and abs(got - want) <= _CATEGORY_TOLERANCE


def _submission_problems(submission: Any) -> list[str]:
    """A submission block, where present, is an object (the schema checks its fields) whose
    texts are bounded and whose links are http(s)."""
    if submission is _MISSING:
        return []
    if submission is None:
        return ["submission: must be an object"]
    if not isinstance(submission, dict):
        return []  # reported by the schema
    return submission_text_problems(submission)
