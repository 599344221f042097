"""Train several MNIST generators side by side on one GPU for a fixed wall-clock budget, judge
each as it goes, and keep the best checkpoint of each kind.

Made for a short GPU lease (the device tool lends a machine for minutes, with no package registry):
it needs only torch, numpy, safetensors and tqdm, imports lmgen straight from a checkout (no
install), and reads the MNIST CSV from a path. Each variant is its own process running
``train_images`` in chunks (``--resume`` between them); after each chunk the variant's EMA weights
draw ``--judge-n`` images, and the shipped MNIST classifier scores the share it recognizes (top
class probability ≥ 0.9) and the classes covered. The best chunk of each kind is copied to
``OUT/best/<kind>.{safetensors,json}``, with the judge's history in ``OUT/summary.json``.

The judge's seed here (7) is not the benchmark's (0): the figures reported for a shipped
checkpoint come from ``lmgen image eval`` / ``benchmarks/images.py`` on fresh samples.

    python3 scripts/device_images.py --data mnist_5k.csv.gz --out OUT --budget 330 \\
        --variant ddpm-c32:ddpm:init=models/images/checkpoints/mnist,batch=128,lr=2e-4 \\
        --variant gan-c128:gan:channels=128,augment=translation+cutout,ema_decay=0.999
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import time
from pathlib import Path
from typing import Any

from _device import ROOT, import_lmgen

MODEL_KEYS = {"channels", "blocks", "class_dropout", "ema_decay", "augment", "latent_dim", "loss", "schedule"}
TRAIN_KEYS = {"batch", "lr", "seed"}


def parse_variant(text: str) -> dict[str, Any]:
    """``name:kind:key=value,...``; ``+`` stands for ``,`` inside a value (augment=translation+cutout)."""
    name, kind, *rest = text.split(":", 2)
    spec: dict[str, Any] = {"name": name, "kind": kind, "model": {}, "train": {}, "init": None}
    for item in rest[0].split(",") if rest and rest[0] else []:
        key, value = item.split("=", 1)
        value = value.replace("+", ",")
        if key == "init":
            spec["init"] = value
        elif key in MODEL_KEYS:
            spec["model"][key] = value if key in ("augment", "loss", "schedule") else float(value)
            if key in ("channels", "blocks", "latent_dim"):
                spec["model"][key] = int(float(value))
        elif key in TRAIN_KEYS:
            spec["train"][key] = float(value) if key == "lr" else int(value)
        else:
            raise SystemExit(f"unknown setting {key!r} in --variant {text!r}")
    if kind not in ("ae", "vae", "gan", "ddpm"):
        raise SystemExit(f"--variant {text!r}: kind must be ae, vae, gan or ddpm")
    return spec


def judge(model: Any, kind: str, classifier: Any, real_feats: Any, n: int, device: str) -> dict[str, Any]:
    """The evaluation table's row (FID, recognizable share, classes covered …) for ``n`` samples."""
    import torch

    from lmgen.models.images.evaluate import describe
    from lmgen.models.images.sample import generate

    model.to(device).eval()
    with torch.no_grad():
        images = generate(model, kind, n, seed=7, steps=50 if kind == "ddpm" else None).cpu()
    model.to("cpu")
    row = describe(classifier, images, real_feats, classifier.cfg.num_classes)
    return {k: row[k] for k in ("recognizable", "classes_covered", "fid")}


