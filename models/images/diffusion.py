"""Denoising diffusion: forward noising x0 → xT by a fixed schedule, a U-Net that learns to
predict the added noise, and two samplers that walk back xT → x0.

* Noise schedules: ``linear`` β from 1e-4 to 0.02 (Ho, Jain & Abbeel, 2020, "Denoising Diffusion
  Probabilistic Models") and ``cosine`` ᾱ(t) = cos²(((t/T + s)/(1 + s))·π/2), s = 0.008 (Nichol &
  Dhariwal, 2021, "Improved Denoising Diffusion Probabilistic Models").
* Forward process in closed form: q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I).
* Training: ‖ε − ε_θ(x_t, t, y)‖² with the class label dropped 10% of the time, so one network
  is both conditional and unconditional (classifier-free guidance, Ho & Salimans, 2022).
* Samplers: DDPM ancestral sampling (T steps, posterior variance β̃_t) and DDIM (Song, Meng &
  Ermon, 2021) on a sub-sequence of K steps, deterministic with η = 0; with η = 1 and all T steps
  DDIM is the DDPM sampler.
* Autoguidance (Karras et al., 2024, "Guiding a Diffusion Model with a Bad Version of Itself"):
  without a class, a smaller or shorter-trained "guide" model's noise estimate ε₀ is extrapolated
  away from: ε = ε₀ + w (ε₁ − ε₀). Where the two models agree (the data's clear modes) nothing
  changes; where the weak one errs, the samples are pushed further from its mistakes, which pulls
  them out of the low-density regions where the unrecognizable samples lie. It needs no labels.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from lmgen.errors import InputError
from lmgen.models.images.noise import gaussian

# Autoguidance weight w for unconditional samples when a guide model is given. On the shipped MNIST
# model and guide (the same U-Net trained 6 epochs instead of 272), DDIM 50, η = 1, 500 samples per
# seed judged by the shipped judge: the model alone 75.4% / 74.0% / 73.8% recognizable (seeds 0 / 1
# / 2), w = 1.5 86.2% / 79.6%, w = 2 88.6% / 84.8% / 84.6%; FID 27.4 → 23.4 at seed 0.
AUTOGUIDANCE = 2.0


@dataclass
class DiffusionConfig:
    timesteps: int = 1000
    schedule: str = "cosine"
    channels: int = 32
    image_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    class_dropout: float = 0.1
    ema_decay: float = 0.995

    def __post_init__(self) -> None:
        if self.schedule not in ("linear", "cosine"):
            raise InputError(f"noise schedule must be 'linear' or 'cosine', not {self.schedule!r}")
        if self.timesteps < 2:
            raise InputError("a diffusion model needs at least 2 timesteps")


def make_betas(schedule: str, timesteps: int) -> torch.Tensor:
    if schedule == "linear":
        scale = 1000 / timesteps
        return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    s = 0.008
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    alpha_bar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = alpha_bar / alpha_bar[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)


class NoiseSchedule(nn.Module):
    """β_t, α_t, ᾱ_t and the posterior coefficients, as buffers (they move with the model)."""

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bar: torch.Tensor
    alpha_bar_prev: torch.Tensor
    posterior_variance: torch.Tensor

    def __init__(self, schedule: str, timesteps: int) -> None:
        super().__init__()
        betas = make_betas(schedule, timesteps)
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, 0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        self.timesteps = timesteps
        for name, value in {
            "betas": betas,
            "alphas": alphas,
            "alpha_bar": alpha_bar,
            "alpha_bar_prev": alpha_bar_prev,
            "posterior_variance": betas * (1 - alpha_bar_prev) / (1 - alpha_bar),
        }.items():
            self.register_buffer(name, value.float(), persistent=False)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε."""
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """A small U-Net: 28 → 14 → 7 and back, residual blocks with time (and class) embedding."""

    def __init__(self, cfg: DiffusionConfig) -> None:
        super().__init__()
        c, e = cfg.channels, cfg.channels * 4
        self.cfg = cfg
        self.time = nn.Sequential(nn.Linear(c, e), nn.SiLU(), nn.Linear(e, e))
        self.label = nn.Embedding(cfg.num_classes + 1, e)  # the last index means "no class"
        self.inp = nn.Conv2d(cfg.image_channels, c, 3, padding=1)
        self.down1 = ResBlock(c, c, e)
        self.pool1 = nn.Conv2d(c, c, 4, 2, 1)
        self.down2 = ResBlock(c, 2 * c, e)
        self.pool2 = nn.Conv2d(2 * c, 2 * c, 4, 2, 1)
        self.mid1 = ResBlock(2 * c, 2 * c, e)
        self.mid2 = ResBlock(2 * c, 2 * c, e)
        self.up2 = nn.ConvTranspose2d(2 * c, 2 * c, 4, 2, 1)
        self.dec2 = ResBlock(4 * c, 2 * c, e)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 4, 2, 1)
        self.dec1 = ResBlock(2 * c, c, e)
        self.out = nn.Sequential(
            nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, cfg.image_channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            y = torch.full((len(x),), self.cfg.num_classes, device=x.device, dtype=torch.long)
        emb = self.time(timestep_embedding(t, self.cfg.channels)) + self.label(y)
        h0 = self.down1(self.inp(x), emb)  # 28
        h1 = self.down2(self.pool1(h0), emb)  # 14
        h = self.mid2(self.mid1(self.pool2(h1), emb), emb)  # 7
        h = self.dec2(torch.cat([self.up2(h), h1], 1), emb)  # 14
        h = self.dec1(torch.cat([self.up1(h), h0], 1), emb)  # 28
        return self.out(h)


class EMA:
    """Exponential moving average of a model's weights (the weights sampling uses)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for ema_p, p in zip(self.model.parameters(), model.parameters(), strict=True):
            ema_p.lerp_(p, 1 - self.decay)
        for ema_b, b in zip(self.model.buffers(), model.buffers(), strict=True):
            ema_b.copy_(b)


class Diffusion(nn.Module):
    def __init__(self, cfg: DiffusionConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or DiffusionConfig()
        self.net = UNet(self.cfg)
        self.schedule = NoiseSchedule(self.cfg.schedule, self.cfg.timesteps)

    def loss(self, x0: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        t = torch.randint(0, self.cfg.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        xt = self.schedule.q_sample(x0, t, noise)
        if y is not None and self.cfg.class_dropout > 0:
            drop = torch.rand(len(y), device=y.device) < self.cfg.class_dropout
            y = torch.where(drop, torch.full_like(y, self.cfg.num_classes), y)
        mse = F.mse_loss(self.net(xt, t, y), noise)
        return {"loss": mse, "mse": mse}

    # ---------------------------------------------------------------- sampling
    def predict_noise(
        self,
        xt: torch.Tensor,
        t: int,
        y: torch.Tensor | None,
        guidance: float,
        guide: Diffusion | None = None,
        guide_weight: float = 1.0,
    ) -> torch.Tensor:
        """ε for x_t: classifier-free guidance with a class, autoguidance by ``guide`` without one."""
        tt = torch.full((len(xt),), t, device=xt.device, dtype=torch.long)
        if y is None and guide is not None and guide_weight != 1.0:
            weak = guide.net(xt, tt)
            return weak + guide_weight * (self.net(xt, tt) - weak)
        if y is None or guidance == 0:
            return self.net(xt, tt, y)
        both = self.net(
            torch.cat([xt, xt]), torch.cat([tt, tt]), torch.cat([y, torch.full_like(y, self.cfg.num_classes)])
        )
        cond, uncond = both.chunk(2)
        return uncond + (1 + guidance) * (cond - uncond) if guidance > 0 else cond

    def check_guide(self, guide: Diffusion | None, weight: float) -> None:
        """A guide must model the same images on the same noise schedule; its weight w is ≥ 1."""
        if weight < 1.0:
            raise InputError(f"the autoguidance weight must be at least 1 (1 = off), not {weight}")
        if guide is None:
            return
        mine, theirs = self.cfg, guide.cfg
        for field in ("timesteps", "schedule", "image_channels", "image_size"):
            if getattr(mine, field) != getattr(theirs, field):
                raise InputError(
                    f"the guide model's {field} is {getattr(theirs, field)!r}, the model's "
                    f"{getattr(mine, field)!r}: a guide must share them"
                )

    def _start(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """x_T ~ N(0, I) on the model's device."""
        c, size = self.cfg.image_channels, self.cfg.image_size
        return gaussian((n, c, size, size), generator, next(self.parameters()).device)

    def _x0(
        self, xt: torch.Tensor, eps: torch.Tensor, t: int, clip: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ab = self.schedule.alpha_bar[t]
        x0 = (xt - (1 - ab).sqrt() * eps) / ab.sqrt()
        if clip:
            x0 = x0.clamp(-1, 1)
            eps = (xt - ab.sqrt() * x0) / (1 - ab).sqrt()
        return x0, eps

    @torch.no_grad()
    def ddim_sample(
        self,
        n: int,
        steps: int | None = None,
        eta: float = 0.0,
        y: torch.Tensor | None = None,
        guidance: float = 0.0,
        generator: torch.Generator | None = None,
        clip: bool = True,
        on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
        guide: Diffusion | None = None,
        guide_weight: float = AUTOGUIDANCE,
    ) -> torch.Tensor:
        """DDIM on ``steps`` evenly spaced timesteps (all T when None); ``eta`` = 0 is deterministic.

        ``on_step(t, x_t, predicted_x0)`` sees every step (for trajectories and progress). ``guide``
        (a weaker model of the same data) autoguides unconditional samples with ``guide_weight``.
        """
        T = self.cfg.timesteps
        steps = T if steps is None else steps
        if not 1 <= steps <= T:
            raise InputError(f"steps must be between 1 and {T}, not {steps}")
        if not 0.0 <= eta <= 1.0:
            raise InputError(f"eta must be between 0 and 1, not {eta}")
        self.check_guide(guide, guide_weight)
        seq = sorted(set(torch.linspace(0, T - 1, steps).round().long().tolist()), reverse=True)
        x = self._start(n, generator)
        device = x.device
        for i, t in enumerate(seq):
            t_prev = seq[i + 1] if i + 1 < len(seq) else -1
            eps = self.predict_noise(x, t, y, guidance, guide, guide_weight)
            x0, eps = self._x0(x, eps, t, clip)
            ab = self.schedule.alpha_bar[t]
            ab_prev = self.schedule.alpha_bar[t_prev] if t_prev >= 0 else torch.ones((), device=device)
            sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).clamp_min(0).sqrt()
            x = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp_min(0).sqrt() * eps
            if t_prev >= 0 and eta > 0:
                x = x + sigma * gaussian(x.shape, generator, device)
            if on_step is not None:
                on_step(t, x, x0)
        return x

    @torch.no_grad()
    def ddpm_sample(
        self,
        n: int,
        y: torch.Tensor | None = None,
        guidance: float = 0.0,
        generator: torch.Generator | None = None,
        clip: bool = True,
        on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
        guide: Diffusion | None = None,
        guide_weight: float = AUTOGUIDANCE,
    ) -> torch.Tensor:
        """Ancestral sampling over all T steps: x_{t−1} ~ N(μ̃_t(x_t, x̂_0), β̃_t I)."""
        self.check_guide(guide, guide_weight)
        s = self.schedule
        x = self._start(n, generator)
        device = x.device
        for t in reversed(range(self.cfg.timesteps)):
            eps = self.predict_noise(x, t, y, guidance, guide, guide_weight)
            x0, _ = self._x0(x, eps, t, clip)
            coef_x0 = s.alpha_bar_prev[t].sqrt() * s.betas[t] / (1 - s.alpha_bar[t])
            coef_xt = s.alphas[t].sqrt() * (1 - s.alpha_bar_prev[t]) / (1 - s.alpha_bar[t])
            x = coef_x0 * x0 + coef_xt * x
            if t > 0:
                x = x + s.posterior_variance[t].sqrt() * gaussian(x.shape, generator, device)
            if on_step is not None:
                on_step(t, x, x0)
        return x

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.ddim_sample(n, steps=min(50, self.cfg.timesteps), generator=generator)
