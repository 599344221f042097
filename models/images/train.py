"""Training and checkpoints for the image models: one loop per family, one file layout for all.

A checkpoint is ``<kind>.safetensors`` (weights; the diffusion model's EMA weights under
``ema.*``), ``<kind>.json`` (kind, model config, training config, epoch, history, dataset,
seconds) and, for resuming, ``<kind>.state.safetensors`` (optimizer moments and RNG). Sample grids
land in ``samples/`` as training goes. Each epoch's shuffling is seeded by ``(seed, epoch)`` and
the RNG state is saved with the checkpoint, so a resumed run continues as if never stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmgen.errors import InputError, ModelFileError
from lmgen.models.images.ae import AEConfig, AutoEncoder
from lmgen.models.images.classifier import Classifier, ClassifierConfig
from lmgen.models.images.data import ImageSet
from lmgen.models.images.diffusion import EMA, Diffusion, DiffusionConfig
from lmgen.models.images.gan import GAN, GANConfig
from lmgen.models.images.vae import VAE, VAEConfig
from lmgen.models.train_state import (
    load_optimizer,
    optimizer_tensors,
    pick_device,
    restore_rng,
    rng_tensors,
)

KINDS = ("ae", "vae", "gan", "ddpm", "classifier")
CONFIGS: dict[str, type] = {
    "ae": AEConfig,
    "vae": VAEConfig,
    "gan": GANConfig,
    "ddpm": DiffusionConfig,
    "classifier": ClassifierConfig,
}
MODELS: dict[str, type[torch.nn.Module]] = {
    "ae": AutoEncoder,
    "vae": VAE,
    "gan": GAN,
    "ddpm": Diffusion,
    "classifier": Classifier,
}
DEFAULT_LR = {"ae": 2e-3, "vae": 2e-3, "gan": 2e-4, "ddpm": 1e-3, "classifier": 1e-3}


@dataclass
class ImageTrainConfig:
    epochs: int = 20
    batch_size: int = 64
    lr: float | None = None
    seed: int = 0
    sample_every: int = 5  # epochs between sample grids; 0: none
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("epochs and batch size must be at least 1")


@dataclass
class ImageTrainResult:
    out: Path
    kind: str
    epochs: int
    seconds: float
    images_per_second: float
    history: list[dict[str, float]] = field(default_factory=list)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InputError(f"unknown image model {kind!r}: choose one of {', '.join(KINDS)}")
    return kind


def build_model(kind: str, model_cfg: dict[str, Any] | None = None) -> torch.nn.Module:
    cfg = CONFIGS[check_kind(kind)](**(model_cfg or {}))
    return MODELS[kind](cfg)


def _optimizers(kind: str, model: torch.nn.Module, lr: float) -> dict[str, torch.optim.Optimizer]:
    if kind == "gan":
        gan: Any = model
        return {
            "g": torch.optim.Adam(gan.generator.parameters(), lr=lr, betas=(0.5, 0.999)),
            "d": torch.optim.Adam(gan.discriminator.parameters(), lr=lr, betas=(0.5, 0.999)),
        }
    return {"main": torch.optim.Adam(model.parameters(), lr=lr)}


def save_images_checkpoint(
    out: Path,
    kind: str,
    model: torch.nn.Module,
    meta: dict[str, Any],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    ema: EMA | None = None,
) -> Path:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if ema is not None:
        weights.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.model.state_dict().items()})
    tmp = out / f"{kind}.safetensors.tmp"
    save_file(weights, str(tmp))
    tmp.replace(out / f"{kind}.safetensors")
    if optimizers is not None:
        state = rng_tensors()
        groups = {}
        for name, opt in optimizers.items():
            tensors, groups[name] = optimizer_tensors(opt, prefix=f"optimizer_{name}")
            state.update(tensors)
        save_file(state, str(out / f"{kind}.state.safetensors.tmp"))
        (out / f"{kind}.state.safetensors.tmp").replace(out / f"{kind}.state.safetensors")
        meta = {**meta, "param_groups": groups}
    (out / f"{kind}.json.tmp").write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
    (out / f"{kind}.json.tmp").replace(out / f"{kind}.json")
    return out / f"{kind}.safetensors"


def load_images_checkpoint(
    path: Path, kind: str | None = None, use_ema: bool = True
) -> tuple[Any, dict[str, Any]]:
    """``(model, meta)`` from ``<dir>/<kind>.safetensors`` (or the file itself), on CPU, in eval mode.

    Raises:
        ModelFileError: missing, truncated or mismatched files.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        if kind is None:
            raise InputError("give the model kind when loading from a folder")
        path = path / f"{kind}.safetensors"
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise ModelFileError(f"image checkpoint not found: {path}", path=str(path))
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
        tensors = load_file(str(path))
        model = build_model(meta["kind"], meta["model_config"])
        ema_keys = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
        plain = {k: v for k, v in tensors.items() if not k.startswith("ema.")}
        model.load_state_dict(ema_keys if (use_ema and ema_keys) else plain)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"cannot load the image checkpoint {path}: {str(exc).splitlines()[0][:160]}",
            path=str(path),
            hint="re-train it with `lmgen image train`, or reinstall lmgen for the shipped ones",
        ) from exc
    model.eval()
    return model, meta


