"""Cross-checks of a results document: its figures must agree with each other and with the counts
they are computed from, and its free text must be bounded, before it may join the board.

Each row's top-1 is a share of its labelled images and its Δ the difference of two such shares,
so Δ top-1 must equal ref_top1 - top1, equal (n_broken - n_fixed) / n_labelled, and every
interval must be ordered and contain its estimate. Rows are measured on the images where both the
reference and the noise gave a prediction, so their counts add up to the dataset's, and a row
that lost no image to failures must show the reference's own top-1.
"""

from __future__ import annotations

import math
import re
from typing import Any

TOLERANCE = 1e-9
MAX_IMAGES = 100_000_000  # far above ImageNet's 50,000 validation images; bounds every count
MAX_NAME_CHARS = 128
MAX_TEXT_CHARS = 2_000
MAX_URL_CHARS = 500
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)

# (dotted path, longest allowed, must not be empty)
_TEXTS = (
    ("model.name", MAX_NAME_CHARS, True),
    ("model.arch", MAX_NAME_CHARS, True),
    ("dataset.name", MAX_NAME_CHARS, True),
    ("dataset.description", MAX_TEXT_CHARS, False),
    ("model.weights_sha256", 64, True),
    ("suite.name", MAX_NAME_CHARS, True),
    ("suite.description", MAX_TEXT_CHARS, False),
)
# Text shown on the board that may be missing but, when present, must be text.
_SHOWN_TEXTS = ("environment.gpu", "environment.cpu", "environment.packages.torch")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# The fields every reference pipeline states; later fields (e.g. exif) default when absent, so
# results written before they existed stay valid.
_PIPELINE_CORE = (
    "decoder",
    "resizer",
    "resize_size",
    "resize_protocol",
    "crop_size",
    "mean",
    "std",
)


def consistency_problems(document: dict[str, Any]) -> list[str]:
    """Every disagreement inside a document that has passed the type checks."""
    problems = text_problems(document)
    problems += _identity_problems(document)
    problems += _pipeline_problems(document.get("reference_pipeline"))
    dataset = document["dataset"]
    reference = document["reference"]
    n_images = dataset["n_images"]
    if n_images < 0:
        problems.append(f"dataset.n_images: {n_images} is negative")
    if n_images > MAX_IMAGES:
        problems.append(f"dataset.n_images: {n_images} is more than {MAX_IMAGES}")
    labelled = dataset.get("n_labelled")
    if _is_int(labelled) and labelled > n_images:
        problems.append(f"dataset.n_labelled: {labelled} is more than n_images {n_images}")
    problems += _counts_problems(reference, "reference", n_images)
    for index, row in enumerate(document["rows"]):
        problems += _row_consistency(row, f"rows[{index}]", reference, n_images)
    return problems


def text_problems(document: dict[str, Any]) -> list[str]:
    """Names that are empty or too long, and a paper link that is not an http(s) URL."""
    problems = []
    for dotted, limit, required in _TEXTS:
        value = _lookup(document, dotted)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(f"{dotted}: must be text")
        elif required and not value.strip():
            problems.append(f"{dotted}: must not be empty")
        elif len(value) > limit:
            problems.append(f"{dotted}: {len(value)} characters, more than {limit}")
    submission = document.get("submission")
    if isinstance(submission, dict):
        problems += submission_text_problems(submission)
    return problems


def submission_text_problems(submission: dict[str, Any]) -> list[str]:
    """The submitted display name, notes, paper and code links: bounded, the links http(s)."""
    problems = []
    name = submission.get("name")
    if isinstance(name, str) and len(name) > MAX_NAME_CHARS:
        problems.append(f"submission.name: {len(name)} characters, more than {MAX_NAME_CHARS}")
    notes = submission.get("notes")
    if isinstance(notes, str) and len(notes) > MAX_TEXT_CHARS:
        problems.append(f"submission.notes: {len(notes)} characters, more than {MAX_TEXT_CHARS}")
    for key in ("paper", "code"):
        link = submission.get(key)
        if isinstance(link, str) and not is_web_url(link):
            problems.append(
                f"submission.{key}: must be an http:// or https:// URL of at most {MAX_URL_CHARS} "
                "characters"
            )
    return problems


def is_web_url(text: str) -> bool:
    """Whether `text` is a single http(s) URL that may be shown as a link."""
    return len(text) <= MAX_URL_CHARS and _URL.fullmatch(text) is not None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _lookup(document: dict[str, Any], dotted: str) -> Any:
    value: Any = document
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _identity_problems(document: dict[str, Any]) -> list[str]:
    """The weights hash is a sha256, the creation time an ISO time, shown texts are texts, and
    the reference's error count is a count."""
    import datetime as dt

    problems = []
    if not _SHA256.fullmatch(document["model"]["weights_sha256"]):
        problems.append("model.weights_sha256: must be 64 lowercase hex digits")
    try:
        dt.datetime.fromisoformat(document["created"])
    except ValueError:
        problems.append("created: must be an ISO 8601 time")
    for dotted in _SHOWN_TEXTS:
        value = _lookup(document, dotted)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_NAME_CHARS):
            problems.append(f"{dotted}: must be text of at most {MAX_NAME_CHARS} characters")
    errors = document["reference"].get("errors")
    if isinstance(errors, dict) and not (_is_int(errors.get("count")) and errors["count"] >= 0):
        problems.append("reference.errors.count: must be a non-negative integer")
    return problems


