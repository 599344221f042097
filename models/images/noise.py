"""Seeded Gaussian noise that is the same on every device.

A seeded ``torch.Generator`` lives on the CPU, and CUDA refuses to draw with it. So seeded noise is
drawn on the CPU and moved: a seed then gives the same images on the CPU and on a GPU. Unseeded
noise (training) is drawn where it is used.
"""

from __future__ import annotations

import torch


def gaussian(
    shape: tuple[int, ...] | torch.Size,
    generator: torch.Generator | None,
    device: torch.device | str,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    if generator is None:
        return torch.randn(shape, device=device, dtype=dtype)
    return torch.randn(shape, generator=generator, dtype=dtype).to(device)
