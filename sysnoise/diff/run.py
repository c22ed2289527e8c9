"""`run_diff`: where a noise's difference comes from, layer by layer, on a few images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sysnoise.backends import Backend, BackendContext
from sysnoise.datasets import Dataset
from sysnoise.diff.compare import DiffReport, final_outputs
from sysnoise.diff.config import DiffConfig
from sysnoise.diff.inputs import PairedInputs, paired_inputs
from sysnoise.diff.layer_runs import compare_layers
from sysnoise.errors import SysnoiseError, Unavailable
from sysnoise.pipeline import ModelSide, Pipeline
from sysnoise.variants import ModelSides, patched_model, variant_backend


@dataclass(frozen=True)
class DiffSubject:
    """What is compared: a model's reference pipeline against one noisy pipeline."""

    model: str
    noise: str
    suite: str
    reference: Pipeline
    noisy: Pipeline
    model_id: str  # the model's fingerprint, which keys exported and quantized artefacts


def run_diff(config: DiffConfig) -> DiffReport:
    """Load the model and the images the config names and compare its noise layer by layer."""
    from sysnoise.bench import reference_backend_label
    from sysnoise.datasets import load_folder, sample_dataset
    from sysnoise.diff.noise_lookup import find_noise
    from sysnoise.hashing import model_fingerprint
    from sysnoise.weights import load_model
    from sysnoise.zoo import resolve_model

    spec = resolve_model(config.model)
    if spec.task != "classification":
        raise SysnoiseError(
            f"sysnoise diff compares a classifier's layers and top-1; {spec.name} is a "
            f"{spec.task} model: measure the noise with `sysnoise bench --model {spec.name} "
            f"--noises {config.noise}`"
        )
    noise, suite = find_noise(config.noise, config.suite)
    dataset = sample_dataset(config.cache_dir) if config.data is None else load_folder(config.data)
    model, weights_sha256 = load_model(spec, config.weights)
    fingerprint = model_fingerprint(
        spec.arch, weights_sha256, reference_backend_label(config.device)
    )
    subject = DiffSubject(
        spec.name, noise.name, suite, spec.reference, noise.apply(spec.reference), fingerprint
    )
    return diff_model(model, dataset, subject, config)


def diff_model(
    model: Any, dataset: Dataset, subject: DiffSubject, config: DiffConfig
) -> DiffReport:
    """Compare `model` under the subject's two pipelines on the first `config.images` images."""
    from sysnoise.preprocess import pixel_side_unavailable

    reason = pixel_side_unavailable(subject.noisy)
    if reason is not None:
        raise SysnoiseError(f"{subject.noise} cannot run on this machine: {reason}")
    model = model.eval()
    variant, notes = _effective_model_side(model, subject)
    noisy = subject.noisy.with_changes(ceil_mode=variant.ceil_mode, upsample=variant.upsample)
    calibration = None
    if noisy.precision == "int8":
        from sysnoise.calibration import split_calibration

        calibration, dataset = split_calibration(
            dataset, subject.reference, config.calibration_size, config.calibration_method
        )
        notes.append(
            f"INT8 calibrated as `sysnoise bench` does: {len(calibration.image_ids)} held-out "
            f"images ({config.calibration_method}), none of them among the compared images"
        )
    inputs = paired_inputs(dataset, subject.reference, noisy, config.images)
    notes += [f"skipped {item}" for item in inputs.skipped]
    context = _context(config, subject, calibration)
    reference_side = ModelSides(model, _example(inputs)).model_side(subject.reference)
    reference_backend = _backend(reference_side, context, subject.noise)
    noisy_backend = _backend(variant, context, subject.noise)
    ref_logits = _as_run(reference_backend, model, inputs.reference)
    patched = patched_model(model, variant)
    noisy_logits = _as_run(noisy_backend, patched, inputs.noisy)
    layers = compare_layers(
        model, patched, noisy, inputs, config, reference_backend.context, noisy_backend.context
    )
    notes += layers.notes
    if layers.instrumented_output is not None:
        notes += _fidelity(layers.instrumented_output, noisy_logits)
    if layers.reference_output is not None:
        notes += _reference_gap(layers.reference_output, ref_logits)
    return DiffReport(
        model=subject.model,
        noise=subject.noise,
        suite=subject.suite,
        method=layers.method,
        tolerance=config.tolerance,
        image_ids=inputs.image_ids,
        reference=subject.reference.to_dict(),
        noisy=noisy.to_dict(),
        layers=tuple(layers.rows),
        final=final_outputs(ref_logits, noisy_logits),
        notes=tuple(notes),
    )


