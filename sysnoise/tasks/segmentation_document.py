"""The segmentation results document as types: `sysnoise.document`'s shared blocks, with
segmentation's reference figures and rows (see `sysnoise.tasks.segmentation_report`)."""

from __future__ import annotations

from typing import Any, Literal

from sysnoise.document import (
    Count,
    DatasetInfo,
    Delta,
    DeltaInterval,
    Environment,
    ErrorSummary,
    Fraction,
    FractionInterval,
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


class SegmentationModelInfo(ModelInfo):
    """The model, with its number of classes."""

    num_classes: Count


class SegmentationReference(_Block):
    """The reference pipeline's own figures against the masks (None without masks)."""

    n_images: Count
    n_failed: Count
    n_labelled: Count
    miou: Fraction | None
    pixel_accuracy: Fraction | None
    per_class_iou: list[Fraction | None] | None
    errors: ErrorSummary


class SegmentationCategory(_Block):
    """One category's delta-mIoU (or agreement gap) and share of pixels changed."""

    n_noises: Count
    mean: Delta | None
    mean_abs: Fraction | None
    max: Delta | None
    std: float | None
    flip_mean: Fraction | None
    flip_max: Fraction | None


class SegmentationRow(Row):
    """One noise: agreement with the reference masks, and mIoU against the masks with the
    paired bootstrap interval of its delta (`sysnoise.tasks.segmentation_metrics`)."""

    n_images: Count
    n_labelled: Count
    agreement_miou: Fraction | None
    pixel_agreement: Fraction | None
    flip_rate: Fraction | None  # share of pixels whose class changes
    miou: Fraction | None
    ref_miou: Fraction | None
    delta_miou: Delta | None
    delta_miou_ci: DeltaInterval | None
    pixel_accuracy: Fraction | None
    per_class_iou: list[Fraction | None] | None
    agreement_gap: Fraction | None
    agreement_gap_ci: FractionInterval | None  # paired percentile bootstrap over images
    input_max_abs_diff: Count | None
    input_psnr_db: float | None
    identical_input_rate: Fraction | None
    errors: ErrorSummary
    identical_to: str | None


class SegmentationDocument(TypedDocument):
    """One segmentation run of one model on one dataset under one suite."""

    schema_version: Literal[3]
    task: Literal["segmentation"]
    tool: Tool
    created: str
    environment: Environment
    model: SegmentationModelInfo
    dataset: DatasetInfo
    suite: SuiteInfo
    reference_pipeline: dict[str, Any]
    reference: SegmentationReference
    categories: dict[str, SegmentationCategory]
    category_value: Literal["delta_miou", "agreement_gap"]
    rows: list[SegmentationRow]
    not_evaluated: list[NotEvaluated]
    backends: dict[str, dict[str, Any]]
    calibration: dict[str, Any] | None
    run: RunFacts
    imagenet_s: dict[str, Any] | None = None
    predictions_file: str | None = None
    submission: Submission | None = None
