"""Image generators on the command line: ``lmgen image {ae,vae,gan,ddpm,faces}``, ``train``, ``eval``,
``strips``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lmgen.errors import InputError
from lmgen.ui.output import JsonFlag, emit

image_app = typer.Typer(
    no_args_is_help=True,
    help="Image generators: sample (ae, vae, gan, ddpm, faces), train, evaluate, explain (strips).",
)

Count = Annotated[int, typer.Option("-n", "--count", help="How many images (1-1000).")]
Seed = Annotated[int, typer.Option(help="Random seed: the same seed gives the same images.")]
Out = Annotated[Path | None, typer.Option("--out", help="Folder for the PNG files.")]
Dataset = Annotated[str, typer.Option(help="mnist, fashion, or a folder of your own images.")]
Checkpoint = Annotated[
    str | None, typer.Option(help="Folder of checkpoints from `lmgen image train` (default: shipped).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(image_app, name="image")


def _sample(
    kind: str,
    n: int,
    seed: int,
    steps: int | None,
    label: int | None,
    out: Path | None,
    dataset: str,
    checkpoint: str | None,
    as_json: bool,
    sampler: str = "ddim",
    autoguidance: float | None = None,
) -> None:
    from lmgen.tools.images import make_images

    result = make_images(kind, n, seed, steps, label, out, dataset, checkpoint, sampler, autoguidance)
    emit(
        result,
        as_json,
        f"{len(result['files'])} image(s) of {result['model']} in {Path(result['grid']).parent} "
        f"(grid: {result['grid']}, {result['seconds']:.2f} s)",
    )


def _simple(kind: str, doc: str) -> None:
    """Register ``lmgen image KIND``: a generator with no sampler settings."""

    def command(
        n: Count = 16,
        seed: Seed = 0,
        out: Out = None,
        dataset: Dataset = "mnist",
        checkpoint: Checkpoint = None,
        as_json: JsonFlag = False,
    ) -> None:
        _sample(kind, n, seed, None, None, out, dataset, checkpoint, as_json)

    command.__doc__ = doc
    image_app.command(kind)(command)


_simple("ae", "Autoencoder: decode random codes drawn from a Gaussian fitted to the training codes.")
_simple("vae", "VAE: decode z ~ N(0, I).")
_simple("gan", "DCGAN: the generator applied to noise.")


@image_app.command("ddpm")
def ddpm(
    n: Count = 16,
    seed: Seed = 0,
    steps: Annotated[int | None, typer.Option(help="Sampling steps (DDIM; default 50).")] = None,
    label: Annotated[int | None, typer.Option("--class", help="Draw this class (e.g. the digit 7).")] = None,
    sampler: Annotated[str, typer.Option(help="ddim (K steps) or ddpm (all 1000 steps).")] = "ddim",
    autoguidance: Annotated[
        float | None,
        typer.Option(
            help="Without --class: weight w of the guide model (default 2 where the checkpoint has "
            "one, in <checkpoint>/ddpm-guide; 1 turns it off)."
        ),
    ] = None,
    out: Out = None,
    dataset: Dataset = "mnist",
    checkpoint: Checkpoint = None,
    as_json: JsonFlag = False,
) -> None:
    """Diffusion: start from noise and denoise (DDIM with K steps, or DDPM ancestral sampling).

    Without a class, the samples are autoguided by a weaker diffusion model where the checkpoint
    ships one: ε = ε_guide + w (ε_model − ε_guide) steers them away from what the weak model gets
    wrong (Karras et al., 2024)."""
    _sample("ddpm", n, seed, steps, label, out, dataset, checkpoint, as_json, sampler, autoguidance)


@image_app.command("faces")
def faces(n: Count = 16, seed: Seed = 0, out: Out = None, as_json: JsonFlag = False) -> None:
    """The pretrained 64×64 colour DCGAN face generator from `gan-face-generate`."""
    _sample("faces", n, seed, None, None, out, "mnist", None, as_json)


@image_app.command("train")
def train(
    kind: Annotated[str, typer.Argument(help="ae, vae, gan, ddpm or classifier.")],
    out: Annotated[Path, typer.Option("--out", help="Checkpoint folder (resumable).")],
    dataset: Dataset = "mnist",
    epochs: Annotated[int, typer.Option(help="Passes over the training images.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 64,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate (default per model).")] = None,
    seed: Seed = 0,
    latent: Annotated[int | None, typer.Option(help="Latent size (ae, vae, gan).")] = None,
    beta: Annotated[float | None, typer.Option(help="VAE: weight of the KL term (β-VAE).")] = None,
    loss: Annotated[str | None, typer.Option(help="GAN: nsgan or hinge.")] = None,
    schedule: Annotated[str | None, typer.Option(help="Diffusion: linear or cosine.")] = None,
    channels: Annotated[int | None, typer.Option(help="Base channel count of the network.")] = None,
    augment: Annotated[
        str | None, typer.Option(help="GAN: DiffAugment policies for D's inputs, e.g. translation,cutout.")
    ] = None,
    blocks: Annotated[
        int | None, typer.Option(help="GAN: extra 3×3 convolutions per resolution in G and D (0-4).")
    ] = None,
    ema_decay: Annotated[
        float | None, typer.Option(help="GAN, diffusion: decay of the weight average sampling uses.")
    ] = None,
    class_dropout: Annotated[
        float | None,
        typer.Option(help="Diffusion: share of steps trained without the class (the unconditional model)."),
    ] = None,
    outlier_weight: Annotated[
        float | None,
        typer.Option(help="Classifier: weight of outlier exposure (no-class images pushed to uniform)."),
    ] = None,
    init: Annotated[
        Path | None,
        typer.Option(help="Start from this checkpoint's weights (fine-tune; fresh optimizer)."),
    ] = None,
    sample_every: Annotated[int, typer.Option(help="Save a sample grid every N epochs.")] = 5,
    resume: Annotated[
        bool, typer.Option(help="Continue the run saved in --out (a larger --epochs extends it).")
    ] = False,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    as_json: JsonFlag = False,
) -> None:
    """Train one image model; checkpoints (safetensors) after every epoch, sample grids in OUT/samples."""
    from lmgen.models.images.train import ImageTrainConfig, check_kind, train_images
    from lmgen.models.train_state import pick_device
    from lmgen.stores.images import load_dataset

    check_kind(kind)
    model_cfg: dict[str, Any] = {}
    for option, key, value, kinds in (
        ("latent", "latent_dim", latent, ("ae", "vae", "gan")),
        ("beta", "beta", beta, ("vae",)),
        ("loss", "loss", loss, ("gan",)),
        ("schedule", "schedule", schedule, ("ddpm",)),
        ("channels", "channels", channels, ("ae", "vae", "gan", "ddpm")),
        ("augment", "augment", augment, ("gan",)),
        ("blocks", "blocks", blocks, ("gan",)),
        ("ema-decay", "ema_decay", ema_decay, ("gan", "ddpm")),
        ("class-dropout", "class_dropout", class_dropout, ("ddpm",)),
        ("outlier-weight", "outlier_weight", outlier_weight, ("classifier",)),
    ):
        if value is not None:
            if kind not in kinds:
                raise InputError(f"--{option} does not apply to {kind}")
            model_cfg[key] = value
    data = load_dataset(dataset, "train")
    dev = pick_device(device)
    sys.stderr.write(f"training {kind} on {dev}: {len(data):,} {data.name} images {data.shape}\n")
    cfg = ImageTrainConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, sample_every=sample_every, device=dev
    )
    result = train_images(kind, data, out, cfg, model_cfg, resume=resume, init=init)
    data_out = {
        "out": str(result.out),
        "kind": kind,
        "epochs": result.epochs,
        "seconds": round(result.seconds, 1),
        "images_per_second": round(result.images_per_second, 1),
        "device": dev,
        "last": result.history[-1] if result.history else {},
    }
    emit(
        data_out,
        as_json,
        f"saved {result.out}/{kind}.safetensors after {result.epochs} epochs ({result.seconds:.0f} s)",
    )


@image_app.command("eval")
def evaluate(
    n: Annotated[int, typer.Option("-n", help="Samples per model.")] = 500,
    seed: Seed = 0,
    steps: Annotated[int, typer.Option(help="DDIM steps for the diffusion model.")] = 50,
    dataset: Dataset = "mnist",
    checkpoint: Checkpoint = None,
    models: Annotated[str, typer.Option(help="Comma-separated models to evaluate.")] = "ae,vae,gan,ddpm",
    as_json: JsonFlag = False,
) -> None:
    """FID (classifier features), class coverage, mode collapse, sharpness, recon error, speed."""
    from lmgen.models.images.evaluate import format_table
    from lmgen.tools.images import evaluate_images

    kinds = [k.strip() for k in models.split(",") if k.strip()]
    report = evaluate_images(kinds, n, seed, steps, dataset, checkpoint)
    emit(report, as_json, format_table(report))


@image_app.command("strips")
def strips(
    out: Annotated[Path, typer.Option("--out", help="Folder for the strips.")],
    seed: Seed = 0,
    dataset: Dataset = "mnist",
    checkpoint: Checkpoint = None,
    as_json: JsonFlag = False,
) -> None:
    """The pictures behind the ideas: AE vs VAE latent interpolation, forward noising x0→xT and the
    reverse trajectory xT→x0 of one diffusion sample."""
    from lmgen.tools.images import make_strips

    files = make_strips(out, seed, dataset, checkpoint)
    emit({"files": files}, as_json, "\n".join(f"{k}: {v}" for k, v in files.items()))
