"""Sampling and the pictures that explain each model: grids, latent interpolation strips, the
forward-noising strip x0 → xT and one sample's reverse trajectory xT → x0."""

from __future__ import annotations

from typing import Any

import torch

from lmgen.errors import InputError
from lmgen.models.images.diffusion import AUTOGUIDANCE

MAX_IMAGES = 1000


def check_count(n: int) -> int:
    if n < 1:
        raise InputError(f"number of images must be at least 1, not {n}")
    if n > MAX_IMAGES:
        raise InputError(f"at most {MAX_IMAGES} images per call, not {n}")
    return n


def generate(
    model: Any,
    kind: str,
    n: int,
    seed: int = 0,
    steps: int | None = None,
    label: int | None = None,
    guidance: float = 2.0,
    sampler: str = "ddim",
    batch_size: int = 250,
    eta: float | None = None,
    guide: Any | None = None,
    autoguidance: float | None = None,
) -> torch.Tensor:
    """``n`` images in [-1, 1] from a trained model; the same seed gives the same images.

    ``steps``, ``label``, ``guidance``, ``sampler`` (``ddim`` or ``ddpm``) and ``eta`` apply to
    diffusion. ``eta`` is DDIM's noise share (0 deterministic, 1 as stochastic as DDPM); by default
    1 without a class and 0 with one. On the shipped MNIST model, 400 unconditional samples at 50
    steps were judged recognizable 69.0% of the time with η = 0 and 76.3% with η = 1 at the same
    cost; class-guided samples are already ~99% recognizable deterministically.

    ``guide``, a weaker diffusion model of the same images, autoguides samples drawn without a class
    with weight ``autoguidance`` (default ``AUTOGUIDANCE``; 1 turns it off). With a class,
    classifier-free ``guidance`` steers instead and the guide is not used.
    """
    check_count(n)
    g = torch.Generator().manual_seed(seed)
    if kind != "ddpm":
        if steps is not None:
            raise InputError(f"--steps applies to the diffusion model only, not {kind}")
        if label is not None:
            raise InputError(f"class-conditional generation needs the diffusion model, not {kind}")
        if autoguidance is not None:
            raise InputError(f"autoguidance applies to the diffusion model only, not {kind}")
        return torch.cat([model.sample(min(batch_size, n - i), generator=g) for i in range(0, n, batch_size)])
    T = model.cfg.timesteps
    if sampler not in ("ddim", "ddpm"):
        raise InputError(f"sampler must be 'ddim' or 'ddpm', not {sampler!r}")
    if steps is not None and not 1 <= steps <= T:
        raise InputError(f"steps must be between 1 and {T}, not {steps}")
    if sampler == "ddpm" and steps not in (None, T):
        raise InputError(f"the DDPM sampler walks all {T} steps; use --sampler ddim for fewer")
    if sampler == "ddpm" and eta is not None:
        raise InputError("eta sets the DDIM sampler's noise; the DDPM sampler's is fixed")
    if label is not None and not 0 <= label < model.cfg.num_classes:
        raise InputError(f"class must be between 0 and {model.cfg.num_classes - 1}, not {label}")
    if autoguidance is not None and label is not None:
        raise InputError("autoguidance steers samples drawn without a class; with a class, guidance does")
    if autoguidance is not None and guide is None:
        raise InputError("autoguidance needs a guide model, and this checkpoint has none")
    w = guidance if label is not None else 0.0
    noise = eta if eta is not None else (1.0 if label is None else 0.0)
    weak = guide if label is None else None
    weight = AUTOGUIDANCE if autoguidance is None else autoguidance  # the samplers check it and the guide
    out = []
    for i in range(0, n, batch_size):
        m = min(batch_size, n - i)
        y = None if label is None else torch.full((m,), label, dtype=torch.long)
        common = {"y": y, "guidance": w, "generator": g, "guide": weak, "guide_weight": weight}
        if sampler == "ddpm":
            out.append(model.ddpm_sample(m, **common))
        else:
            out.append(model.ddim_sample(m, steps=steps or min(50, T), eta=noise, **common))
    return torch.cat(out)


@torch.no_grad()
def interpolation_strip(
    model: Any, kind: str, a: torch.Tensor, b: torch.Tensor, points: int = 10
) -> torch.Tensor:
    """Decode evenly spaced codes between the codes of images ``a`` and ``b`` (AE: points; VAE: μ)."""
    if kind not in ("ae", "vae"):
        raise InputError("latent interpolation is for the autoencoders (ae, vae)")
    pair = torch.stack([a, b])
    codes = model.encode(pair) if kind == "ae" else model.encode(pair)[0]
    weights = torch.linspace(0, 1, points)[:, None]
    return model.decode((1 - weights) * codes[0] + weights * codes[1])


@torch.no_grad()
def noising_strip(model: Any, x0: torch.Tensor, points: int = 10, seed: int = 0) -> torch.Tensor:
    """x_t for evenly spaced t from 0 to T−1 with one fixed noise draw (closed-form q(x_t | x_0))."""
    T = model.cfg.timesteps
    ts = torch.linspace(0, T - 1, points).round().long()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    return torch.cat([model.schedule.q_sample(x0[None], t[None], noise[None]) for t in ts])


@torch.no_grad()
def reverse_trajectory(
    model: Any, steps: int = 50, seed: int = 0, points: int = 10, label: int | None = None
) -> torch.Tensor:
    """One DDIM sample's x_t at ``points`` moments on its way from x_T (noise) to x_0."""
    frames: list[torch.Tensor] = []
    keep = set(torch.linspace(0, steps - 1, points).round().long().tolist())
    counter = [0]

    def grab(t: int, x: torch.Tensor, x0: torch.Tensor) -> None:
        if counter[0] in keep:
            frames.append(x[0].clone())
        counter[0] += 1

    y = None if label is None else torch.tensor([label])
    g = torch.Generator().manual_seed(seed)
    model.ddim_sample(
        1, steps=steps, y=y, guidance=2.0 if label is not None else 0.0, generator=g, on_step=grab
    )
    return torch.stack(frames)
