"""Validation of a results document before it may join the leaderboard."""

from __future__ import annotations

import math
from typing import Any

from sysnoise.errors import SysnoiseError
from sysnoise.leaderboard.consistency import consistency_problems, submission_text_problems

_MISSING = object()
_CATEGORY_TOLERANCE = 1e-9
MAX_DEPTH = 16  # a results document nests 4 deep; deeper input is refused before it is walked
MAX_NODES = 1_000_000
_STORED_SUITE = "imagenet-s-stored"  # sysnoise.imagenet_s.plan.SUITE_NAME, rows from a stored set

# (dotted path, allowed types, may be null)
_REQUIRED: tuple[tuple[str, tuple[type, ...], bool], ...] = (
    ("tool", (dict,), False),
    ("tool.version", (str,), False),
    ("tool.git_hash", (str,), True),
    ("created", (str,), False),
    ("environment", (dict,), False),
    ("environment.packages", (dict,), False),
    ("model", (dict,), False),
    ("model.name", (str,), False),
    ("model.arch", (str,), False),
    ("model.weights_sha256", (str,), False),
    ("dataset", (dict,), False),
    ("dataset.name", (str,), False),
    ("dataset.n_images", (int,), False),
    ("dataset.fingerprint", (str,), False),
    ("suite", (dict,), False),
    ("suite.name", (str,), False),
    ("reference_pipeline", (dict,), False),
    ("reference", (dict,), False),
    ("rows", (list,), False),
    ("categories", (dict,), False),
)

_FRACTIONS = ("top1", "top5", "ref_top1", "ref_top5", "flip_rate", "identical_input_rate")
_DELTAS = ("delta_top1", "delta_top5")
_COUNTS = (
    "n_images",
    "n_failed",
    "n_labelled",
    "n_broken",
    "n_fixed",
    "n_broken_top5",
    "n_fixed_top5",
    "input_max_abs_diff",
)
_ROW_RANGES: tuple[tuple[tuple[str, ...], float, float], ...] = (
    (_FRACTIONS, 0.0, 1.0),
    (_DELTAS, -1.0, 1.0),
    (("mcnemar_p", "mcnemar_p_holm", "min_detectable_delta_top1"), 0.0, 1.0),
)
_ROW_INTERVALS = (
    ("flip_rate_ci", 0.0, 1.0),
    ("delta_top1_ci", -1.0, 1.0),
    ("delta_top5_ci", -1.0, 1.0),
)


def validate(document: Any) -> list[str]:
    """Every problem with `document` as a leaderboard submission; empty when it is valid."""
    from sysnoise.results import SCHEMA_VERSION

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
    problems += _required_fields(document)
    if document.get("task") == "segmentation":  # its own rows: leaderboard/segmentation_checks
        from sysnoise.leaderboard.segmentation_checks import segmentation_problems

        return problems + segmentation_problems(document)
    if document.get("task") == "detection":  # its own rows: leaderboard/detection_checks
        from sysnoise.leaderboard.detection_checks import detection_problems

        return problems + detection_problems(document)
    problems += _reference_problems(document.get("reference"))
    rows = document.get("rows")
    if isinstance(rows, list):
        for index, row in enumerate(rows):
            problems += _row_problems(row, f"rows[{index}]")
        if not problems:
            problems += _suite_problems(document)
            problems += _category_problems(document)
            problems += consistency_problems(document)
            problems += _holm_problems(document["rows"])
            problems += _robustart_problems(document)
    problems += _submission_problems(document.get("submission", _MISSING))
    return problems


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


def check(document: Any) -> None:
    """Raise SysnoiseError listing every problem when `document` is not a valid submission."""
    problems = validate(document)
    if problems:
        listed = "; ".join(problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise SysnoiseError(f"invalid results document: {listed}{more}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _lookup(document: dict, dotted: str) -> Any:
    value: Any = document
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _non_finite_numbers(value: Any, path: str):
    if isinstance(value, float) and not math.isfinite(value):
        yield f"{path or 'document'}: {value} is not a finite number"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite_numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite_numbers(item, f"{path}[{index}]")


def _required_fields(document: dict) -> list[str]:
    problems = []
    for dotted, types, nullable in _REQUIRED:
        value = _lookup(document, dotted)
        if value is _MISSING:
            problems.append(f"{dotted}: missing")
        elif value is None:
            if not nullable:
                problems.append(f"{dotted}: must not be null")
        elif not isinstance(value, types) or (int in types and isinstance(value, bool)):
            expected = " or ".join(t.__name__ for t in types)
            problems.append(f"{dotted}: must be {expected}, got {type(value).__name__}")
    return problems


def _number_problem(path: str, value: Any, low: float, high: float) -> str | None:
    if value is None:
        return None
    if not _is_number(value):
        return f"{path}: must be a number or null, got {type(value).__name__}"
    if isinstance(value, float) and not math.isfinite(value):
        return None  # reported by the finite-number check
    if not low <= value <= high:  # int against float compares exactly, however large the int
        return f"{path}: {value} is outside [{low:g}, {high:g}]"
    return None


def _count_problem(path: str, value: Any) -> str | None:
    if value is None:
        return None
    if not _is_int(value) or value < 0:
        return f"{path}: must be a non-negative integer, got {value!r}"
    return None


def _reference_problems(reference: Any) -> list[str]:
    if not isinstance(reference, dict):
        return []
    problems = [
        _number_problem(f"reference.{key}", reference.get(key), 0.0, 1.0)
        for key in ("top1", "top5")
    ]
    if "top1" not in reference:
        problems.append("reference.top1: missing")
    problems += [
        _count_problem(f"reference.{key}", reference.get(key))
        for key in ("n_images", "n_failed", "n_labelled")
    ]
    return [p for p in problems if p]


def _row_problems(row: Any, path: str) -> list[str]:
    if not isinstance(row, dict):
        return [f"{path}: must be an object"]
    problems: list[str | None] = []
    for key, types in (("noise", str), ("category", str)):
        if not isinstance(row.get(key), types):
            problems.append(f"{path}.{key}: must be a string")
    for keys, low, high in _ROW_RANGES:
        problems += [_number_problem(f"{path}.{k}", row.get(k), low, high) for k in keys]
    for key, low, high in _ROW_INTERVALS:
        interval = row.get(key)
        if interval is None:
            continue
        if not isinstance(interval, list) or len(interval) != 2:
            problems.append(f"{path}.{key}: must be a [low, high] pair or null")
            continue
        problems += [
            _number_problem(f"{path}.{key}[{i}]", v, low, high) for i, v in enumerate(interval)
        ]
    problems += [_count_problem(f"{path}.{k}", row.get(k)) for k in _COUNTS]
    if row.get("input_psnr_db") is not None and not _is_number(row["input_psnr_db"]):
        problems.append(f"{path}.input_psnr_db: must be a number or null")
    errors = row.get("errors")
    if isinstance(errors, dict):
        problems.append(_count_problem(f"{path}.errors.count", errors.get("count")))
    return [p for p in problems if p]


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
    if submission is _MISSING:
        return []
    if not isinstance(submission, dict):
        return ["submission: must be an object"]
    problems = []
    if not isinstance(submission.get("name"), str) or not submission["name"]:
        problems.append("submission.name: must be a non-empty string")
    if not isinstance(submission.get("submitted"), str):
        problems.append("submission.submitted: must be a string (UTC time)")
    for key in ("paper", "code", "notes"):
        if submission.get(key) is not None and not isinstance(submission[key], str):
            problems.append(f"submission.{key}: must be a string or null")
    return problems + submission_text_problems(submission)
