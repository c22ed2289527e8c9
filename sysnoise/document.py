"""The results document of one run as types: one serialiser, and the JSON Schema generated from
them that ships with the leaderboard (`sysnoise.leaderboard.validate`) and validates submissions.

Regenerate the shipped schema after changing a type: ``python scripts/results_schema.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

# 2 added suite.noises, not_evaluated, backends, calibration, combined; 3 replaced the bootstrap
# interval with Newcombe's paired score interval and added delta_top5_ci, top-5 discordance,
# Holm-adjusted p, power, mean |delta|, per-step stack figures and top-5 predictions.
SCHEMA_VERSION = 3
MAX_IMAGES = 100_000_000  # far above ImageNet's 50,000 validation images; bounds every count
MAX_NAME_CHARS = 128
TASKS = ("classification", "segmentation", "detection")
SKIP_STATUSES = ("not applicable", "unavailable", "failed")

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Delta = Annotated[float, Field(ge=-1.0, le=1.0)]
Count = Annotated[int, Field(ge=0, le=MAX_IMAGES)]
Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
FractionInterval = tuple[Fraction, Fraction]
DeltaInterval = tuple[Delta, Delta]


def utc_now() -> str:
    """The one clock of a result: UTC, to the second, ISO 8601 (file names take its date)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class _Block(BaseModel):
    """A block whose fields are all declared: anything else is a mistake."""

    model_config = ConfigDict(extra="forbid")


class _Facts(BaseModel):
    """A block of facts about the machine or a backend: the declared fields, and any others."""

    model_config = ConfigDict(extra="allow")


class Tool(_Block):
    """The sysnoise release and commit that wrote the document."""

    name: str
    version: str
    git_hash: str | None


class Environment(_Facts):
    """Where the run was computed: Python, platform, CPU, GPU and library versions."""

    python: str
    platform: str
    cpu: Name | None
    cpu_count: int | None
    gpu: Name | None
    packages: dict[str, str | None]
    image_libraries: dict[str, str | None]


class ModelInfo(_Block):
    """The model evaluated: its name, source, weights and their hash, and reference backend."""

    name: Name
    source: str | None = None  # absent from documents written before model sources
    arch: Name
    weights_tag: str | None
    weights_url: str | None
    weights_sha256: Annotated[str, Field(max_length=64)]
    fingerprint: str
    published_top1: float | None
    backend: str


class DatasetInfo(_Block):
    """The images: how many, how many labelled, their fingerprint and any seeded sample."""

    name: Name
    root: str | None
    description: str | None
    n_images: Count
    n_labelled: Count
    fingerprint: str
    sample: dict[str, Any] | None


class SuiteInfo(_Block):
    """The suite: its name, the noises it declares for this model, and how many were run."""

    name: Name
    description: str | None
    n_noises: Count
    noises: list[str]


class ErrorSummary(_Block):
    """Images that gave no prediction: how many, and the first few with their error."""

    count: Count
    first: dict[str, str]


class ReferenceFigures(_Block):
    """The reference pipeline's own accuracy on the run's images."""

    n_images: Count
    n_failed: Count
    n_labelled: Count
    top1: Fraction | None
    top5: Fraction | None
    errors: ErrorSummary


class Power(_Block):
    """What the run can detect: the minimum Δ top-1 a McNemar test finds at `alpha` with
    `power`, at the run's median discordance."""

    alpha: Fraction
    power: Fraction
    n_labelled: Count
    median_discordance: Fraction | None
    min_detectable_delta_top1: Annotated[float, Field(ge=0.0)] | None
    indicative_below: Count
    indicative_only: bool


class CategorySummary(_Block):
    """One category's Δ top-1 (mean, mean |Δ|, max, std) and flip rate (mean, max)."""

    n_noises: Count
    mean: Delta | None
    mean_abs: Fraction | None
    max: Delta | None
    std: Annotated[float, Field(ge=0.0)] | None
    flip_mean: Fraction | None
    flip_max: Fraction | None


class Row(_Block):
    """What every task's row states: which noise, its category and changes, and its model
    side. Each task's rows add that task's figures."""

    noise: str
    category: str
    changes: dict[str, Any]
    model_side: str


class ClassificationRow(Row):
    """One noise against the reference on the same images: accuracy, Δ with its paired
    interval, discordance, McNemar p (raw and Holm-adjusted), flips, and the input difference."""

    n_images: Count
    n_failed: Count
    n_labelled: Count
    top1: Fraction | None
    top5: Fraction | None
    ref_top1: Fraction | None
    ref_top5: Fraction | None
    delta_top1: Delta | None
    delta_top1_ci: DeltaInterval | None
    delta_top5: Delta | None
    delta_top5_ci: DeltaInterval | None
    mcnemar_p: Fraction | None
    n_broken: Count
    n_fixed: Count
    n_broken_top5: Count
    n_fixed_top5: Count
    min_detectable_delta_top1: Fraction | None
    flip_rate: Fraction | None
    flip_rate_ci: FractionInterval | None
    mcnemar_p_holm: Fraction | None
    significant: bool | None
    input_max_abs_diff: Count | None
    input_psnr_db: float | None
    identical_input_rate: Fraction | None
    errors: ErrorSummary
    identical_to: str | None  # the first row (or the reference) with the same top-5 everywhere


