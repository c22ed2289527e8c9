"""Object detection: the whole image resized by the detection protocol in, boxes out.

Inputs: "shorter-capped" (torchvision's min_size/max_size: `resize_size`, capped by `crop_size`),
or a dense protocol ("squash" for SSD's fixed size). Each image's detections are stored as
compressed arrays (float32 boxes as fractions of the input, float32 scores, int64 labels) and
scored by `sysnoise.detection.scoring`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import numpy as np

from sysnoise.detection.boxes import Detections
from sysnoise.detection.packed import unpack
from sysnoise.errors import SysnoiseError
from sysnoise.noises.resizers import RESIZERS
from sysnoise.pipeline import Pipeline, capped_size
from sysnoise.preprocess import normalise_with_table
from sysnoise.tasks.dense import DenseTask, decode_arrays, encode_arrays, resize_whole

if TYPE_CHECKING:
    from sysnoise.document import TypedDocument
    from sysnoise.engine import Evaluation, ModelRunner
    from sysnoise.results import RunInputs


class DetectionTask(DenseTask):
    """Boxes, scores and labels per image; COCO mAP against annotations or the reference."""

    name = "detection"

    def model_input(self, image: np.ndarray, pipeline: Pipeline) -> np.ndarray:
        if pipeline.resize_protocol != "shorter-capped":
            return resize_whole(image, pipeline)
        height, width = capped_size(
            image.shape[0], image.shape[1], pipeline.resize_size, pipeline.crop_size
        )
        return RESIZERS.get(pipeline.resizer).resize(image, height, width)

    def example_shape(self, reference: Pipeline) -> tuple[int, int, int, int]:
        return (1, 3, reference.resize_size, reference.resize_size)

    def forward(
        self,
        runner: ModelRunner,
        model_side: Hashable,
        crops: np.ndarray,
        table: np.ndarray,
        check: Callable[[np.ndarray], None],
    ) -> list[Any]:
        packed = runner.infer(model_side, normalise_with_table(crops, table))
        if packed.ndim != 3 or packed.shape[0] != len(crops) or packed.shape[2] < 6:
            raise SysnoiseError(
                f"a detection model must return (N, K, 6) rows (and mask columns), got "
                f"{packed.shape}; "
                "wrap it in sysnoise.detection.packed.PackedDetector"
            )
        if not np.isfinite(packed).all():
            raise SysnoiseError(f"{model_side} gave non-finite boxes or scores")
        return [encode_detections(unpack(rows, crops.shape[1:3])) for rows in packed]

    def document(self, run: RunInputs, evaluation: Evaluation) -> TypedDocument:
        from sysnoise.detection.scoring import detection_document

        truth = None
        if run.annotations is not None:
            from sysnoise.detection.coco_annotations import load_coco_annotations
            from sysnoise.detection.coco_dataset import fractional_truth

            annotations = load_coco_annotations(run.annotations)
            truth = fractional_truth(annotations, evaluation.image_ids)
        return detection_document(run, evaluation, truth)

    def predictions_frame(self, run: RunInputs, evaluation: Evaluation) -> Any:
        from sysnoise.detection.scoring import detection_frame

        return detection_frame(run, evaluation)


def encode_detections(detections: Detections) -> bytes:
    """One image's detections as compressed arrays (see `decode_detections`); masks, where
    there are any, as their RLE texts joined, with each text's length and the mask size."""
    masks = {}
    if detections.masks is not None:
        texts = [rle["counts"].encode("ascii") for rle in detections.masks]
        size = detections.masks[0]["size"] if texts else [0, 0]
        masks = {
            "mask_counts": np.frombuffer(b"".join(texts), dtype=np.uint8),
            "mask_lengths": np.array([len(t) for t in texts], dtype=np.int64),
            "mask_size": np.array(size, dtype=np.int64),
        }
    return encode_arrays(
        boxes=detections.boxes.astype(np.float32),
        scores=detections.scores.astype(np.float32),
        labels=detections.labels.astype(np.int64),
        **masks,
    )


def decode_detections(data: bytes) -> Detections:
    """The detections of `encode_detections`."""
    arrays = decode_arrays(data)
    masks = None
    if "mask_counts" in arrays:
        text = arrays["mask_counts"].tobytes()
        ends = np.cumsum(arrays["mask_lengths"])
        size = [int(v) for v in arrays["mask_size"]]
        masks = tuple(
            {"size": size, "counts": text[end - length : end].decode()}
            for end, length in zip(ends, arrays["mask_lengths"], strict=True)
        )
    return Detections(arrays["boxes"], arrays["scores"], arrays["labels"], masks)
