"""Int8 quantization of lmgen's PyTorch models, with PyTorch's own quantization toolkit.

* BERT: **dynamic** quantization. Every ``nn.Linear`` stores int8 weights with one scale per
  tensor, and activations are quantized on the fly, so no calibration data is needed. The
  embedding tables are stored as int8 with one scale per row (weight-only). Layer norms, GELU
  and attention stay float32. The MLM decoder shares the word embeddings in the float model; once
  quantized it is its own int8 matrix.
* A generator (the GAN's): **static post-training** quantization in FX graph mode. Observers
  record the activation ranges over a few calibration batches of latent noise. The linear layer,
  the transposed convolutions and the batch-norm + ReLU pairs then run as int8 kernels, and only
  the input and the tanh output are float.

Which quantized engine runs the kernels matters on a CPU, so the engine is a parameter and the
report records it. ``onednn`` is fastest for BERT's small matrices here. For transposed
convolutions the ``x86`` engine is fast but its per-channel kernels damage the images (FID shows
it), so the generator uses ``fbgemm``.

``torch.ao.quantization`` warns that it is deprecated in favour of ``torchao``. It is still the
toolkit that ships inside torch 2.13 with CPU int8 kernels, so lmgen uses it and silences only
that warning.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lmgen.errors import InputError

BERT_ENGINE = "onednn"
GENERATOR_ENGINE = "fbgemm"


@contextmanager
def engine(name: str) -> Iterator[None]:
    """Run quantized kernels on ``name`` (one of torch's supported engines) inside the block."""
    import torch

    supported = list(torch.backends.quantized.supported_engines)
    if name not in supported:
        raise InputError(
            f"quantized engine {name!r} is not available here", hint="one of " + ", ".join(supported)
        )
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = name
    try:
        yield
    finally:
        torch.backends.quantized.engine = before


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization.*deprecated.*")
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def serialized_bytes(module: Any) -> int:
    """Bytes of the module's state dict as torch serializes it (int8 tensors count one byte each).

    Measured in memory only: nothing is written and nothing is ever loaded back from it.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.tell()


def quantize_bert(model: Any, engine_name: str = BERT_ENGINE) -> Any:
    """An int8 copy of a BERT (dynamic quantization of every linear layer); the original is untouched.

    The copy must run under :func:`engine` with the same ``engine_name``.
    """
    import torch
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        float_qparams_weight_only_qconfig,
        quantize_dynamic,
    )

    spec = {torch.nn.Linear: default_dynamic_qconfig, torch.nn.Embedding: float_qparams_weight_only_qconfig}
    with _quiet(), engine(engine_name):
        quantized = quantize_dynamic(copy.deepcopy(model).cpu().eval(), spec, dtype=torch.qint8)
    return quantized


def quantize_generator(
    generator: Any,
    latent_dim: int,
    engine_name: str = GENERATOR_ENGINE,
    calibration_batches: int = 8,
    batch_size: int = 128,
    seed: int = 0,
) -> Any:
    """An int8 copy of an image generator ``z → x`` (static post-training quantization, FX mode).

    Raises:
        InputError: the generator cannot be traced into a graph (data-dependent Python control flow).
    """
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    if calibration_batches < 1:
        raise InputError("calibration needs at least one batch")
    model = copy.deepcopy(generator).cpu().eval()
    gen = torch.Generator().manual_seed(seed)
    example = torch.randn(2, latent_dim, generator=gen)
    with _quiet(), engine(engine_name):
        try:
            prepared = prepare_fx(model, get_default_qconfig_mapping(engine_name), example_inputs=(example,))
        except Exception as exc:  # torch.fx raises many types for untraceable code
            raise InputError(f"this generator cannot be traced for static quantization: {exc}") from exc
        with torch.no_grad():
            for _ in range(calibration_batches):
                prepared(torch.randn(batch_size, latent_dim, generator=gen))
        return convert_fx(prepared)
