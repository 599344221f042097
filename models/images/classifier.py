"""A small LeNet-style classifier trained on the same data as the generators. It judges generated
images: which class each looks like (coverage, mode collapse) and, from its 128-d penultimate
layer, the features FID is computed in (as "FID on MNIST with a LeNet" does; Inception features
mean little for 28×28 digits).

A plain classifier is over-confident far from its data (one trained without outliers called 71% of
uniform-noise images a digit with p ≥ 0.9), which makes it a lenient judge of "recognizable".
``outlier_weight`` > 0 adds outlier exposure (Hendrycks, Mazeika & Dietterich, 2019, "Deep Anomaly
Detection with Outlier Exposure"): images that are no class — uniform noise, the batch's pixels
shuffled, two images of different classes blended half and half — are pushed towards the uniform
distribution, so only a clear member of one class gets a confident answer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class ClassifierConfig:
    num_classes: int = 10
    image_channels: int = 1
    image_size: int = 28
    features: int = 128
    outlier_weight: float = 0.0  # weight of the outlier-exposure term; 0: plain cross-entropy


class Classifier(nn.Module):
    def __init__(self, cfg: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or ClassifierConfig()
        c = self.cfg
        self.body = nn.Sequential(
            nn.Conv2d(c.image_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(64 * (c.image_size // 4) ** 2, c.features),
            nn.ReLU(),
        )
        self.head = nn.Linear(c.features, c.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self(x)
        ce = F.cross_entropy(logits, y)
        out = {"loss": ce, "accuracy": (logits.argmax(1) == y).float().mean()}
        if self.cfg.outlier_weight > 0:
            # cross-entropy against the uniform distribution: mean over classes of −log p
            oe = -F.log_softmax(self(outliers(x, y)), dim=1).mean(1).mean()
            out["loss"] = ce + self.cfg.outlier_weight * oe
            out["outlier_ce"] = oe
        return out


def outliers(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """As many images that are no class as ``x`` has: noise, shuffled pixels, two-class blends."""
    n = len(x)
    third = n // 3
    noise = torch.rand_like(x[:third]) * 2 - 1  # uniform in the images' [-1, 1]
    flat = x[third : 2 * third].flatten(1)
    shuffled = flat[:, torch.randperm(flat.shape[1], device=x.device)].view_as(x[third : 2 * third])
    rest = x[2 * third :]
    partner = torch.randperm(len(rest), device=x.device)
    # blend only pairs of different classes (a blend of two 3s is still a 3)
    differ = (y[2 * third :] != y[2 * third :][partner]).view(-1, 1, 1, 1)
    blended = torch.where(differ, (rest + rest[partner]) / 2, torch.rand_like(rest) * 2 - 1)
    return torch.cat([noise, shuffled, blended])
