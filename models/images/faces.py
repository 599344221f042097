"""A real pretrained GAN beside lmgen's own: the 64×64 colour DCGAN face generator that the
``gan-face-generate`` package ships (trained on DigiFace-1M; MIT licence). The network is the
DCGAN generator (Radford et al., 2016) — z (100) → 4×4×512 → 8×8×256 → 16×16×128 → 32×32×64 →
64×64×3 with transposed convolutions, batch norm and ReLU, tanh output — rebuilt here so its
state dict loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lmgen.errors import ModelFileError

LATENT = 100


def _up(cin: int, cout: int, first: bool = False) -> list[nn.Module]:
    return [
        nn.ConvTranspose2d(cin, cout, 4, 1 if first else 2, 0 if first else 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(True),
    ]


class FaceGenerator(nn.Module):
    def __init__(self, width: int = 64) -> None:
        super().__init__()
        w = width
        self.main = nn.Sequential(
            *_up(LATENT, 8 * w, first=True),
            *_up(8 * w, 4 * w),
            *_up(4 * w, 2 * w),
            *_up(2 * w, w),
            nn.ConvTranspose2d(w, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(len(z), LATENT, 1, 1))

    @classmethod
    def load(cls, path: Path) -> FaceGenerator:
        """Weights from the package's checkpoint (``netG_state_dict``), safely.

        Raises:
            ModelFileError: missing, corrupt, or not the expected network.
        """
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model = cls()
            model.load_state_dict(state["netG_state_dict"])
        except (OSError, RuntimeError, KeyError, EOFError) as exc:
            raise ModelFileError(
                f"cannot load the DCGAN face generator from {path}: {str(exc).splitlines()[0][:160]}",
                path=str(path),
                hint="delete the file; lmgen fetches it again from the gan-face-generate wheel",
            ) from exc
        return model.eval()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self(torch.randn(n, LATENT, generator=generator))