def run_variant(spec: dict[str, Any], data_path: str, out: str, deadline: float, judge_n: int) -> None:
    import_lmgen()
    import torch

    from lmgen.models.images.data import load_mnist_csv
    from lmgen.models.images.evaluate import classify
    from lmgen.models.images.train import ImageTrainConfig, load_images_checkpoint, train_images

    torch.set_num_threads(2)
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("high")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train, test = load_mnist_csv(Path(data_path)).split(10)
    classifier, _ = load_images_checkpoint(ROOT / "models/images/checkpoints/mnist", "classifier")
    real_feats, _ = classify(classifier, torch.from_numpy(test.images))
    run = Path(out) / "runs" / spec["name"]
    kind = spec["kind"]
    log_path = Path(out) / f"{spec['name']}.log"
    history: list[dict[str, Any]] = []
    best = -1.0
    epochs, chunk_seconds = 0, 45.0
    per_epoch = None
    t_start = time.time()
    while True:
        left = deadline - time.time()
        if per_epoch is None:
            chunk = 2
        else:
            if left < per_epoch + 15:
                break
            chunk = max(1, int(min(chunk_seconds, left - 15) / per_epoch))
        cfg = ImageTrainConfig(
            epochs=epochs + chunk,
            batch_size=spec["train"].get("batch", 64),
            lr=spec["train"].get("lr"),
            seed=spec["train"].get("seed", 0),
            sample_every=0,
            device=device,
        )
        t0 = time.time()
        train_images(
            kind,
            train,
            run,
            cfg,
            model_cfg=dict(spec["model"]) if epochs == 0 else None,
            resume=epochs > 0,
            init=Path(ROOT / spec["init"]) if (spec["init"] and epochs == 0) else None,
            progress=False,
        )
        per_epoch = (time.time() - t0) / chunk
        epochs += chunk
        model, _ = load_images_checkpoint(run, kind)
        score = judge(model, kind, classifier, real_feats, judge_n, device)
        record = {
            "epoch": epochs,
            "seconds": round(time.time() - t_start, 1),
            **score,
            "seconds_per_epoch": round(per_epoch, 3),
        }
        history.append(record)
        with open(log_path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(spec["name"], json.dumps(record), flush=True)
        if score["recognizable"] > best:
            best = score["recognizable"]
            keep = Path(out) / "kept" / spec["name"]
            keep.mkdir(parents=True, exist_ok=True)
            for suffix in (".safetensors", ".json"):
                shutil.copy2(run / f"{kind}{suffix}", keep / f"{kind}{suffix}")
    summary = {"spec": spec, "history": history, "best_recognizable": best}
    (Path(out) / f"{spec['name']}.summary.json").write_text(json.dumps(summary, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="mnist_5k.csv.gz")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--budget", type=float, default=330.0, help="wall-clock seconds of training")
    parser.add_argument("--judge-n", type=int, default=1000)
    parser.add_argument("--variant", action="append", required=True, help="name:kind:key=value,...")
    args = parser.parse_args()
    specs = [parse_variant(v) for v in args.variant]
    args.out.mkdir(parents=True, exist_ok=True)
    import_lmgen()
    import torch

    hardware = {
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(hardware), flush=True)
    deadline = time.time() + args.budget
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=run_variant, args=(s, args.data, str(args.out), deadline, args.judge_n))
        for s in specs
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    results = []
    for s in specs:
        path = args.out / f"{s['name']}.summary.json"
        results.append(json.loads(path.read_text()) if path.is_file() else {"spec": s, "failed": True})
    best_dir = args.out / "best"
    best_dir.mkdir(exist_ok=True)
    chosen: dict[str, Any] = {}
    for r in results:
        if r.get("failed"):
            continue
        kind = r["spec"]["kind"]
        if kind not in chosen or r["best_recognizable"] > chosen[kind]["best_recognizable"]:
            chosen[kind] = r
    for kind, r in chosen.items():
        src = args.out / "kept" / r["spec"]["name"]
        for suffix in (".safetensors", ".json"):
            shutil.copy2(src / f"{kind}{suffix}", best_dir / f"{kind}{suffix}")
        print(f"best {kind}: {r['spec']['name']} at {r['best_recognizable']:.3f}", flush=True)
    summary = {
        "hardware": hardware,
        "budget_s": args.budget,
        "results": results,
        "chosen": {k: r["spec"]["name"] for k, r in chosen.items()},
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
