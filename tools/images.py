"""Image generation: the plain function the CLI and the UI call, and the ``generate_images`` tool."""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from langchain_core.tools import tool
from pydantic import Field

from lmgen.errors import InputError

GENERATORS = ("ae", "vae", "gan", "ddpm", "faces")
TOOL_MAX_IMAGES = 64


@lru_cache(maxsize=8)
def load_generator(kind: str, dataset: str = "mnist", checkpoint: str | None = None) -> Any:
    """A trained generator: the shipped one for ``dataset``, or the one in ``checkpoint`` (a folder)."""
    if kind == "faces":
        from lmgen.models.images.faces import FaceGenerator
        from lmgen.stores.images import gan_face_weights

        return FaceGenerator.load(gan_face_weights())
    if kind not in GENERATORS:
        raise InputError(f"unknown image model {kind!r}: choose one of {', '.join(GENERATORS)}")
    from lmgen.models.images.train import load_images_checkpoint
    from lmgen.stores.images import shipped_dir

    folder = Path(checkpoint).expanduser() if checkpoint else shipped_dir(dataset)
    model, _ = load_images_checkpoint(folder, kind)
    return model


GUIDE_FOLDER = "ddpm-guide"


@lru_cache(maxsize=8)
def load_guide(dataset: str = "mnist", checkpoint: str | None = None) -> Any | None:
    """The weaker diffusion model that autoguides unconditional samples: ``<folder>/ddpm-guide``
    (an ordinary `lmgen image train ddpm` checkpoint), or None where the folder has none."""
    from lmgen.models.images.train import load_images_checkpoint
    from lmgen.stores.images import shipped_dir

    folder = (Path(checkpoint).expanduser() if checkpoint else shipped_dir(dataset)) / GUIDE_FOLDER
    if not (folder / "ddpm.safetensors").exists():
        return None
    model, _ = load_images_checkpoint(folder, "ddpm")
    return model


def make_images(
    kind: str,
    n: int = 16,
    seed: int = 0,
    steps: int | None = None,
    label: int | None = None,
    out: Path | None = None,
    dataset: str = "mnist",
    checkpoint: str | None = None,
    sampler: str = "ddim",
    autoguidance: float | None = None,
) -> dict[str, Any]:
    """Generate ``n`` images, write one PNG each and a grid; returns ``files, grid, model, seconds``.

    Unconditional diffusion samples are autoguided by the checkpoint's guide model when it has one
    (``autoguidance`` sets the weight; 1 turns it off); ``model`` then says so.

    Raises:
        InputError: unknown model, bad count/steps/class.
        ModelFileError: a missing or corrupt checkpoint.
    """
    from lmgen.models.images.diffusion import AUTOGUIDANCE
    from lmgen.models.images.render import save_each, save_grid
    from lmgen.models.images.sample import check_count, generate
    from lmgen.stores.models import lmgen_home

    check_count(n)
    model = load_generator(kind, dataset, checkpoint)
    guide = load_guide(dataset, checkpoint) if kind == "ddpm" and label is None else None
    start = time.perf_counter()
    if kind == "faces":
        import torch

        if steps is not None or label is not None or autoguidance is not None:
            raise InputError("the face GAN takes no --steps, class or autoguidance")
        images = model.sample(n, generator=torch.Generator().manual_seed(seed))
    else:
        images = generate(
            model,
            kind,
            n,
            seed=seed,
            steps=steps,
            label=label,
            sampler=sampler,
            guide=guide,
            autoguidance=autoguidance,
        )
    seconds = time.perf_counter() - start
    out = out or lmgen_home() / "images" / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-s{seed}"
    files = save_each(images, out, kind)
    grid = save_grid(images, out / f"{kind}-grid.png", nrow=min(8, n))
    name = kind if kind == "faces" else f"{kind} ({checkpoint or dataset})"
    weight = AUTOGUIDANCE if autoguidance is None else autoguidance
    if guide is not None and weight != 1.0:
        name += f", autoguided (w = {weight:g})"
    return {"files": [str(f) for f in files], "grid": str(grid), "model": name, "seconds": round(seconds, 3)}


