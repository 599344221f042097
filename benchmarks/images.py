"""Image generators on CPU: sampling speed per model, the diffusion quality/speed trade-off, and
training throughput — all in one process, on the shipped MNIST checkpoints.

* seconds per image for ae, vae, gan, ddpm (DDIM 50) and the face GAN (batch of ``--n``);
* diffusion: DDPM 1000 ancestral steps vs DDIM 50 and 20 steps, and DDIM 50 autoguided by the
  shipped guide model — seconds per image, FID in the shipped classifier's feature space against
  the held-out images and the share it calls recognizable (same seed, same count);
* training images/s for each model (one short epoch-slice, same batch size);
* with ``--before DIR`` (a folder of older MNIST checkpoints), generator quality before → after:
  FID, recognizable share and classes covered, every row judged by the *shipped* classifier, so
  both sides face the same judge; each side's diffusion samples are autoguided where its folder
  has a guide model (``ddpm-guide/``), as ``lmgen image ddpm`` draws them. The checkpoints shipped
  before the longer training runs:
  ``mkdir -p /tmp/before && git archive 51e0c0f models/images/checkpoints/mnist | tar -x -C /tmp/before``
  then ``--before /tmp/before/models/images/checkpoints/mnist``. ``--dataset fashion`` compares
  Fashion-MNIST checkpoints instead (shipped ones, judged by the shipped Fashion classifier).

    python benchmarks/images.py [--n 200] [--fid-n 200] [--train-batches 20]
                                [--before DIR --quality-n 500 [--dataset fashion]]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="images per model for the speed table")
    parser.add_argument("--fid-n", type=int, default=200, help="images per sampler for the DDPM/DDIM table")
    parser.add_argument("--train-batches", type=int, default=20)
    parser.add_argument("--before", type=Path, help="folder of older checkpoints to compare quality with")
    parser.add_argument("--quality-n", type=int, default=500, help="samples per generator for --before")
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "fashion"), help="for --before")
    args = parser.parse_args()
    if args.before:
        compare_quality(args.before, args.quality_n, args.dataset)

    from lmgen.models.images.data import ImageSet
    from lmgen.models.images.evaluate import classify, recognizable_share
    from lmgen.models.images.metrics import frechet_distance
    from lmgen.models.images.sample import generate
    from lmgen.models.images.train import ImageTrainConfig, load_images_checkpoint, train_images
    from lmgen.stores.images import load_dataset, shipped_dir
    from lmgen.tools.images import load_generator, load_guide

    guide = load_guide()

    print(f"torch threads {torch.get_num_threads()}")
    print(f"{'model':<8}{'s/image':>10}")
    for kind in ("ae", "vae", "gan", "ddpm", "faces"):
        model = load_generator(kind)
        start = time.perf_counter()
        if kind == "faces":
            model.sample(args.n, generator=torch.Generator().manual_seed(0))
        else:
            generate(model, kind, args.n, seed=0, steps=50 if kind == "ddpm" else None)
        label = "ddpm*" if kind == "ddpm" else kind
        print(f"{label:<8}{(time.perf_counter() - start) / args.n:>10.5f}")
    print("* DDIM, 50 steps (autoguided: the DDIM+ag row below)")

    classifier, _ = load_images_checkpoint(shipped_dir("mnist"), "classifier")
    test = torch.from_numpy(load_dataset("mnist", "test").images)
    real, _ = classify(classifier, test)
    diffusion = load_generator("ddpm")
    print(f"\n{'sampler':<14}{'steps':>6}{'s/image':>10}{'FID':>8}{'recog.':>8}{'vs DDPM time':>14}")
    rows = []
    samplers = [("DDPM", 1000), ("DDIM", 50), ("DDIM", 20)]
    samplers += [("DDIM+ag", 50)] if guide is not None else []
    for name, steps in samplers:
        start = time.perf_counter()
        images = generate(
            diffusion,
            "ddpm",
            args.fid_n,
            seed=0,
            steps=None if name == "DDPM" else steps,
            sampler="ddpm" if name == "DDPM" else "ddim",
            guide=guide if name.endswith("+ag") else None,
        )
        seconds = time.perf_counter() - start
        feats, _ = classify(classifier, images)
        share = recognizable_share(classifier, feats)
        rows.append((name, steps, seconds / args.fid_n, frechet_distance(feats, real), share))
    for name, steps, per, fid, share in rows:
        print(f"{name:<14}{steps:>6}{per:>10.4f}{fid:>8.2f}{share:>8.1%}{per / rows[0][2]:>13.3f}x")

    data = load_dataset("mnist", "train")
    subset = ImageSet(
        "mnist", data.images[: 64 * args.train_batches], data.labels[: 64 * args.train_batches], data.classes
    )
    print(f"\n{'training':<12}{'images/s':>10}")
    import tempfile

    for kind in ("classifier", "ae", "vae", "gan", "ddpm"):
        with tempfile.TemporaryDirectory() as tmp:
            result = train_images(
                kind,
                subset,
                Path(tmp),
                ImageTrainConfig(epochs=1, batch_size=64, sample_every=0),
                progress=False,
            )
        print(f"{kind:<12}{result.images_per_second:>10.0f}")


def compare_quality(before: Path, n: int, dataset: str = "mnist") -> None:
    """Generator quality of the checkpoints in ``before`` and of the shipped ones, one judge for both."""
    from lmgen.models.images.evaluate import classify, describe
    from lmgen.models.images.sample import generate
    from lmgen.models.images.train import load_images_checkpoint
    from lmgen.stores.images import load_dataset, shipped_dir
    from lmgen.tools.images import load_guide

    judge, _ = load_images_checkpoint(shipped_dir(dataset), "classifier")
    real, _ = classify(judge, torch.from_numpy(load_dataset(dataset, "test").images))
    print(
        f"{dataset} generator quality, {n} samples each (DDIM 50 for ddpm, autoguided where the folder "
        "has a guide), judged by the shipped classifier"
    )
    print(f"{'model':<6}{'FID before':>12}{'after':>8}{'recog. before':>15}{'after':>8}{'classes':>9}")
    for kind in ("ae", "vae", "gan", "ddpm"):
        cells = []
        for folder in (before, shipped_dir(dataset)):
            model, _ = load_images_checkpoint(folder, kind)
            guide = load_guide(checkpoint=str(folder)) if kind == "ddpm" else None
            images = generate(model, kind, n, seed=0, steps=50 if kind == "ddpm" else None, guide=guide)
            cells.append(describe(judge, images, real, judge.cfg.num_classes))
        a, b = cells
        print(
            f"{kind:<6}{a['fid']:>12.1f}{b['fid']:>8.1f}{a['recognizable']:>15.1%}{b['recognizable']:>8.1%}"
            f"{a['classes_covered']:>5} → {b['classes_covered']}"
        )
    print()


if __name__ == "__main__":
    main()
