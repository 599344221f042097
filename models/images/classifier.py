"""A small LeNet-style classifier trained on the same data as the generators. It judges generated
images: which class each looks like (coverage, mode collapse) and, from its 128-d penultimate
layer, the features FID is computed in (as "FID on MNIST with a LeNet" does; Inception features
mean little for 28×28 digits)."""

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
        loss = F.cross_entropy(logits, y)
        return {"loss": loss, "accuracy": (logits.argmax(1) == y).float().mean()}
