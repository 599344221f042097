"""DCGAN (Radford et al., 2016) for 28×28 images: a generator G maps noise z to an image, a
discriminator D tells real from generated, and the two are trained against each other.

Stabilizers, as the DCGAN paper and later practice recommend: strided (transposed) convolutions
instead of pooling, batch norm in G, LeakyReLU(0.2) and spectral norm in D (Miyato et al.,
2018), Adam(2e-4, β1 = 0.5), one-sided label smoothing for the non-saturating loss. ``loss`` is
``"nsgan"`` (non-saturating: G maximizes log D(G(z))) or ``"hinge"`` (Lim & Ye, 2017).
Sampling uses an exponential moving average of G's weights (``ema_decay``; Yazıcı et al., 2019,
"The Unusual Effectiveness of Averaging in GAN Training"): the live G chases a moving
discriminator and oscillates, its average draws cleaner digits. ``augment`` applies
differentiable augmentations to every image D sees, real and generated alike (DiffAugment: Zhao et
al., 2020, "Differentiable Augmentation for Data-Efficient GAN Training"): on a few thousand
images D otherwise memorizes the training set and stops teaching G.
``blocks`` adds shape-keeping 3×3 convolutions at each resolution of G and D: DCGAN's MNIST pair
has only two (transposed) convolutions each, too shallow to draw every stroke of a clear digit.
GANs are sharp but can collapse onto a few modes; the evaluation's class histogram shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from lmgen.errors import InputError
from lmgen.models.images.noise import gaussian


@dataclass
class GANConfig:
    latent_dim: int = 64
    channels: int = 64
    image_channels: int = 1
    image_size: int = 28
    loss: str = "nsgan"
    label_smoothing: float = 0.9
    ema_decay: float = 0.999  # of G's weights, which sampling uses
    augment: str = "none"  # "none", or comma-separated DiffAugment policies: "translation,cutout"
    blocks: int = 0  # extra 3×3 convolutions at each resolution, in G and in D (a deeper pair)

    def __post_init__(self) -> None:
        if not 0 <= self.blocks <= 4:
            raise InputError(f"GAN blocks must be between 0 and 4, not {self.blocks}")
        if self.loss not in ("nsgan", "hinge"):
            raise InputError(f"GAN loss must be 'nsgan' or 'hinge', not {self.loss!r}")
        bad = [p for p in self.policies if p not in AUGMENTATIONS]
        if bad:
            raise InputError(
                f"unknown GAN augmentation {bad[0]!r}: use 'none' or some of {', '.join(AUGMENTATIONS)}"
            )

    @property
    def policies(self) -> list[str]:
        return [p.strip() for p in self.augment.split(",") if p.strip() and p.strip() != "none"]


def translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its side, filling with the border (the background)."""
    n, _, h, w = x.shape
    shift = torch.randint(-int(h * ratio), int(h * ratio) + 1, (n, 2), device=x.device).float()
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2], theta[:, 1, 2] = 2 * shift[:, 0] / w, 2 * shift[:, 1] / h  # whole pixels
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=False)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one random square of ``ratio`` × the side in each image (as DiffAugment does)."""
    n, _, h, w = x.shape
    size = int(h * ratio)
    top = torch.randint(0, h - size + 1, (n, 1, 1), device=x.device)
    left = torch.randint(0, w - size + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTATIONS = {"translation": translate, "cutout": cutout}


def _g_blocks(c: int, n: int) -> list[nn.Module]:
    """``n`` shape-keeping 3×3 convolutions for G (batch norm, ReLU)."""
    layers: list[nn.Module] = []
    for _ in range(n):
        layers += [nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
    return layers


def _d_blocks(c: int, n: int) -> list[nn.Module]:
    """``n`` shape-keeping 3×3 convolutions for D (spectral norm, LeakyReLU)."""
    layers: list[nn.Module] = []
    for _ in range(n):
        layers += [spectral_norm(nn.Conv2d(c, c, 3, 1, 1)), nn.LeakyReLU(0.2)]
    return layers


class Generator(nn.Module):
    def __init__(self, cfg: GANConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.side = cfg.image_size // 4
        self.fc = nn.Sequential(nn.Linear(cfg.latent_dim, 2 * c * self.side**2, bias=False))
        self.net = nn.Sequential(
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            *_g_blocks(2 * c, cfg.blocks),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            *_g_blocks(c, cfg.blocks),
            nn.ConvTranspose2d(c, cfg.image_channels, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # unflatten, not view(len(z), …): the FX tracer of post-training quantization cannot trace len()
        return self.net(self.fc(z).unflatten(1, (-1, self.side, self.side)))


class Discriminator(nn.Module):
    def __init__(self, cfg: GANConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(cfg.image_channels, c, 4, 2, 1)),
            nn.LeakyReLU(0.2),
            *_d_blocks(c, cfg.blocks),
            spectral_norm(nn.Conv2d(c, 2 * c, 4, 2, 1)),
            nn.LeakyReLU(0.2),
            *_d_blocks(2 * c, cfg.blocks),
            nn.Flatten(),
            spectral_norm(nn.Linear(2 * c * (cfg.image_size // 4) ** 2, 1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)  # a logit (nsgan) or a score (hinge)


class GAN(nn.Module):
    def __init__(self, cfg: GANConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or GANConfig()
        self.generator = Generator(self.cfg)
        self.discriminator = Discriminator(self.cfg)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        for policy in self.cfg.policies:
            x = AUGMENTATIONS[policy](x)
        return x

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        d_real = self.discriminator(self.augment(real))
        d_fake = self.discriminator(self.augment(fake.detach()))
        if self.cfg.loss == "hinge":
            return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        target = torch.full_like(d_real, self.cfg.label_smoothing)
        return F.binary_cross_entropy_with_logits(d_real, target) + F.binary_cross_entropy_with_logits(
            d_fake, torch.zeros_like(d_fake)
        )

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        d_fake = self.discriminator(self.augment(fake))
        if self.cfg.loss == "hinge":
            return -d_fake.mean()
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        return gaussian((n, self.cfg.latent_dim), generator, device)

    @torch.no_grad()
    def refresh_batchnorm(self, batches: int = 8, batch_size: int = 256, seed: int = 0) -> None:
        """Re-estimate G's batch-norm statistics for its current weights (after averaging them)."""
        g = torch.Generator().manual_seed(seed)
        norms = [m for m in self.generator.modules() if isinstance(m, nn.BatchNorm2d)]
        was_training = self.generator.training
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches below
        self.generator.train()
        device = next(self.parameters()).device
        for _ in range(batches):
            self.generator(torch.randn(batch_size, self.cfg.latent_dim, generator=g).to(device))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        self.generator.train(was_training)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.generator(self.noise(n, generator))
