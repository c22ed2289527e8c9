"""The engine's device path: run only with `-m gpu` on a machine with an NVIDIA GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sysnoise.backends.base import Backend
from sysnoise.backends.torch_eager import TorchEagerBackend
from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.preprocess import model_input, normalisation_table
from sysnoise.weights import load_model
from sysnoise.zoo import resolve_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine"),
]


def test_uint8_crops_normalised_on_the_device_give_the_cpu_normalised_predictions():
    spec = resolve_model("mobilenet_v2")
    model, _ = load_model(spec)
    records = sample_dataset(default_cache_dir()).records
    crops = np.stack([model_input(r.path.read_bytes(), spec.reference) for r in records])
    table = normalisation_table(spec.reference.mean, spec.reference.std)
    backend = TorchEagerBackend("cuda")
    backend.prepare(model)
    on_device = backend.predict(crops, table, 5)
    on_cpu = Backend.predict(backend, crops, table, 5)  # CPU normalisation and top-k
    np.testing.assert_array_equal(on_device[0], on_cpu[0])
    np.testing.assert_array_equal(on_device[1], on_cpu[1])
    assert on_device[0].dtype == np.int64 and on_device[1].dtype == np.float32