def _step(
    kind: str, model: Any, optimizers: dict[str, torch.optim.Optimizer], x: torch.Tensor, y: torch.Tensor
) -> dict[str, float]:
    if kind == "gan":
        z = model.noise(len(x))
        fake = model.generator(z)
        d_loss = model.d_loss(x, fake)
        optimizers["d"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["d"].step()
        g_loss = model.g_loss(fake)
        optimizers["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["g"].step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}
    losses = model.loss(x, y) if kind in ("ddpm", "classifier") else model.loss(x)
    optimizers["main"].zero_grad(set_to_none=True)
    losses["loss"].backward()
    if kind == "ddpm":
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizers["main"].step()
    return {k: float(v.item()) for k, v in losses.items()}


def train_images(
    kind: str,
    data: ImageSet,
    out: Path,
    cfg: ImageTrainConfig | None = None,
    model_cfg: dict[str, Any] | None = None,
    resume: bool = False,
    init: Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    on_sample: Callable[[int, torch.Tensor], None] | None = None,
) -> ImageTrainResult:
    """Train one model family on ``data``; checkpoint after every epoch into ``out``.

    ``init`` starts a new run from another checkpoint's weights (and its EMA weights), with fresh
    optimizers: its model configuration is kept, ``model_cfg`` overrides parts of it (e.g. the
    diffusion model's ``class_dropout``). ``stop_after`` ends after that many epochs as if
    interrupted (the resume test uses it).

    Raises:
        InputError: bad settings, or ``init`` together with ``resume``.
        ModelFileError: no run to resume, or an unreadable ``init`` checkpoint.
    """
    from safetensors.torch import load_file
    from tqdm import tqdm

    check_kind(kind)
    cfg = cfg or ImageTrainConfig()
    out = Path(out)
    history: list[dict[str, float]] = []
    start_epoch = 0
    seconds_before = 0.0
    c, h, w = data.shape
    model_cfg = {**(model_cfg or {}), "image_channels": c, "image_size": h}
    if kind in ("ddpm", "classifier"):
        model_cfg["num_classes"] = max(int(data.labels.max()) + 1, len(data.classes) or 1)
    if h != w or h % 4:
        raise InputError(f"images must be square with a side divisible by 4, not {h}×{w}")
    init_from = str(init) if init is not None else None
    if init is not None:
        if resume:
            raise InputError("--init starts a new run; --resume continues one: use one of them")
        start_weights, init_meta = load_images_checkpoint(Path(init), kind, use_ema=False)
        if init_meta["kind"] != kind:
            raise InputError(f"{init} holds a {init_meta['kind']} model, not {kind}")
        model_cfg = {**init_meta["model_config"], **model_cfg}
    if resume:
        meta_path = out / f"{kind}.json"
        state_path = out / f"{kind}.state.safetensors"
        if not meta_path.is_file() or not state_path.is_file():
            raise ModelFileError(f"{out} holds no {kind} training state to resume from", path=str(out))
        meta = json.loads(meta_path.read_text("utf-8"))
        # the saved run's settings; a larger ``epochs`` than it had extends a finished run
        saved = meta["train_config"]
        epochs = max(cfg.epochs, int(saved["epochs"]))
        cfg = ImageTrainConfig(**{**saved, "device": cfg.device, "epochs": epochs})
        model_cfg = meta["model_config"]
        start_epoch = int(meta["epoch"])
        history = list(meta["history"])
        seconds_before = float(meta.get("seconds", 0.0))
        init_from = meta.get("init")
    torch.manual_seed(cfg.seed)
    model: Any = build_model(kind, model_cfg)
    device = pick_device(cfg.device)
    lr = cfg.lr or DEFAULT_LR[kind]
    ema = EMA(model, model.cfg.ema_decay) if kind in ("ddpm", "gan") else None
    optimizers = _optimizers(kind, model, lr)
    if init is not None:
        model.load_state_dict(start_weights.state_dict())
        if ema is not None:  # its averaged weights where it has them, else the same weights
            ema.model.load_state_dict(load_images_checkpoint(Path(init), kind)[0].state_dict())
    if resume:
        tensors = load_file(str(out / f"{kind}.safetensors"))
        model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("ema.")})
        if ema is not None:
            ema.model.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        state = load_file(str(out / f"{kind}.state.safetensors"))
        for name, opt in optimizers.items():
            load_optimizer(opt, state, meta["param_groups"][name], prefix=f"optimizer_{name}")
        restore_rng(state)
    model.to(device)
    if ema is not None:
        ema.model.to(device)
    for opt in optimizers.values():  # moments follow the parameters' device
        for moments in opt.state.values():
            for key, value in moments.items():
                if torch.is_tensor(value) and key != "step":
                    moments[key] = value.to(device)
    images = torch.from_numpy(data.images)
    labels = torch.from_numpy(data.labels)
    n = len(images)
    steps_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
    last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    fixed = torch.Generator().manual_seed(cfg.seed + 1)
    sample_dir = out / "samples"
    t0 = time.perf_counter()
    seen = 0
    bar = tqdm(
        total=(last - start_epoch) * steps_per_epoch,
        desc=f"train {kind}",
        unit=" batch",
        disable=not progress,
    )
    done = start_epoch
    for epoch in range(start_epoch, last):
        model.train()
        order = torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(n))
        sums: dict[str, float] = {}
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            x, y = images[idx].to(device), labels[idx].to(device)
            losses = _step(kind, model, optimizers, x, y)
            if ema is not None:
                ema.update(model)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
            seen += len(idx)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()}, refresh=False)
        done = epoch + 1
        record = {"epoch": epoch + 1, **{k: round(v / steps_per_epoch, 6) for k, v in sums.items()}}
        history.append(record)
        if kind == "ae":
            model.eval()
            with torch.no_grad():
                model.fit_code_distribution(images[: min(n, 4096)].to(device))
        if kind == "gan" and ema is not None:
            averaged: Any = ema.model
            averaged.refresh_batchnorm()  # averaged weights need their own batch statistics
        if (
            kind != "classifier"
            and cfg.sample_every
            and ((epoch + 1) % cfg.sample_every == 0 or epoch + 1 == last)
        ):
            sampler: Any = ema.model if ema is not None else model
            sampler.eval()
            with torch.no_grad():
                grid_images = sampler.sample(64, generator=fixed.manual_seed(cfg.seed + 1)).cpu()
            from lmgen.models.images.render import save_grid

            save_grid(grid_images, sample_dir / f"{kind}-epoch{epoch + 1:03d}.png", nrow=8)
            if on_sample is not None:
                on_sample(epoch + 1, grid_images)
        meta = {
            "kind": kind,
            "model_config": asdict(model.cfg),
            "train_config": asdict(cfg),
            "epoch": epoch + 1,
            "history": history,
            "dataset": data.name,
            "classes": list(data.classes),
            "device": device,
            "seconds": round(seconds_before + time.perf_counter() - t0, 1),
            **({"init": init_from} if init_from else {}),
        }
        model.to("cpu")
        if ema is not None:
            ema.model.to("cpu")
        save_images_checkpoint(out, kind, model, meta, optimizers, ema)
        model.to(device)
        if ema is not None:
            ema.model.to(device)
    bar.close()
    elapsed = time.perf_counter() - t0
    return ImageTrainResult(
        out,
        kind,
        done,
        seconds_before + elapsed,
        seen / elapsed if elapsed else 0.0,
        history,
    )
