"""Tensors in [-1, 1] to PNG files: single images, grids and strips (PIL only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def to_uint8(images: Any) -> np.ndarray:
    """(N, C, H, W) floats in [-1, 1] → (N, H, W, C) uint8."""
    x = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images, dtype=np.float32)
    x = np.clip((x + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return x.transpose(0, 2, 3, 1)


def _pil(array: np.ndarray, scale: int = 1) -> Any:
    from PIL import Image

    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    return img


def grid_array(images: Any, nrow: int = 8, pad: int = 2) -> np.ndarray:
    x = to_uint8(images)
    n, h, w, c = x.shape
    rows = (n + nrow - 1) // nrow
    cols = min(n, nrow)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        out[
            pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w
        ] = x[i]
    return out


def save_grid(images: Any, path: Path, nrow: int = 8, scale: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _pil(grid_array(images, nrow), scale).save(path)
    return path


def save_each(images: Any, out: Path, prefix: str, scale: int = 2) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, arr in enumerate(to_uint8(images)):
        path = out / f"{prefix}-{i:04d}.png"
        _pil(arr, scale).save(path)
        paths.append(path)
    return paths
