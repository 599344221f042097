"""One table for all generators, from the same classifier and the same held-out images.

Per model: FID in the classifier's feature space against held-out real images, the share of
samples the classifier calls recognizable (it gives one class probability ≥ 0.9), class coverage
and KL(class histogram ‖ uniform) (mode collapse), sharpness (variance of the Laplacian, with
the real images' value as the reference), reconstruction MSE on held-out images for AE/VAE,
and seconds per sample. A "real" row (held-out images against training images) shows what a
perfect generator would score.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from lmgen.models.images.diffusion import AUTOGUIDANCE
from lmgen.models.images.metrics import (
    class_histogram,
    coverage,
    frechet_distance,
    kl_from_uniform,
    laplacian_variance,
)
from lmgen.models.images.sample import generate


@torch.no_grad()
def classify(classifier: Any, images: torch.Tensor, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(features, predicted classes) of ``images``."""
    feats, preds = [], []
    for i in range(0, len(images), batch):
        f = classifier.features(images[i : i + batch])
        feats.append(f.numpy())
        preds.append(classifier.head(f).argmax(1).numpy())
    return np.concatenate(feats), np.concatenate(preds)


# A sample is "recognizable" when the classifier is this sure of one class (real held-out digits: ~97%).
RECOGNIZABLE = 0.9


@torch.no_grad()
def recognizable_share(classifier: Any, feats: np.ndarray) -> float:
    """Share of samples (given their classifier features) with a top class probability ≥ RECOGNIZABLE."""
    confidence = classifier.head(torch.from_numpy(feats)).softmax(1).max(1).values
    return round(float((confidence >= RECOGNIZABLE).float().mean()), 4)


def describe(
    classifier: Any, images: torch.Tensor, real_feats: np.ndarray, num_classes: int
) -> dict[str, Any]:
    feats, preds = classify(classifier, images)
    hist = class_histogram(preds, num_classes)
    return {
        "fid": round(frechet_distance(feats, real_feats), 2),
        "recognizable": recognizable_share(classifier, feats),
        "classes_covered": coverage(hist),
        "kl_from_uniform": round(kl_from_uniform(hist), 4),
        "sharpness": round(laplacian_variance(images.numpy()), 4),
        "class_histogram": [round(float(h), 3) for h in hist],
    }


@torch.no_grad()
def each_class(model: Any, labels: torch.Tensor, steps: int, seed: int) -> torch.Tensor:
    """Class-guided DDIM samples of ``labels`` (guidance 2), 250 at a time."""
    return torch.cat(
        [
            model.ddim_sample(
                len(part),
                steps=steps,
                y=part,
                guidance=2.0,
                generator=torch.Generator().manual_seed(seed + i),
            )
            for i, part in enumerate(labels.split(250))
        ]
    )


@torch.no_grad()
def evaluate_generators(
    models: dict[str, Any],
    classifier: Any,
    heldout: torch.Tensor,
    train_sample: torch.Tensor,
    n: int = 500,
    seed: int = 0,
    ddim_steps: int = 50,
    guide: Any | None = None,
) -> dict[str, Any]:
    """The evaluation table; ``models`` maps ``ae``/``vae``/``gan``/``ddpm`` to loaded models.

    With a diffusion ``guide`` model, a ``ddpm+ag`` row shows the same unconditional samples
    autoguided (the default weight), beside the plain ``ddpm`` row."""
    classifier.eval()
    num_classes = classifier.cfg.num_classes
    real_feats, _ = classify(classifier, heldout)
    rows: dict[str, Any] = {"real": describe(classifier, train_sample[:n], real_feats, num_classes)}
    rows["real"]["seconds_per_sample"] = 0.0

    def timed_row(draw: Any, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], torch.Tensor]:
        """The row of the images ``draw(*args, **kwargs)`` returns, with its seconds per sample."""
        start = time.perf_counter()
        images = draw(*args, **kwargs)
        seconds = time.perf_counter() - start
        row = describe(classifier, images, real_feats, num_classes)
        row["seconds_per_sample"] = round(seconds / n, 5)
        return row, images

    for kind, model in models.items():
        model.eval()
        steps = ddim_steps if kind == "ddpm" else None
        row, _ = timed_row(generate, model, kind, n, seed=seed, steps=steps)
        if kind == "ddpm":
            row["sampler"] = f"DDIM {ddim_steps} steps, η = 1 (EMA weights)"
        if kind in ("ae", "vae"):
            x = heldout[:n]
            recon = model(x) if kind == "ae" else model.decode(model.encode(x)[0])
            row["recon_mse"] = round(float(((recon - x) ** 2).mean()), 5)
        rows[kind] = row
        if kind == "ddpm" and guide is not None:
            rows["ddpm+ag"], _ = timed_row(generate, model, kind, n, seed=seed, steps=steps, guide=guide)
            rows["ddpm+ag"]["sampler"] = (
                f"DDIM {ddim_steps} steps, η = 1, autoguided by a weaker model, w = {AUTOGUIDANCE}"
            )
        if kind == "ddpm" and model.cfg.num_classes > 1:
            # the same network, asked for each class in turn (classifier-free guidance, w = 2)
            labels = torch.arange(n) % model.cfg.num_classes
            guided, images = timed_row(each_class, model, labels, ddim_steps, seed)
            guided["sampler"] = f"DDIM {ddim_steps} steps, classes 0-9 in turn, guidance 2"
            feats_pred = classify(classifier, images)[1]
            guided["asked_class_accuracy"] = round(float((feats_pred == labels.numpy()).mean()), 4)
            rows["ddpm+cfg"] = guided
    return {
        "samples_per_model": n,
        "heldout_images": len(heldout),
        "classifier_heldout_accuracy": None,
        "models": rows,
    }


def format_table(report: dict[str, Any]) -> str:
    head = (
        f"{'model':<8}{'FID':>9}{'recog.':>8}{'classes':>9}{'KL(unif)':>10}{'sharp':>9}{'recon':>9}"
        f"{'s/sample':>10}"
    )
    lines = [head]
    for name, r in report["models"].items():
        recon = f"{r['recon_mse']:.4f}" if "recon_mse" in r else "—"
        lines.append(
            f"{name:<8}{r['fid']:>9.2f}{r['recognizable']:>8.1%}{r['classes_covered']:>9}"
            f"{r['kl_from_uniform']:>10.3f}"
            f"{r['sharpness']:>9.3f}{recon:>9}{r['seconds_per_sample']:>10.4f}"
        )
    acc = report.get("classifier_heldout_accuracy")
    if acc is not None:
        lines.append(
            f"classifier held-out accuracy {acc:.3f}; FID in its 128-d feature space; recog.: share "
            f"of samples it gives one class probability ≥ {RECOGNIZABLE}"
        )
    return "\n".join(lines)
