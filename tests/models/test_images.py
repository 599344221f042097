"""Image generators on tiny configs: shapes, losses, the diffusion maths, seeding, resume, metrics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lmgen.errors import InputError, ModelFileError
from lmgen.models.images.ae import AEConfig, AutoEncoder
from lmgen.models.images.data import ImageSet, load_folder, load_mnist_csv
from lmgen.models.images.diffusion import Diffusion, DiffusionConfig, make_betas
from lmgen.models.images.gan import GAN, GANConfig
from lmgen.models.images.metrics import coverage, frechet_distance, kl_from_uniform, laplacian_variance
from lmgen.models.images.sample import generate, interpolation_strip, noising_strip, reverse_trajectory
from lmgen.models.images.train import ImageTrainConfig, load_images_checkpoint, train_images
from lmgen.models.images.vae import VAE, VAEConfig


def tiny_data(n: int = 64) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, 28, 28, generator=g) * 2 - 1
    return ImageSet("tiny", images.numpy(), (np.arange(n) % 10).astype(np.int64), tuple(map(str, range(10))))


def test_autoencoders_shapes_and_losses() -> None:
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    ae = AutoEncoder(AEConfig(latent_dim=8, channels=8))
    assert ae.encode(x).shape == (4, 8) and ae(x).shape == x.shape
    assert set(ae.loss(x)) == {"loss", "recon"}
    vae = VAE(VAEConfig(latent_dim=8, channels=8, beta=4.0))
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (4, 8)
    parts = vae.loss(x)
    assert parts["kl"] >= 0
    assert parts["loss"].item() == pytest.approx((parts["recon"] + 4.0 * parts["kl"]).item(), rel=1e-5)
    # reparameterization: z = mu + sigma * eps, so gradients reach mu and logvar
    z = vae.reparameterize(mu, logvar)
    z.sum().backward()
    assert vae.encoder.fc.weight.grad is not None


@pytest.mark.parametrize(("loss", "blocks"), [("nsgan", 0), ("hinge", 0), ("nsgan", 2)])
def test_gan_losses(loss: str, blocks: int) -> None:
    gan = GAN(GANConfig(latent_dim=8, channels=8, loss=loss, blocks=blocks))
    fake = gan.generator(gan.noise(4))
    assert fake.shape == (4, 1, 28, 28) and fake.abs().max() <= 1
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    assert torch.isfinite(gan.d_loss(real, fake)) and torch.isfinite(gan.g_loss(fake))
    with pytest.raises(InputError):
        GANConfig(loss="wasserstein")
    with pytest.raises(InputError, match="blocks"):
        GANConfig(blocks=5)


def test_deeper_gan_adds_convolutions_in_both_networks() -> None:
    def convs(module: torch.nn.Module) -> int:
        return sum(isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d) for m in module.modules())

    shallow, deep = GAN(GANConfig(channels=8)), GAN(GANConfig(channels=8, blocks=2))
    assert convs(deep.generator) == convs(shallow.generator) + 4
    assert convs(deep.discriminator) == convs(shallow.discriminator) + 4
    fake = deep.generator(deep.noise(3))
    assert fake.shape == (3, 1, 28, 28) and deep.discriminator(fake).shape == (3,)


def test_diffaugment_shifts_and_cuts_every_image_d_sees() -> None:
    from lmgen.models.images.gan import cutout, translate

    x = torch.full((16, 1, 28, 28), -1.0)
    x[:, :, 10:18, 10:18] = 1.0  # an 8×8 stroke in the middle of a blank canvas
    moved = translate(x)
    assert moved.shape == x.shape and set(moved.unique().tolist()) == {-1.0, 1.0}
    assert (moved == 1).sum((1, 2, 3)).eq(64).all()  # whole-pixel shifts: nothing lost or smeared
    assert not torch.equal(moved, x) and ((moved - x).abs().sum((1, 2, 3)) > 0).float().mean() > 0.5
    cut = cutout(x)
    assert (cut == 0).sum((1, 2, 3)).eq(14 * 14).all()  # one 14×14 square per image
    gan = GAN(GANConfig(latent_dim=8, channels=8, augment="translation,cutout"))
    fake = gan.generator(gan.noise(4))
    loss = gan.g_loss(fake)
    loss.backward()  # differentiable: G still gets gradients through the augmentations
    assert gan.generator.fc[0].weight.grad is not None and torch.isfinite(loss)
    assert GANConfig().policies == [] and GANConfig(augment="cutout").policies == ["cutout"]
    with pytest.raises(InputError, match="unknown GAN augmentation"):
        GANConfig(augment="flip")


def test_schedules() -> None:
    for name in ("linear", "cosine"):
        betas = make_betas(name, 1000)
        assert betas.shape == (1000,) and (betas > 0).all() and (betas < 1).all()
        alpha_bar = torch.cumprod(1 - betas, 0)
        assert alpha_bar[-1] < 0.01, "x_T is (almost) pure noise"
    assert make_betas("linear", 1000)[0] == pytest.approx(1e-4) and make_betas("linear", 1000)[
        -1
    ] == pytest.approx(0.02)
    with pytest.raises(InputError):
        DiffusionConfig(schedule="quadratic")


def test_forward_noising_matches_the_closed_form() -> None:
    model = Diffusion(DiffusionConfig(timesteps=100, channels=8))
    x0 = torch.rand(1, 28, 28) * 2 - 1
    for t in (5, 50, 99):
        ab = model.schedule.alpha_bar[t]
        noise = torch.randn(4000, 1, 28, 28, generator=torch.Generator().manual_seed(t))
        xt = model.schedule.q_sample(x0.expand(4000, 1, 28, 28), torch.full((4000,), t), noise)
        assert torch.allclose(xt.mean(0), ab.sqrt() * x0, atol=0.06)
        assert xt.var(0).mean().item() == pytest.approx((1 - ab).item(), rel=0.05)


def test_ddim_with_eta_one_and_all_steps_is_ddpm() -> None:
    torch.manual_seed(0)
    model = Diffusion(DiffusionConfig(timesteps=20, channels=8)).eval()
    ddpm = model.ddpm_sample(3, generator=torch.Generator().manual_seed(5))
    ddim = model.ddim_sample(3, steps=20, eta=1.0, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(ddpm, ddim, atol=1e-4)
    # eta = 0 is deterministic given x_T; fewer steps is a different (shorter) path
    a = model.ddim_sample(2, steps=5, generator=torch.Generator().manual_seed(1))
    b = model.ddim_sample(2, steps=5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (2, 1, 28, 28)


def test_classifier_free_guidance_and_bad_sampling_arguments() -> None:
    model = Diffusion(DiffusionConfig(timesteps=10, channels=8)).eval()
    seven = generate(model, "ddpm", 2, seed=0, steps=5, label=7)
    free = generate(model, "ddpm", 2, seed=0, steps=5)
    assert seven.shape == free.shape and not torch.equal(seven, free)
    # without a class the default sampler is stochastic DDIM (η = 1): not the deterministic path
    plain = generate(model, "ddpm", 2, seed=0, steps=5, eta=0.0)
    assert torch.equal(plain, model.ddim_sample(2, steps=5, generator=torch.Generator().manual_seed(0)))
    assert not torch.equal(free, plain)
    assert torch.equal(free, generate(model, "ddpm", 2, seed=0, steps=5, eta=1.0))
    with pytest.raises(InputError):
        model.ddim_sample(1, steps=5, eta=-0.1)
    bad: tuple[dict[str, object], ...] = (
        {"steps": 0},
        {"steps": 11},
        {"label": 10},
        {"sampler": "euler"},
        {"eta": 1.5},
        {"sampler": "ddpm", "eta": 1.0},
    )
    for kwargs in bad:
        with pytest.raises(InputError):
            generate(model, "ddpm", 1, **kwargs)  # type: ignore[arg-type]
    for n in (0, 10_000):
        with pytest.raises(InputError):
            generate(model, "ddpm", n)
    with pytest.raises(InputError):
        generate(GAN(GANConfig(channels=8)), "gan", 2, steps=10)


def test_seeded_samples_repeat() -> None:
    for kind, model in (
        ("ae", AutoEncoder(AEConfig(channels=8))),
        ("vae", VAE(VAEConfig(channels=8))),
        ("gan", GAN(GANConfig(channels=8))),
        ("ddpm", Diffusion(DiffusionConfig(timesteps=10, channels=8))),
    ):
        model.eval()
        a = generate(model, kind, 3, seed=4, steps=3 if kind == "ddpm" else None)
        b = generate(model, kind, 3, seed=4, steps=3 if kind == "ddpm" else None)
        c = generate(model, kind, 3, seed=5, steps=3 if kind == "ddpm" else None)
        assert torch.equal(a, b) and not torch.equal(a, c), kind


def test_seeded_noise_is_drawn_on_the_cpu_and_moved() -> None:
    """A seeded generator lives on the CPU and CUDA refuses it, so seeded noise is the CPU's draw
    (the CUDA test below checks the move on a GPU machine)."""
    from lmgen.models.images.noise import gaussian

    same = gaussian((3, 4), torch.Generator().manual_seed(5), "cpu")
    assert torch.equal(same, torch.randn((3, 4), generator=torch.Generator().manual_seed(5)))
    assert gaussian((2,), None, "cpu", torch.float64).dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_seed_gives_the_same_samples_on_the_gpu() -> None:
    torch.manual_seed(0)
    for kind, model in (("gan", GAN(GANConfig())), ("ddpm", Diffusion(DiffusionConfig(timesteps=20)))):
        model.eval()
        on_cpu = generate(model, kind, 4, seed=3)
        on_gpu = generate(model.to("cuda"), kind, 4, seed=3).cpu()
        assert torch.allclose(on_cpu, on_gpu, atol=1e-3), kind


def test_strips() -> None:
    vae = VAE(VAEConfig(channels=8)).eval()
    a, b = torch.rand(2, 1, 28, 28) * 2 - 1
    strip = interpolation_strip(vae, "vae", a, b, points=7)
    assert strip.shape == (7, 1, 28, 28)
    model = Diffusion(DiffusionConfig(timesteps=50, channels=8)).eval()
    noising = noising_strip(model, a, points=6)
    assert noising.shape == (6, 1, 28, 28) and torch.allclose(
        noising[0], model.schedule.q_sample(a[None], torch.tensor([0]), noising[0:1] * 0)[0], atol=0.2
    )
    assert reverse_trajectory(model, steps=10, points=5).shape == (5, 1, 28, 28)


@pytest.mark.parametrize("kind", ["ae", "gan", "ddpm"])
def test_resume_continues_the_same_run(tmp_path: Path, kind: str) -> None:
    data = tiny_data()
    small = {"channels": 8} | ({"timesteps": 10} if kind == "ddpm" else {})
    cfg = ImageTrainConfig(epochs=2, batch_size=16, sample_every=100)
    straight = train_images(kind, data, tmp_path / "a", cfg, small, progress=False)
    train_images(kind, data, tmp_path / "b", cfg, small, progress=False, stop_after=1)
    resumed = train_images(kind, data, tmp_path / "b", cfg, resume=True, progress=False)
    assert resumed.history == straight.history
    _, meta = load_images_checkpoint(tmp_path / "b", kind)
    assert meta["epoch"] == 2 and (tmp_path / "b" / "samples").is_dir()
    assert not list((tmp_path / "b").glob("*.pt")), "no pickles"
    # a finished run: resuming with no more epochs changes nothing; more epochs extend it
    again = train_images(kind, data, tmp_path / "b", cfg, resume=True, progress=False)
    assert again.epochs == 2 and again.history == straight.history
    longer = replace(cfg, epochs=3)
    extended = train_images(kind, data, tmp_path / "b", longer, resume=True, progress=False)
    _, meta = load_images_checkpoint(tmp_path / "b", kind)
    assert extended.epochs == meta["epoch"] == meta["train_config"]["epochs"] == 3
    assert extended.history[:2] == straight.history and len(extended.history) == 3


def test_gan_samples_from_averaged_weights_with_their_own_batch_statistics(tmp_path: Path) -> None:
    data = tiny_data()
    cfg = ImageTrainConfig(epochs=2, batch_size=16, sample_every=100)
    train_images("gan", data, tmp_path, cfg, {"channels": 8, "ema_decay": 0.9}, progress=False)
    from safetensors.torch import load_file

    tensors = load_file(str(tmp_path / "gan.safetensors"))
    live, _ = load_images_checkpoint(tmp_path, "gan", use_ema=False)
    averaged, _ = load_images_checkpoint(tmp_path, "gan")
    assert any(k.startswith("ema.generator.") for k in tensors)
    assert not torch.equal(live.generator.fc[0].weight, averaged.generator.fc[0].weight)
    # the averaged G's batch norm holds statistics of its own activations, not the live G's
    norm = averaged.generator.net[0]
    assert not torch.equal(norm.running_mean, live.generator.net[0].running_mean)
    with torch.no_grad():
        h = averaged.generator.fc(averaged.noise(4096, torch.Generator().manual_seed(9)))
        h = h.unflatten(1, (-1, averaged.generator.side, averaged.generator.side))
    assert torch.allclose(norm.running_mean, h.mean((0, 2, 3)), atol=0.05)
    assert norm.momentum == 0.1


def test_init_starts_a_new_run_from_a_checkpoint(tmp_path: Path) -> None:
    data = tiny_data()
    cfg = ImageTrainConfig(epochs=1, batch_size=16, sample_every=100)
    small = {"channels": 8, "timesteps": 10, "class_dropout": 0.1}
    train_images("ddpm", data, tmp_path / "a", cfg, small, progress=False)
    # the source's own weights, to compare the fine-tuned run with
    start, _ = load_images_checkpoint(tmp_path / "a", "ddpm", use_ema=False)
    tuned = train_images(
        "ddpm", data, tmp_path / "b", cfg, {"class_dropout": 0.5}, init=tmp_path / "a", progress=False
    )
    model, meta = load_images_checkpoint(tmp_path / "b", "ddpm", use_ema=False)
    assert meta["init"] == str(tmp_path / "a") and tuned.epochs == 1
    assert meta["model_config"]["channels"] == 8 and meta["model_config"]["class_dropout"] == 0.5
    assert not torch.equal(model.net.inp.weight, start.net.inp.weight)  # it trained on from there
    assert (model.net.inp.weight - start.net.inp.weight).abs().max() < 0.05  # …not from scratch
    resumed = train_images("ddpm", data, tmp_path / "b", replace(cfg, epochs=2), resume=True, progress=False)
    _, meta = load_images_checkpoint(tmp_path / "b", "ddpm")
    assert resumed.epochs == 2 and meta["init"] == str(tmp_path / "a")
    with pytest.raises(InputError, match="use one of them"):
        train_images("ddpm", data, tmp_path / "b", cfg, init=tmp_path / "a", resume=True, progress=False)
    with pytest.raises(ModelFileError):
        train_images("gan", data, tmp_path / "c", cfg, init=tmp_path / "a", progress=False)


def test_outlier_exposure_pushes_no_class_images_to_uniform() -> None:
    from lmgen.models.images.classifier import Classifier, ClassifierConfig, outliers

    x, y = torch.rand(30, 1, 28, 28) * 2 - 1, torch.arange(30) % 10
    out = outliers(x, y)
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    plain = Classifier(ClassifierConfig()).loss(x, y)
    exposed = Classifier(ClassifierConfig(outlier_weight=0.5)).loss(x, y)
    assert "outlier_ce" not in plain and exposed["outlier_ce"] >= torch.log(torch.tensor(10.0)) - 1e-4
    assert exposed["loss"] > exposed["outlier_ce"] * 0.5


def test_corrupt_and_missing_checkpoints(tmp_path: Path) -> None:
    train_images(
        "ae",
        tiny_data(),
        tmp_path,
        ImageTrainConfig(epochs=1, batch_size=32),
        {"channels": 8},
        progress=False,
    )
    (tmp_path / "ae.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match="cannot load"):
        load_images_checkpoint(tmp_path, "ae")
    with pytest.raises(ModelFileError, match="not found"):
        load_images_checkpoint(tmp_path, "vae")


def test_metrics() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    b = rng.normal(size=(500, 8))
    shifted = b + 2.0
    assert frechet_distance(a, b) < 0.5 < frechet_distance(a, shifted)
    assert frechet_distance(a, shifted) == pytest.approx(32.0, rel=0.1)  # |Δμ|² = 8 · 2²
    uniform = np.full(10, 0.1)
    collapsed = np.eye(10)[3]
    assert kl_from_uniform(uniform) == pytest.approx(0.0) and kl_from_uniform(collapsed) == pytest.approx(
        np.log(10)
    )
    assert coverage(uniform) == 10 and coverage(collapsed) == 1
    sharp = np.where(rng.random((4, 1, 28, 28)) > 0.5, 1.0, -1.0)
    blurred = (sharp + np.roll(sharp, 1, -1) + np.roll(sharp, 1, -2) + np.roll(sharp, (1, 1), (-1, -2))) / 4
    assert laplacian_variance(blurred) < laplacian_variance(sharp)


def test_loaders(tmp_path: Path) -> None:
    from PIL import Image

    rows = np.concatenate([np.random.default_rng(0).integers(0, 256, (3, 784)), [[3], [1], [4]]], axis=1)
    np.savetxt(tmp_path / "m.csv", rows, fmt="%d", delimiter=",")
    data = load_mnist_csv(tmp_path / "m.csv")
    assert data.images.shape == (3, 1, 28, 28) and data.labels.tolist() == [3, 1, 4]
    assert data.images.min() >= -1 and data.images.max() <= 1
    (tmp_path / "bad.csv").write_text("1,2,3\n")
    with pytest.raises(InputError, match="785"):
        load_mnist_csv(tmp_path / "bad.csv")
    for cls in ("cats", "dogs"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "imgs" / cls / "a.png")
    (tmp_path / "imgs" / "cats" / "broken.png").write_bytes(b"not an image")
    folder = load_folder(tmp_path / "imgs")
    assert folder.images.shape == (2, 1, 28, 28) and folder.classes == ("cats", "dogs")
    with pytest.raises(InputError):
        load_folder(tmp_path / "nowhere")


def test_autoguidance_extrapolates_away_from_the_guide() -> None:
    """ε = ε_guide + w (ε_model − ε_guide) without a class (Karras et al., 2024); w = 1 is the model
    alone; with a class the guide is not used; a guide must share the noise schedule and image shape."""
    torch.manual_seed(0)
    model = Diffusion(DiffusionConfig(timesteps=10, channels=8)).eval()
    guide = Diffusion(DiffusionConfig(timesteps=10, channels=8, num_classes=10)).eval()
    x = torch.randn(3, 1, 28, 28)
    t = torch.full((3,), 4, dtype=torch.long)
    with torch.no_grad():
        strong, weak = model.net(x, t), guide.net(x, t)
        mixed = model.predict_noise(x, 4, None, 0.0, guide, 2.5)
        assert torch.allclose(mixed, weak + 2.5 * (strong - weak), atol=1e-6)
        assert torch.equal(model.predict_noise(x, 4, None, 0.0, guide, 1.0), strong)
    free = generate(model, "ddpm", 2, seed=0, steps=5)
    guided = generate(model, "ddpm", 2, seed=0, steps=5, guide=guide)
    assert not torch.equal(free, guided)
    assert torch.equal(guided, generate(model, "ddpm", 2, seed=0, steps=5, guide=guide, autoguidance=2.0))
    assert torch.equal(free, generate(model, "ddpm", 2, seed=0, steps=5, guide=guide, autoguidance=1.0))
    with_class = generate(model, "ddpm", 2, seed=0, steps=5, label=3)
    assert torch.equal(with_class, generate(model, "ddpm", 2, seed=0, steps=5, label=3, guide=guide))
    assert generate(model, "ddpm", 1, seed=0, sampler="ddpm", guide=guide).shape == (1, 1, 28, 28)
    other = Diffusion(DiffusionConfig(timesteps=20, channels=8)).eval()
    bad: tuple[dict[str, object], ...] = (
        {"autoguidance": 2.0},  # no guide to guide with
        {"guide": guide, "autoguidance": 0.5},
        {"guide": guide, "autoguidance": 2.0, "label": 3},
        {"guide": other},
    )
    for kwargs in bad:
        with pytest.raises(InputError):
            generate(model, "ddpm", 1, steps=5, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        generate(GAN(GANConfig(channels=8)), "gan", 2, autoguidance=2.0)