class CombinedStep(_Block):
    """One step of the combined stack: against the step before, and against the reference."""

    noise: str
    after: str | None
    n_images: Count
    n_labelled: Count
    step_flip_rate: Fraction | None
    step_flip_rate_ci: FractionInterval | None
    step_delta_top1: Delta | None
    step_delta_top1_ci: DeltaInterval | None
    step_mcnemar_p: Fraction | None
    cumulative_flip_rate: Fraction | None
    cumulative_delta_top1: Delta | None
    cumulative_delta_top1_ci: DeltaInterval | None


class NotEvaluated(_Block):
    """A suite noise left out: not applicable, unavailable here, or failed (with its error)."""

    noise: str
    category: str
    changes: dict[str, Any]
    status: Literal["not applicable", "unavailable", "failed"]
    reason: str


class RunFacts(_Block):
    """How long the run took and how much work the cache saved."""

    seconds: Annotated[float, Field(ge=0.0)]
    forward_passes: Count
    cached_predictions: Count


class RobustartSummary(_Block):
    """RobustART's ImageNet-S summary: top-1 over the published variants the run measured."""

    n_variants: Count
    n_published: Count
    complete: bool
    top1_mean: Fraction
    top1_std: Annotated[float, Field(ge=0.0)]
    top1_min: Fraction
    top1_max: Fraction
    missing: list[str]


class Submission(_Block):
    """Added by `sysnoise submit`: the name shown on the board, links and notes."""

    name: Annotated[str, Field(min_length=1)]
    paper: str | None
    code: str | None = None  # absent from submissions made before code links
    notes: str | None
    submitted: str


# Blocks that a document holds only once something adds them (a stored set, the written
# predictions file, a submission): absent, not null, until then.
_ADDED_LATER = ("imagenet_s", "predictions_file", "submission")
_REF = "#/$defs/{model}"


class TypedDocument(_Block):
    """What every task's document shares: the one serialiser."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready document (the one serialiser): intervals as lists, blocks added later
        left out until they are set."""
        absent = {name for name in _ADDED_LATER if getattr(self, name, None) is None}
        return self.model_dump(mode="json", exclude=absent)

    def to_json(self) -> str:
        """The document as the results file holds it."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"


class ResultDocument(TypedDocument):
    """One classification run of one model on one dataset under one suite (``schema_version``
    3)."""

    schema_version: Literal[3]
    task: Literal["classification", "segmentation", "detection"] = "classification"
    tool: Tool
    created: str  # utc_now(); the result's file name takes its date
    environment: Environment
    model: ModelInfo
    dataset: DatasetInfo
    suite: SuiteInfo
    reference_pipeline: dict[str, Any]  # Pipeline.to_dict(), checked by Pipeline.from_dict
    reference: ReferenceFigures
    power: Power
    categories: dict[str, CategorySummary]
    rows: list[ClassificationRow]
    combined: list[CombinedStep]
    not_evaluated: list[NotEvaluated]
    backends: dict[str, dict[str, Any]]  # model-side label -> what the backend reports
    calibration: dict[str, Any] | None
    run: RunFacts
    robustart: RobustartSummary | None
    imagenet_s: dict[str, Any] | None = None  # the stored set a stored run read
    predictions_file: str | None = None
    submission: Submission | None = None


def document_types() -> dict[str, type[TypedDocument]]:
    """Each task's document type, by the value of its ``task`` field."""
    from sysnoise.detection.document import DetectionDocument
    from sysnoise.tasks.segmentation_document import SegmentationDocument

    return {
        "classification": ResultDocument,
        "segmentation": SegmentationDocument,
        "detection": DetectionDocument,
    }


def results_schema() -> dict[str, Any]:
    """The JSON Schema of every task's document, as shipped: a union discriminated by ``task``
    (absent: classification, as written before tasks), nullable values as ``"type": [T,
    "null"]`` beside their bounds, no generated titles."""
    types = document_types()
    names, schema = models_json_schema(
        [(model, "serialization") for model in types.values()], ref_template=_REF
    )
    schema = _simplified(schema)
    definitions = schema["$defs"]
    refs = {task: names[(model, "serialization")]["$ref"] for task, model in types.items()}
    classification = definitions[refs["classification"].removeprefix(_REF.format(model=""))]
    classification["required"] = [n for n in classification["required"] if n != "task"]
    branch: dict[str, Any] = {"$ref": refs["classification"]}
    for task in reversed([task for task in types if task != "classification"]):
        branch = {
            "if": {"properties": {"task": {"const": task}}, "required": ["task"]},
            "then": {"$ref": refs[task]},
            "else": branch,
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sysnoise results document",
        "type": "object",
        "properties": {"task": {"enum": list(types)}},
        **branch,
        "$defs": definitions,
    }


def results_schema_text() -> str:
    """The shipped schema file's text."""
    return json.dumps(results_schema(), indent=2, sort_keys=True) + "\n"


def _simplified(node: Any) -> Any:
    if isinstance(node, list):
        return [_simplified(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _simplified(value) for key, value in node.items() if key != "title"}
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = options[0] if options[1] == {"type": "null"} else options[1]
        if isinstance(other.get("type"), str):
            del node["anyOf"]
            node.update(other, type=[other["type"], "null"])
    return node
