"""GPU paths: run only with `-m gpu` on a machine with an NVIDIA GPU; skipped elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sysnoise.backends.torch_eager import TorchEagerBackend
from sysnoise.config import default_cache_dir
from sysnoise.datasets import sample_dataset
from sysnoise.preprocess import model_input, normalise
from sysnoise.weights import load_model
from sysnoise.zoo import resolve_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine"),
]


def test_cuda_fp32_matches_the_cpu_reference_on_the_sample_set():
    spec = resolve_model("mobilenet_v2")
    model, _ = load_model(spec)
    records = sample_dataset(default_cache_dir()).records
    crops = np.stack([model_input(r.path.read_bytes(), spec.reference) for r in records])
    batch = normalise(crops, spec.reference)
    cpu, cuda = TorchEagerBackend(device="cpu"), TorchEagerBackend(device="cuda")
    cpu.prepare(model)
    cpu_logits = cpu.infer(batch)
    cuda.prepare(model)
    cuda_logits = cuda.infer(batch)
    np.testing.assert_allclose(cuda_logits, cpu_logits, atol=5e-3, rtol=0)
    assert (cuda_logits.argmax(1) == cpu_logits.argmax(1)).mean() >= 0.95
