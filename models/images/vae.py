"""Variational autoencoder (Kingma & Welling, 2014): the encoder outputs μ and log σ², z is
sampled as μ + σ·ε (the reparameterization trick, so gradients flow through the sampling), and
the loss adds β·KL(q(z|x) ‖ N(0, I)) to the reconstruction error. The KL term pulls every code
towards one continuous Gaussian, so random z ~ N(0, I) decodes to plausible images and
interpolations are smooth — at the price of blur (β > 1 trades more blur for a tidier latent
space; Higgins et al., 2017).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from lmgen.models.images.ae import AEConfig, Decoder, Encoder
from lmgen.models.images.noise import gaussian


@dataclass
class VAEConfig(AEConfig):
    beta: float = 1.0


class VAE(nn.Module):
    def __init__(self, cfg: VAEConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or VAEConfig()
        self.encoder = Encoder(self.cfg, 2 * self.cfg.latent_dim)
        self.decoder = Decoder(self.cfg)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        eps = gaussian(mu.shape, generator, mu.device, mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        recon_x, mu, logvar = self(x)
        # per image: summed squared error (a Gaussian likelihood up to constants) and summed KL
        recon = F.mse_loss(recon_x, x, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
        return {"loss": recon + self.cfg.beta * kl, "recon": recon, "kl": kl}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        return self.decode(gaussian((n, self.cfg.latent_dim), generator, device))