def _effective_model_side(model: Any, subject: DiffSubject) -> tuple[ModelSide, list[str]]:
    """The noisy pipeline's model side without patches that change nothing in this model."""
    from sysnoise.noises.model_patches import check_model_fields

    noisy = subject.noisy
    check_model_fields(noisy.ceil_mode, noisy.upsample)
    size = subject.reference.crop_size
    sides = ModelSides(model, np.zeros((1, 3, size, size), dtype=np.float32))
    notes = [
        f"{field}={getattr(noisy, field)} is not applicable: {reason}"
        for field, reason in sides.dropped_patches(noisy).items()
    ]
    if sides.not_applicable(noisy, subject.reference) is not None:
        raise SysnoiseError(
            f"{subject.noise} is not applicable to {subject.model}: {'; '.join(notes)}; "
            "its predictions are the reference's, so there is nothing to compare"
        )
    if noisy == subject.reference:
        notes.append(f"{subject.noise} does not change {subject.model}'s reference pipeline")
    return sides.model_side(noisy), notes


def _context(config: DiffConfig, subject: DiffSubject, calibration: Any) -> BackendContext:
    """The bench's context for this model; `variant_context` derives each side's from it."""
    return BackendContext(
        device=config.device,
        cache_dir=config.cache_dir / "artefacts",
        model_id=subject.model_id,
        calibration=None if calibration is None else calibration.batch,
        calibration_method=config.calibration_method,
    )


def _backend(variant: ModelSide, context: BackendContext, noise: str) -> Backend:
    """The variant's backend as the bench makes it; a clear error when it cannot run here."""
    try:
        return variant_backend(variant, context)
    except Unavailable as exc:
        raise SysnoiseError(
            f"{noise} runs on {variant.backend} {variant.precision}, which cannot run here: "
            f"{exc.reason}"
        ) from None


def _example(inputs: PairedInputs) -> np.ndarray:
    return np.zeros((1, *inputs.reference.shape[1:]), dtype=np.float32)


def _as_run(backend: Backend, model: Any, batch: np.ndarray) -> np.ndarray:
    """Logits as the benchmark computes them: the backend, prepared as the engine does."""
    with backend:
        backend.prepare(model, np.zeros((1, *batch.shape[1:]), dtype=np.float32))
        return backend.infer(batch)


def _reference_gap(table_reference: np.ndarray, torch_reference: np.ndarray) -> list[str]:
    """How far the table's reference (the unoptimised ONNX graph) is from torch FP32 eager."""
    gap = final_outputs(torch_reference, table_reference)
    if gap.max_abs == 0.0:
        return []
    return [
        f"the table's reference, the ONNX export run by ONNX Runtime without optimisation, "
        f"differs from torch FP32 eager (the benchmark's reference) by up to {gap.max_abs:.3g} "
        f"in the logits (top-1 agreement {gap.top1_agree}/{gap.n_images}): that part of the "
        "final error comes from the export and ONNX Runtime's kernels, not from the table's rows"
    ]


def _fidelity(instrumented: np.ndarray, as_run: np.ndarray) -> list[str]:
    """A note when the instrumented noisy run's logits differ from the benchmark's."""
    check = final_outputs(as_run, instrumented)
    if check.max_abs == 0.0:
        return []
    return [
        f"the instrumented noisy run's logits differ from the noisy run as the benchmark runs it "
        f"by up to {check.max_abs:.3g} (top-1 agreement {check.top1_agree}/{check.n_images})"
    ]
