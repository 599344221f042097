"""Numbers that turn the course's claims about generators into measurements.

* FID (Heusel et al., 2017) between two sets of feature vectors:
  ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁^½ Σ₂ Σ₁^½)^½), computed with symmetric eigendecompositions.
* Class coverage and KL(predicted class histogram ‖ uniform): a collapsed generator covers few
  classes and its KL grows towards ln(10).
* Sharpness: the variance of the Laplacian (a blur detector: blurry images have weak edges).
"""

from __future__ import annotations

import numpy as np


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between feature sets ``a`` (N, D) and ``b`` (M, D)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum())
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def class_histogram(predicted: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(predicted, dtype=np.int64), minlength=num_classes) / max(1, len(predicted))


def kl_from_uniform(hist: np.ndarray) -> float:
    """KL(hist ‖ uniform) in nats: 0 for a perfectly even spread, ln(K) when one class takes all."""
    k = len(hist)
    nz = hist[hist > 0]
    return float((nz * np.log(nz * k)).sum())


def coverage(hist: np.ndarray, min_share: float = 0.02) -> int:
    """How many classes receive at least ``min_share`` of the samples."""
    return int((hist >= min_share).sum())


def laplacian_variance(images: np.ndarray) -> float:
    """Mean over images of the variance of the 4-neighbour Laplacian (images in [-1, 1], N×C×H×W)."""
    x = np.asarray(images, dtype=np.float64)
    lap = (
        -4 * x[..., 1:-1, 1:-1] + x[..., :-2, 1:-1] + x[..., 2:, 1:-1] + x[..., 1:-1, :-2] + x[..., 1:-1, 2:]
    )
    return float(lap.reshape(len(x), -1).var(axis=1).mean())
