"""Tasks: what a model predicts per image, and how the one engine loop handles it.

The engine (`sysnoise.engine.evaluate`) is the same for every task: read each file once, decode
once per decoder, hash every model input, run one forward per distinct (model side, input), store
every prediction as soon as its batch is done. A `Task` (`sysnoise.tasks.base`) supplies the parts
that differ:

- ``model_input(image, pipeline)``: the uint8 HxWx3 input from the decoded image. Classification
  resizes and centre-crops to a fixed size; a dense task resizes without cropping, so its inputs
  have the image's own aspect ratio.
- ``batch_group(model_input)``: inputs with equal groups share a batch (default: equal shapes, so
  dense images of one size are batched together and the rest run one at a time);
  ``max_batch(input_shape, batch_size)`` caps a batch (dense: `BATCH_PIXELS` pixels at most);
  ``queue_limit(batch_size)``: queued inputs at which partial batches run too (dense: twice the
  batch size, so inputs of many sizes never pile up; classification: None, only full batches).
- ``example_shape(reference)``: the probe batch for model patches and exports.
- ``forward(runner, model_side, crops, table, check)``: one per-image output per crop. The runner
  (`sysnoise.engine.ModelRunner`) gives top-k (`predict`) or raw outputs (`infer`) of a prepared
  model side on normalised inputs; `check` stops on non-finite or constant outputs.
- ``prediction(output, input_hash, max_abs_diff, mse)`` and ``failure(message)``: the store row
  (`sysnoise.store`). ``store_kind`` picks the table: "top5" (classes and logits, as always) or
  "dense" (one compact encoded blob per image: a PNG label map for segmentation).
- ``allocate(n)``, ``record(table, index, prediction)``, ``failed(table)``: the per-pipeline
  table of an `Evaluation` (`Evaluation.predictions[key]`): an (N, 5) array for classification,
  a list of encoded blobs (None: no prediction) for dense tasks.

Scoring is the task's own module: classification rows are built by `sysnoise.results` (accuracy,
flip rate, McNemar); segmentation rows by `sysnoise.tasks.segmentation_metrics` (mIoU from
per-image confusion matrices against labels, or against the reference pipeline's own masks when
there are none). A model source names its task on the `ModelSpec` (`task`); `task_for(name)` gives
the task object.

Adding detection (what it must implement):

1. ``sysnoise/tasks/detection.py``: ``DetectionTask(Task)`` with ``name = "detection"``,
   ``store_kind = "dense"``; ``model_input`` resizes as the model's transform expects (or passes
   the decoded image through when the model's own transform resizes); ``forward`` calls
   ``runner.infer`` (or a model side that returns boxes) and returns per image the encoded bytes
   of float32 boxes (K, 4), float32 scores (K,) and int64 labels (K,) (``encode_arrays`` in
   `sysnoise.tasks.dense` packs named arrays); `DenseTask.prediction` wraps them in a
   `sysnoise.store.DensePrediction`;
   ``allocate``/``record``/``failed``/``failure`` come from `sysnoise.tasks.dense.DenseTask`
   (derive from it: uncropped inputs, a list of encoded blobs per pipeline).
2. Register it in `TASKS` below (a lazy ``"module:attr"`` entry).
3. ``document(run, evaluation)`` and ``predictions_frame(run, evaluation)``: scoring in its own
   module (COCO mAP against annotations, or against the reference pipeline's own detections
   without labels; paired per-image bootstrap of the delta), rows with "noise", "category",
   "changes", "model_side" as classification's; `sysnoise.bench.evaluate_model` calls both and
   writes them through `sysnoise.results.write_result`.
4. A model source whose `ModelSpec.task` is "detection"; the engine, store, cache keys, model
   sides (patches, precision, backends) and the suite triage need nothing else.
"""

from __future__ import annotations

from functools import cache

from sysnoise.registry import Registry
from sysnoise.tasks.base import Task

TASKS: Registry[type[Task]] = Registry("task")
TASKS.add("classification", "sysnoise.tasks.classification:ClassificationTask")
TASKS.add("segmentation", "sysnoise.tasks.segmentation:SegmentationTask")
TASKS.add("detection", "sysnoise.tasks.detection:DetectionTask")


@cache
def task_for(name: str) -> Task:
    """The task object for `name` ("classification", "segmentation", ...)."""
    return TASKS.get(name)()


__all__ = ["TASKS", "Task", "task_for"]