def make_strips(
    out: Path, seed: int = 0, dataset: str = "mnist", checkpoint: str | None = None
) -> dict[str, str]:
    """The pictures behind the ideas, as PNG files in ``out``: AE and VAE latent interpolation between
    two test digits, diffusion's forward noising x0→xT and the reverse trajectory xT→x0 of one sample."""
    import torch

    from lmgen.models.images.render import save_grid
    from lmgen.models.images.sample import interpolation_strip, noising_strip, reverse_trajectory
    from lmgen.stores.images import load_dataset

    test = load_dataset(dataset, "test")
    rng = torch.Generator().manual_seed(seed)
    i, j = torch.randint(0, len(test), (2,), generator=rng).tolist()
    a, b = torch.from_numpy(test.images[i]), torch.from_numpy(test.images[j])
    files: dict[str, str] = {}
    for kind in ("ae", "vae"):
        model = load_generator(kind, dataset, checkpoint)
        strip = torch.cat([a[None], interpolation_strip(model, kind, a, b), b[None]])
        files[f"{kind}_interpolation"] = str(
            save_grid(strip, out / f"{kind}-interpolation.png", nrow=len(strip))
        )
    diffusion = load_generator("ddpm", dataset, checkpoint)
    files["forward_noising"] = str(
        save_grid(noising_strip(diffusion, a, 10, seed), out / "forward-noising.png", nrow=10)
    )
    files["reverse_trajectory"] = str(
        save_grid(reverse_trajectory(diffusion, 50, seed, 10), out / "reverse-trajectory.png", nrow=10)
    )
    return files


def evaluate_images(
    kinds: list[str],
    n: int = 500,
    seed: int = 0,
    steps: int = 50,
    dataset: str = "mnist",
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """FID on classifier features, class coverage, mode collapse, sharpness, reconstruction error and
    speed for each generator in ``kinds`` (what ``lmgen image eval`` prints)."""
    import torch

    from lmgen.models.images.evaluate import evaluate_generators
    from lmgen.models.images.sample import check_count

    check_count(n)
    loaded = {k: load_generator(k, dataset, checkpoint) for k in kinds}
    from lmgen.models.images.train import load_images_checkpoint
    from lmgen.stores.images import load_dataset, shipped_dir

    classifier, _ = load_images_checkpoint(
        Path(checkpoint) if checkpoint else shipped_dir(dataset), "classifier"
    )
    test = load_dataset(dataset, "test")
    train_set = load_dataset(dataset, "train")
    heldout = torch.from_numpy(test.images)
    # the training images are stored class by class: a seeded random subset is the "real" reference
    pick = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed))[:n]
    reference = torch.from_numpy(train_set.images)[pick]
    guide = load_guide(dataset, checkpoint) if "ddpm" in kinds else None
    report = evaluate_generators(
        loaded, classifier, heldout, reference, n=n, seed=seed, ddim_steps=steps, guide=guide
    )
    with torch.no_grad():
        acc = float((classifier(heldout).argmax(1) == torch.from_numpy(test.labels)).float().mean())
    report["classifier_heldout_accuracy"] = round(acc, 4)
    report["dataset"] = dataset
    return report


@tool(response_format="content_and_artifact", parse_docstring=True)
def generate_images(
    model: Literal["ae", "vae", "gan", "ddpm", "faces"] = "ddpm",
    count: Annotated[int, Field(ge=1, le=TOOL_MAX_IMAGES)] = 8,
    seed: int = 0,
    steps: Annotated[int, Field(ge=1, le=1000)] | None = None,
    digit: Annotated[int, Field(ge=0, le=9)] | None = None,
    dataset: Literal["mnist", "fashion"] = "mnist",
) -> tuple[str, dict[str, Any]]:
    """Draw images with one of lmgen's generators trained on MNIST digits (or on Fashion-MNIST
    clothes): an autoencoder ("ae"), a VAE ("vae", smooth but blurry), a DCGAN ("gan", sharp), a
    diffusion model ("ddpm", best, slower; can draw a chosen class), or the pretrained 64x64 colour
    face GAN ("faces").

    Args:
        model: One of ae, vae, gan, ddpm, faces.
        count: How many images (1-64).
        seed: Random seed; the same seed gives the same images.
        steps: Diffusion only: DDIM sampling steps (fewer is faster, e.g. 20 or 50).
        digit: Diffusion only: the digit 0-9 to draw (classifier-free guidance); with
            dataset "fashion", the clothing class number.
        dataset: "mnist" (digits, default) or "fashion" (Fashion-MNIST clothes, classes 0 T-shirt,
            1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot).
    """
    if count > TOOL_MAX_IMAGES:
        raise InputError(f"at most {TOOL_MAX_IMAGES} images from the tool, not {count}")
    result = make_images(model, count, seed, steps, digit, dataset="mnist" if model == "faces" else dataset)
    what = f" of the digit {digit}" if digit is not None else ""
    text = f"Generated {count} image(s){what} with {result['model']} in {result['seconds']:.2f} s: "
    text += result["grid"]
    return text, result
