"""Convolutional autoencoder: x → encoder → z (a point) → decoder → x̂, trained on reconstruction only.

Nothing shapes the latent space, so codes of real images sit in an irregular cloud and a random
z (drawn from a Gaussian fitted to those codes) often decodes to something that is not a digit —
the weakness the VAE fixes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from lmgen.models.images.noise import gaussian


@dataclass
class AEConfig:
    latent_dim: int = 16
    channels: int = 32
    image_channels: int = 1
    image_size: int = 28


class Encoder(nn.Module):
    """28×28 → 14×14 → 7×7 convolutions, then a linear map to ``out`` numbers."""

    def __init__(self, cfg: AEConfig, out: int) -> None:
        super().__init__()
        c = cfg.channels
        self.conv = nn.Sequential(
            nn.Conv2d(cfg.image_channels, c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1),
            nn.BatchNorm2d(2 * c),
            nn.LeakyReLU(0.2),
        )
        self.fc = nn.Linear(2 * c * (cfg.image_size // 4) ** 2, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


class Decoder(nn.Module):
    """z → 7×7 feature map → 14×14 → 28×28, tanh output in [-1, 1]."""

    def __init__(self, cfg: AEConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.side = cfg.image_size // 4
        self.fc = nn.Linear(cfg.latent_dim, 2 * c * self.side**2)
        self.deconv = nn.Sequential(
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.ConvTranspose2d(c, cfg.image_channels, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(z).view(len(z), -1, self.side, self.side))


class AutoEncoder(nn.Module):
    code_mean: torch.Tensor
    code_std: torch.Tensor

    def __init__(self, cfg: AEConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or AEConfig()
        self.encoder = Encoder(self.cfg, self.cfg.latent_dim)
        self.decoder = Decoder(self.cfg)
        # Gaussian fitted to the training codes (set after training): how "random z" is drawn
        self.register_buffer("code_mean", torch.zeros(self.cfg.latent_dim))
        self.register_buffer("code_std", torch.ones(self.cfg.latent_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        recon = F.mse_loss(self(x), x)
        return {"loss": recon, "recon": recon}

    @torch.no_grad()
    def fit_code_distribution(self, x: torch.Tensor) -> None:
        z = self.encode(x)
        self.code_mean.copy_(z.mean(0))
        self.code_std.copy_(z.std(0).clamp_min(1e-4))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = gaussian((n, self.cfg.latent_dim), generator, self.code_mean.device)
        return self.decode(self.code_mean + self.code_std * z)
