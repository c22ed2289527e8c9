"""The detection results document as types: `sysnoise.document`'s shared blocks, with
detection's reference figures and rows (built by `sysnoise.detection.scoring`)."""

from __future__ import annotations

from typing import Any, Literal

from sysnoise.document import (
    CategorySummary,
    Count,
    DatasetInfo,
    Delta,
    DeltaInterval,
    Environment,
    ErrorSummary,
    Fraction,
    ModelInfo,
    NotEvaluated,
    Row,
    RunFacts,
    Submission,
    SuiteInfo,
    Tool,
    TypedDocument,
    _Block,
)


class DetectionScores(_Block):
    """COCO mAP (IoU 0.50:0.95), AP50 and AP75 of one pipeline's detections."""

    map: Fraction | None
    ap50: Fraction | None
    ap75: Fraction | None


class MetricDelta(_Block):
    """Reference minus noisy, with its percentile bootstrap interval (None: too few images)."""

    delta: Delta | None
    ci: DeltaInterval | None


class DetectionDeltas(_Block):
    """The paired delta of every COCO metric."""

    map: MetricDelta
    ap50: MetricDelta
    ap75: MetricDelta


class MovedDetections(_Block):
    """Detections above the agreement threshold that stayed, were lost, or are new."""

    stayed: Count
    lost: Count
    new: Count


class DetectionReference(_Block):
    """The reference pipeline's detections, and its scores against annotations (None without)."""

    n_images: Count
    n_failed: Count
    detections: Count
    map: Fraction | None = None
    ap50: Fraction | None = None
    ap75: Fraction | None = None


class MaskScores(_Block):
    """An instance-segmentation model's masks: COCO mask mAP/AP50/AP75 against the reference
    pipeline's own masks at the agreement threshold, the reference's on the same images, and
    the paired deltas."""

    scores: DetectionScores
    ref_scores: DetectionScores
    deltas: DetectionDeltas


class DetectionRow(Row):
    """One noise on the images both pipelines processed: its scores, the reference's on the
    same images, the paired deltas, and how many detections moved."""

    n_images: Count
    scores: DetectionScores | None
    ref_scores: DetectionScores | None
    deltas: DetectionDeltas | None
    delta_map: Delta | None  # deltas.map.delta, what the categories summarise
    detections: MovedDetections | None
    flip_rate: Fraction | None  # share of images where any detection moved
    input_max_abs_diff: Count | None
    input_psnr_db: float | None
    identical_input_rate: Fraction | None
    errors: ErrorSummary
    masks: MaskScores | None = None  # models with instance masks (Mask R-CNN)


class DetectionDocument(TypedDocument):
    """One detection run of one model on one dataset under one suite."""

    schema_version: Literal[3]
    task: Literal["detection"]
    tool: Tool
    created: str
    environment: Environment
    model: ModelInfo
    dataset: DatasetInfo
    suite: SuiteInfo
    reference_pipeline: dict[str, Any]
    reference: DetectionReference
    scored_against: Literal["annotations", "reference detections"]
    agreement_threshold: Fraction
    categories: dict[str, CategorySummary]
    category_value: Literal["delta_map"]
    rows: list[DetectionRow]
    not_evaluated: list[NotEvaluated]
    backends: dict[str, dict[str, Any]]
    calibration: dict[str, Any] | None
    run: RunFacts
    imagenet_s: dict[str, Any] | None = None
    predictions_file: str | None = None
    submission: Submission | None = None