def _pipeline_problems(fields: Any) -> list[str]:
    """The reference pipeline must state its core fields, with a decoder and resizer that exist."""
    from sysnoise.noises.decoders import DECODERS
    from sysnoise.noises.resizers import RESIZERS

    if not isinstance(fields, dict):
        return []
    missing = sorted(set(_PIPELINE_CORE) - set(fields))
    problems = []
    if missing:
        problems.append(f"reference_pipeline: missing fields {', '.join(missing)}")
    for key, registry in (("decoder", DECODERS), ("resizer", RESIZERS)):
        value = fields.get(key)
        if key in fields and (not isinstance(value, str) or value not in registry):
            problems.append(f"reference_pipeline.{key}: {value!r} is not a known {key}")
    return problems


def _counts_problems(block: dict[str, Any], path: str, n_images: int) -> list[str]:
    """A block's images and failures add up to the dataset; labelled images fit in it."""
    problems = []
    done, failed, labelled = block.get("n_images"), block.get("n_failed"), block.get("n_labelled")
    if _is_int(done) and _is_int(failed) and done + failed != n_images:
        problems.append(
            f"{path}: n_images {done} + n_failed {failed} is not the dataset's {n_images} images"
        )
    if _is_int(labelled) and _is_int(done) and labelled > done:
        problems.append(f"{path}.n_labelled: {labelled} is more than n_images {done}")
    return problems


def _row_consistency(
    row: dict[str, Any], path: str, reference: dict[str, Any], n_images: int
) -> list[str]:
    problems = _counts_problems(row, path, n_images)
    labelled = row.get("n_labelled")
    for key in ("top1", "top5", "ref_top1", "ref_top5"):
        value = row.get(key)
        if _is_number(value) and _is_int(labelled):
            problems += _share_problem(f"{path}.{key}", value, labelled, "n_labelled")
    for delta, ref, noisy in (
        ("delta_top1", "ref_top1", "top1"),
        ("delta_top5", "ref_top5", "top5"),
    ):
        values = (row.get(delta), row.get(ref), row.get(noisy))
        if all(_is_number(v) for v in values) and abs(values[0] - (values[1] - values[2])) > 1e-6:
            problems.append(
                f"{path}.{delta}: {values[0]!r} is not {ref} - {noisy} "
                f"({values[1]!r} - {values[2]!r})"
            )
    broken, fixed, delta = row.get("n_broken"), row.get("n_fixed"), row.get("delta_top1")
    if _is_int(broken) and _is_int(fixed) and _is_int(labelled):
        if broken + fixed > labelled:
            problems.append(f"{path}: n_broken + n_fixed is more than n_labelled {labelled}")
        elif _is_number(delta) and labelled and abs(delta * labelled - (broken - fixed)) > 1e-6:
            problems.append(
                f"{path}.delta_top1: {delta!r} is not (n_broken - n_fixed) / n_labelled "
                f"(({broken} - {fixed}) / {labelled})"
            )
    flips, done = row.get("flip_rate"), row.get("n_images")
    if _is_number(flips) and _is_int(done):
        problems += _share_problem(f"{path}.flip_rate", flips, done, "n_images")
    for interval, estimate in (("delta_top1_ci", "delta_top1"), ("flip_rate_ci", "flip_rate")):
        problems += _interval_problems(row.get(interval), row.get(estimate), f"{path}.{interval}")
    if (
        row.get("n_labelled") == reference.get("n_labelled")
        and row.get("n_images") == reference.get("n_images")
        and _is_number(row.get("ref_top1"))
        and _is_number(reference.get("top1"))
        and abs(row["ref_top1"] - reference["top1"]) > 1e-6
    ):
        problems.append(
            f"{path}.ref_top1: {row['ref_top1']!r} is not the reference top-1 "
            f"{reference['top1']!r}, on the same images"
        )
    return problems


def _share_problem(path: str, value: float, count: int, count_name: str) -> list[str]:
    """`value` must be k / count for a whole k (0 when count is 0)."""
    scaled = value * count
    if count == 0 or abs(scaled - round(scaled)) > 1e-6 * max(1, count):
        return [f"{path}: {value!r} is not a share of {count_name} {count}"]
    return []


def _interval_problems(interval: Any, estimate: Any, path: str) -> list[str]:
    if not isinstance(interval, list) or len(interval) != 2:
        return []
    low, high = interval
    if not (_is_number(low) and _is_number(high)):
        return []
    if low > high:
        return [f"{path}: [{low!r}, {high!r}] is reversed"]
    if _is_number(estimate) and not low - TOLERANCE <= estimate <= high + TOLERANCE:
        return [f"{path}: [{low!r}, {high!r}] does not contain the estimate {estimate!r}"]
    return []
