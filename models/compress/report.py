"""One table for every compressed model: what each technique costs and what it saves.

Each row is one variant of one model, measured the same way as that model's original:

* ``bert``: held-out MLM top-1/top-5 and NSP accuracy on 2,000 fixed held-out pairs (``quick``:
  400). Also the top-1 agreement with the float model at the same masked positions. Latency is
  one forward pass over a fixed batch of 32 held-out pairs with the MLM head on every position;
  throughput is sequences/s. A single fill-mask call (batch 1, head on the mask only) is timed too.
* ``gan``: FID in lmgen's classifier's feature space against the held-out images. Also the share
  of samples the classifier calls a digit with ≥ 0.9 confidence, and how many classes are covered.
  Latency is one batch of 256 images; throughput is images/s.
* ``gguf``: size, prompt and generation tokens/s and perplexity of the English and Korean
  passages (:mod:`lmgen.models.compress.gguf`).

Every timing is the median of several runs, interleaved with the original's, so a noisy machine
slows both alike. ``relative`` divides each figure by the original's: params and bytes (< 1
saves), speed-up (> 1 is faster), quality (the metric's ratio; for FID and perplexity lower is
better).
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lmgen.errors import InputError

SPARSITIES = (0.3, 0.5, 0.7, 0.9)
QUICK_SPARSITIES = (0.5, 0.9)
GGUF_TYPES = ("Q8_0", "Q5_0", "Q4_0", "Q3_K_M", "Q2_K")
QUICK_GGUF_TYPES = ("Q8_0", "Q4_0", "Q2_K")
SECTIONS = ("bert", "gan", "gguf")
# the report measured when the shipped checkpoints were made (`lmgen compress report --out` this folder)
SHIPPED_REPORT = Path(__file__).resolve().parent / "data"


def _timed_pair(original: Callable[[], Any], variant: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median ms of the original and the variant, run alternately (noise hits both)."""
    original()
    variant()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        for fn, acc in ((original, a), (variant, b)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return statistics.median(a) * 1000, statistics.median(b) * 1000


def _params(model: Any) -> int:
    """Parameters a variant really stores: float ones, plus the packed weights of quantized layers
    (which ``parameters()`` does not list). Pruned-away zeros still count; see ``nonzero_params``."""
    total = sum(p.numel() for p in model.parameters())
    for module in model.modules():
        if list(module.parameters(recurse=False)) or not callable(getattr(module, "weight", None)):
            continue
        total += module.weight().numel()
        bias = module.bias() if callable(getattr(module, "bias", None)) else None
        total += bias.numel() if bias is not None else 0
    return total


def _nonzero_params(model: Any) -> int:
    total = sum(int((p != 0).sum()) for p in model.parameters())
    for module in model.modules():
        if list(module.parameters(recurse=False)) or not callable(getattr(module, "weight", None)):
            continue
        total += int((module.weight().dequantize() != 0).sum())
        bias = module.bias() if callable(getattr(module, "bias", None)) else None
        total += int((bias != 0).sum()) if bias is not None else 0
    return total


# --------------------------------------------------------------------------- BERT
class BertBench:
    """Fixed held-out batches, scored once for the float model and then for each variant."""

    def __init__(self, loaded: Any, docs: list[list[str]], pairs: int, seed: int = 1234) -> None:
        import torch

        from lmgen.models.mlm.pretrain import PairSampler, make_batch, replacement_ids, tokenize_documents

        self.loaded = loaded
        tok = loaded.tokenizer
        ids, words = tokenize_documents(tok, docs)
        sampler = PairSampler(ids, words, loaded.max_length, "nsp", short_seq_prob=0.0)
        pool = replacement_ids(tok)
        self.batches = []
        for start in range(0, pairs, 50):
            n = min(50, pairs - start)
            batch = make_batch(
                sampler, tok, np.random.default_rng([seed, start]), n, loaded.max_length, 0.15, False, pool
            )
            width = int(batch["attention_mask"].sum(axis=1).max())
            self.batches.append(
                {
                    k: torch.from_numpy(np.ascontiguousarray(v[:, :width]) if v.ndim == 2 else v)
                    for k, v in batch.items()
                }
            )
        timing = make_batch(
            sampler, tok, np.random.default_rng([seed, 10**6]), 32, loaded.max_length, 0.15, False, pool
        )
        self.timing = {
            k: torch.from_numpy(v)
            for k, v in timing.items()
            if k in ("input_ids", "attention_mask", "token_type_ids")
        }
        enc = tok(f"The capital of France is {tok.mask_token}.", return_tensors="pt")
        self.single = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        self.single_pos = self.single["input_ids"][0].tolist().index(tok.mask_token_id)
        self.reference: list[Any] | None = None

    def predictions(self, model: Any) -> tuple[list[Any], list[Any]]:
        import torch

        tops, nsps = [], []
        with torch.inference_mode():
            for b in self.batches:
                target = b["labels"] != -100
                out = model.bert(
                    input_ids=b["input_ids"],
                    token_type_ids=b["token_type_ids"],
                    attention_mask=b["attention_mask"],
                )
                logits = model.cls.predictions(out.last_hidden_state[target])
                tops.append(logits.topk(5, dim=-1).indices)
                nsps.append(model.cls.seq_relationship(out.pooler_output).argmax(-1))
        return tops, nsps

    def quality(self, model: Any) -> dict[str, float]:
        import torch

        tops, nsps = self.predictions(model)
        gold = torch.cat([b["labels"][b["labels"] != -100] for b in self.batches])
        nsp_gold = torch.cat([b["next_sentence_label"] for b in self.batches])
        top = torch.cat(tops)
        nsp = torch.cat(nsps)
        out = {
            "mlm_top1": round(float((top[:, 0] == gold).float().mean()), 4),
            "mlm_top5": round(float((top == gold[:, None]).any(1).float().mean()), 4),
            "nsp_accuracy": round(float((nsp == nsp_gold).float().mean()), 4),
        }
        if self.reference is None:
            self.reference = [top[:, 0]]
        out["top1_agreement"] = round(float((top[:, 0] == self.reference[0]).float().mean()), 4)
        return out

    def forward_batch(self, model: Any) -> Callable[[], Any]:
        import torch

        def run() -> Any:
            with torch.inference_mode():
                return model(**self.timing)

        return run

    def fill_one(self, model: Any) -> Callable[[], Any]:
        import torch

        def run() -> Any:
            with torch.inference_mode():
                out = model.bert(**self.single)
                return model.cls.predictions(
                    out.last_hidden_state[0, self.single_pos : self.single_pos + 1]
                ).topk(5)

        return run


def _bert_row(
    bench: BertBench,
    name: str,
    technique: str,
    model: Any,
    original: Any,
    repeats: int,
    engine_name: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    from contextlib import nullcontext

    from lmgen.models.compress.quantize import engine, serialized_bytes

    ctx = engine(engine_name) if engine_name else nullcontext()
    with ctx:
        quality = bench.quality(model)
        orig_ms, ms = _timed_pair(bench.forward_batch(original), bench.forward_batch(model), repeats)
        orig_one, one = _timed_pair(bench.fill_one(original), bench.fill_one(model), repeats * 3)
    row = {
        "model": "bert",
        "technique": technique,
        "variant": name,
        "params": _params(model),
        "nonzero_params": _nonzero_params(model),
        "bytes": serialized_bytes(model),
        "latency_ms": round(ms, 2),
        "original_latency_ms": round(orig_ms, 2),
        "throughput": round(32 / (ms / 1000), 1),
        "throughput_unit": "sequences/s (batch 32 × 128 tokens)",
        "fill_mask_ms": round(one, 2),
        "original_fill_mask_ms": round(orig_one, 2),
        "quality": quality,
        "quality_metric": "mlm_top5",
    }
    row.update(extra)
    return row


def bert_section(
    quick: bool, distill_dir: Path | None, progress: bool = True, recover_steps: int | None = None
) -> list[dict[str, Any]]:
    import torch

    from lmgen.models.compress import prune, quantize
    from lmgen.models.compress.distill import TrainConfig, train_mlm
    from lmgen.models.mlm.bert import COMPRESSED_BERT, load_bert
    from lmgen.stores.mlm import mlm_corpus, read_documents

    loaded = load_bert(COMPRESSED_BERT)
    original = loaded.model.cpu().eval()
    corpus = mlm_corpus()
    bench = BertBench(loaded, read_documents(corpus.test), 400 if quick else 2000)
    repeats = 3 if quick else 7
    rows = [_bert_row(bench, "float32 (shipped, stored as float16)", "original", original, original, repeats)]
    q = quantize.quantize_bert(original)
    rows.append(
        _bert_row(
            bench,
            f"int8 dynamic ({quantize.BERT_ENGINE})",
            "quantize",
            q,
            original,
            repeats,
            engine_name=quantize.BERT_ENGINE,
        )
    )
    del q
    for s in QUICK_SPARSITIES if quick else SPARSITIES:
        pruned = prune.prune_unstructured(original, s)
        achieved = prune.sparsity_of(prune.bert_prunable(pruned))["sparsity"]
        rows.append(
            _bert_row(
                bench,
                f"unstructured {s:.0%}",
                "prune",
                pruned,
                original,
                repeats,
                sparsity=round(achieved, 4),
                structure="unstructured",
            )
        )
    steps = recover_steps if recover_steps is not None else (0 if quick else 300)
    if steps:
        train_docs = read_documents(corpus.train)
        for s in (0.5, 0.7):
            masked = prune.prune_unstructured(original, s, keep_masks=True)
            train_mlm(
                masked,
                loaded.tokenizer,
                train_docs,
                TrainConfig(steps=steps, learning_rate=2e-4, seed=1),
                progress=progress,
                desc=f"recover {s:.0%}",
            )
            prune.finalize(masked)
            achieved = prune.sparsity_of(prune.bert_prunable(masked))["sparsity"]
            rows.append(
                _bert_row(
                    bench,
                    f"unstructured {s:.0%} + {steps}-step fine-tune",
                    "prune",
                    masked,
                    original,
                    repeats,
                    sparsity=round(achieved, 4),
                    structure="unstructured",
                    fine_tune_steps=steps,
                )
            )
    for share in (0.25, 0.5):
        heads = prune.prune_heads(original, share)
        rows.append(
            _bert_row(
                bench,
                f"heads −{share:.0%}",
                "prune",
                heads,
                original,
                repeats,
                sparsity=share,
                structure="heads",
                removed=heads.lmgen_heads_removed,
            )
        )
        ffn = prune.prune_ffn(original, share)
        rows.append(
            _bert_row(
                bench,
                f"feed-forward −{share:.0%}",
                "prune",
                ffn,
                original,
                repeats,
                sparsity=share,
                structure="ffn",
            )
        )
    if distill_dir is not None:
        from transformers import BertForPreTraining

        for run in ("student", "scratch"):
            folder = distill_dir / run
            if not (folder / "model.safetensors").is_file():
                continue
            meta = json.loads((folder / "distill.json").read_text("utf-8"))
            model = BertForPreTraining.from_pretrained(str(folder), dtype=torch.float32).eval()
            label = (
                f"student {meta['student']['num_layers']}×{meta['student']['hidden_size']}, "
                + ("distilled" if run == "student" else "same size from scratch")
                + f", {meta['train']['steps']} steps"
            )
            rows.append(
                _bert_row(
                    bench,
                    label,
                    "distill" if run == "student" else "baseline",
                    model,
                    original,
                    repeats,
                    trained_seconds=meta["seconds"],
                    trained_on=meta.get("hardware"),
                )
            )
    return _relative(rows, lower_is_better=False)


# --------------------------------------------------------------------------- GAN
def gan_section(
    quick: bool,
    only: tuple[str, float] | None = None,
    recover_steps: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """GAN rows; ``only`` = (structure, share) measures one pruned variant; ``recover_steps`` is the
    adversarial fine-tune after pruning (default 300 in a full run, none in a quick one)."""
    import torch

    from lmgen.models.compress import prune, quantize
    from lmgen.models.images.evaluate import classify, recognizable_share
    from lmgen.models.images.metrics import class_histogram, coverage, frechet_distance
    from lmgen.models.images.train import load_images_checkpoint
    from lmgen.stores.images import load_dataset, shipped_dir
    from lmgen.tools.images import load_generator

    gan = load_generator("gan")
    original = gan.generator.eval()
    latent = gan.cfg.latent_dim
    classifier, _ = load_images_checkpoint(shipped_dir("mnist"), "classifier")
    classifier.eval()
    heldout = torch.from_numpy(load_dataset("mnist", "test").images)
    real_feats, _ = classify(classifier, heldout)
    n = 500 if quick else 1000
    z = torch.randn(n, latent, generator=torch.Generator().manual_seed(0))
    timing_z = z[:256]
    repeats = 3 if quick else 7

    def quality(gen: Any) -> dict[str, Any]:
        with torch.inference_mode():
            images = torch.cat([gen(part) for part in z.split(250)]).clamp(-1, 1)
            feats = classifier.features(images)
            pred = classifier.head(feats).argmax(-1)
        hist = class_histogram(pred.numpy(), classifier.cfg.num_classes)
        return {
            "fid": round(frechet_distance(feats.numpy(), real_feats), 2),
            "recognizable": recognizable_share(classifier, feats.numpy()),
            "classes_covered": coverage(hist),
        }

    def run_of(gen: Any) -> Callable[[], Any]:
        def run() -> Any:
            with torch.inference_mode():
                return gen(timing_z)

        return run

    def row(
        name: str, technique: str, gen: Any, engine_name: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        from contextlib import nullcontext

        ctx = quantize.engine(engine_name) if engine_name else nullcontext()
        with ctx:
            q = quality(gen)
            orig_ms, ms = _timed_pair(run_of(original), run_of(gen), repeats)
        out = {
            "model": "gan",
            "technique": technique,
            "variant": name,
            "params": _params(gen),
            "nonzero_params": _nonzero_params(gen),
            "bytes": quantize.serialized_bytes(gen),
            "latency_ms": round(ms, 2),
            "original_latency_ms": round(orig_ms, 2),
            "throughput": round(256 / (ms / 1000), 1),
            "throughput_unit": "images/s (batch 256)",
            "quality": q,
            "quality_metric": "fid",
        }
        out.update(extra)
        return out

    rows = [row("float32 generator (shipped)", "original", original)]
    steps = recover_steps if recover_steps is not None else (0 if quick or only else 300)

    def pruned(structure: str, share: float, tune: int) -> dict[str, Any]:
        if structure == "channels":
            variant = prune.prune_gan_channels(original, share)
        else:
            variant = prune.prune_unstructured(
                original, share, params_of=prune.generator_prunable, keep_masks=tune > 0
            )
        if tune:
            variant = prune.recover_gan(gan, variant, steps=tune, progress=progress)
        achieved = (
            share
            if structure == "channels"
            else prune.sparsity_of(prune.generator_prunable(variant))["sparsity"]
        )
        name = ("channels −" if structure == "channels" else "unstructured ") + f"{share:.0%}"
        extra: dict[str, Any] = {"sparsity": round(achieved, 6), "structure": structure}
        if tune:
            name += f" + {tune}-step fine-tune"
            extra["fine_tune_steps"] = tune
        return row(name, "prune", variant, **extra)

    if only is not None:  # one pruned variant (``lmgen compress prune gan``)
        rows.append(pruned(*only, steps))
        return _relative(rows, lower_is_better=True)
    for eng in (quantize.GENERATOR_ENGINE, "x86"):
        try:
            qgen = quantize.quantize_generator(original, latent, engine_name=eng)
        except InputError:
            continue
        rows.append(row(f"int8 static PTQ ({eng})", "quantize", qgen, engine_name=eng))
    for share in (0.5, 0.8) if quick else (0.3, 0.5, 0.7, 0.9):
        rows.append(pruned("unstructured", share, 0))
    for share in (0.25, 0.5):
        rows.append(pruned("channels", share, 0))
    if steps:
        for structure, share in (
            ("unstructured", 0.5),
            ("unstructured", 0.7),
            ("channels", 0.25),
            ("channels", 0.5),
        ):
            rows.append(pruned(structure, share, steps))
    return _relative(rows, lower_is_better=True)


# --------------------------------------------------------------------------- GGUF
def gguf_section(quick: bool, role: str, out_dir: Path, progress: bool = True) -> list[dict[str, Any]]:
    from lmgen.models.compress.gguf import compare_types
    from lmgen.stores.models import ModelStore

    source = ModelStore().resolve(role)
    types = list(QUICK_GGUF_TYPES if quick else GGUF_TYPES)
    raw = compare_types(source, types, out_dir, repeats=2 if quick else 3, progress=progress)
    rows = []
    for r in raw:
        rows.append(
            {
                "model": f"gguf:{role}",
                "technique": "original" if r["original"] else "quantize",
                "variant": r["type"]
                + (" (packaged)" if r["original"] else " (re-quantized from the packaged file)"),
                "params": None,
                "bytes": r["bytes"],
                "latency_ms": round(1000 * r["prompt_tokens"] / r["prompt_tokens_per_s"], 1),
                "throughput": r["gen_tokens_per_s"],
                "throughput_unit": "generated tokens/s",
                "prompt_tokens_per_s": r["prompt_tokens_per_s"],
                "gen_tokens_per_s": r["gen_tokens_per_s"],
                "nominal_bits": r["nominal_bits"],
                "file": r["file"],
                "quality": {"ppl_en": r["ppl_en"], "ppl_ko": r["ppl_ko"]},
                "quality_metric": "ppl_en",
            }
        )
    return _relative(rows, lower_is_better=True)


def _relative(rows: list[dict[str, Any]], lower_is_better: bool) -> list[dict[str, Any]]:
    base = rows[0]
    metric = base["quality_metric"]
    for r in rows:
        rel: dict[str, Any] = {}
        if r.get("params") and base.get("params"):
            rel["params"] = round(r["params"] / base["params"], 4)
        rel["bytes"] = round(r["bytes"] / base["bytes"], 4)
        ref_ms = r.get("original_latency_ms") or base["latency_ms"]
        rel["speedup"] = round(ref_ms / r["latency_ms"], 3) if r["latency_ms"] else None
        if r.get("fill_mask_ms"):
            rel["fill_mask_speedup"] = round(r["original_fill_mask_ms"] / r["fill_mask_ms"], 3)
        if base["model"].startswith("gguf"):
            rel["gen_speed"] = round(r["gen_tokens_per_s"] / base["gen_tokens_per_s"], 3)
            rel["prompt_speed"] = round(r["prompt_tokens_per_s"] / base["prompt_tokens_per_s"], 3)
            rel["ppl_ko"] = round(r["quality"]["ppl_ko"] / base["quality"]["ppl_ko"], 4)
        rel["quality"] = (
            round(r["quality"][metric] / base["quality"][metric], 4) if base["quality"][metric] else None
        )
        r["relative"] = rel
        r["quality_better"] = "lower" if lower_is_better else "higher"
    return rows


# --------------------------------------------------------------------------- the report
def build_report(
    out: str | Path,
    quick: bool = False,
    sections: tuple[str, ...] = SECTIONS,
    gguf_role: str = "expert",
    distill_dir: str | Path | None = None,
    progress: bool = True,
    recover_steps: int | None = None,
    merge: bool = False,
) -> dict[str, Any]:
    """Measure every section, write ``report.json``, ``report.md`` and plots to ``out``, return the report.

    With ``merge``, the rows of sections not measured now are kept from ``out/report.json`` (say,
    after re-training one model, re-measure its section alone).

    Raises:
        InputError: an unknown section, or ``merge`` with no readable report in ``out``.
    """
    import platform

    from lmgen.stores.models import lmgen_home

    bad = [s for s in sections if s not in SECTIONS]
    if bad or not sections:
        raise InputError(f"unknown report section(s): {', '.join(bad) or 'none'}", hint="bert, gan, gguf")
    out = Path(out)
    kept: list[dict[str, Any]] = []
    earlier: dict[str, Any] = {}
    if merge:
        try:
            earlier = json.loads((out / "report.json").read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"nothing to merge into: {out / 'report.json'} ({exc})") from exc
        kept = [r for r in earlier.get("rows", []) if r["model"].split(":")[0] not in sections]
    out.mkdir(parents=True, exist_ok=True)
    home = lmgen_home() / "compress"
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    ddir = Path(distill_dir) if distill_dir else home / "distill"
    with _one_at_a_time:
        if "bert" in sections:
            rows += bert_section(quick, ddir, progress=progress, recover_steps=recover_steps)
        if "gan" in sections:
            rows += gan_section(quick, progress=progress)
        if "gguf" in sections:
            rows += gguf_section(quick, gguf_role, home / "gguf", progress=progress)
    import torch

    if merge:  # in the order the sections are always measured in
        rows = sorted(kept + rows, key=lambda r: SECTIONS.index(r["model"].split(":")[0]))
        sections = tuple(s for s in SECTIONS if s in sections or s in earlier.get("sections", []))
    report = {
        "quick": quick,
        "sections": list(sections),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU threads, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads",
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", "utf-8")
    (out / "report.md").write_text(markdown_table(report) + "\n", "utf-8")
    report["plots"] = [p.name for p in write_plots(report, out)]  # relative to the report's folder
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return report


_one_at_a_time = threading.Lock()


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def markdown_table(report: dict[str, Any]) -> str:
    """The report as Markdown: one table, a row per variant, each figure with its ratio to the original."""
    lines = [
        "| model | technique | variant | params | size | latency | throughput | quality | vs original "
        "(size · speed · quality) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        q = r["quality"]
        metric = r["quality_metric"]
        qtext = ", ".join(f"{k} {v}" for k, v in q.items())
        rel = r["relative"]
        params = f"{r['params'] / 1e6:.2f} M" if r.get("params") else "—"
        if (
            r.get("nonzero_params") is not None
            and r.get("params")
            and r["nonzero_params"] < r["params"] * 0.99
        ):
            params += f" ({r['nonzero_params'] / 1e6:.2f} M ≠ 0)"
        lines.append(
            f"| {r['model']} | {r['technique']} | {r['variant']} | {params} | {_fmt_bytes(r['bytes'])} | "
            f"{r['latency_ms']:.1f} ms | {r['throughput']} {r['throughput_unit'].split(' (')[0]} | {qtext} | "
            f"{rel['bytes']:.2f}× · {rel['speedup']:.2f}× · {metric} {rel['quality']:.3f}× |"
        )
    lines.append("")
    lines.append(
        f"Measured on {report['machine']} in {report['seconds']:.0f} s"
        + (" (quick run: fewer samples and variants)." if report["quick"] else ".")
        + " Speed-ups are against the original timed alternately with each variant."
    )
    return "\n".join(lines)


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    """quality-vs-sparsity (BERT, GAN) and size-vs-perplexity (GGUF) as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    rows = report["rows"]
    for model, metric, label in (
        ("bert", "mlm_top5", "held-out MLM top-5"),
        ("gan", "fid", "FID (lower is better)"),
    ):
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            continue
        base = mine[0]
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for structure in ("unstructured", "heads", "ffn", "channels"):
            pts = sorted(
                (r["sparsity"], r["quality"][metric])
                for r in mine
                if r.get("structure") == structure and not r.get("fine_tune_steps")
            )
            if pts:
                xs, ys = zip(*[(0.0, base["quality"][metric]), *pts], strict=True)
                ax.plot(xs, ys, marker="o", label=structure)
        tuned = [(r["sparsity"], r["quality"][metric]) for r in mine if r.get("fine_tune_steps")]
        if tuned:
            xs, ys = zip(*tuned, strict=True)
            ax.scatter(xs, ys, marker="*", s=120, label="pruned, then fine-tuned", zorder=3)
        for r in mine:
            if r["technique"] in ("quantize", "distill", "baseline"):
                ax.axhline(r["quality"][metric], ls="--", lw=0.8, color="gray")
                names = {"distill": "distilled student", "baseline": "same student from scratch"}
                ax.annotate(
                    names.get(r["technique"], r["variant"]),
                    (0.98, r["quality"][metric]),
                    fontsize=7,
                    ha="right",
                    va="bottom",
                    xycoords=("axes fraction", "data"),
                )
        if metric == "fid":
            ax.set_yscale("log")  # a broken generator's FID is 25× a working one's
        ax.set_xlabel("share removed (weights, heads, neurons or channels)")
        ax.set_ylabel(label)
        ax.set_title(f"{model}: quality vs sparsity")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / f"{model}_sparsity.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    gg = [r for r in rows if r["model"].startswith("gguf")]
    if gg:
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for lang in ("en", "ko"):
            ax.plot(
                [r["bytes"] / 1e6 for r in gg],
                [r["quality"][f"ppl_{lang}"] for r in gg],
                marker="o",
                ls="none",
                label=f"perplexity ({lang})",
            )
        for r in gg:
            ax.annotate(r["variant"].split(" ")[0], (r["bytes"] / 1e6, r["quality"]["ppl_en"]), fontsize=8)
        ax.set_xlabel("file size (MB)")
        ax.set_ylabel("perplexity of the fixed passage")
        ax.set_title(f"{gg[0]['model']}: size vs perplexity")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / "gguf_types.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def latest_report(out: str | Path | None = None) -> dict[str, Any] | None:
    """The last report written to ``out`` (default ``$LMGEN_HOME/compress/report``), or ``None``."""
    from lmgen.stores.models import lmgen_home

    folder = Path(out or lmgen_home() / "compress" / "report")
    path = folder / "report.json"
    if not path.is_file():
        return None
    report = json.loads(path.read_text("utf-8"))
    report["folder"] = str(folder)
    return report


def compare_pruned(
    target: str,
    sparsity: float,
    structure: str,
    fine_tune: int = 0,
    pairs: int = 400,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """One pruned variant of the scratch BERT (held-out MLM) or GAN generator (FID), next to the original."""
    from lmgen.models.compress import prune

    share = prune.check_sparsity(sparsity)
    if target == "gan":
        rows = gan_section(quick=True, only=(structure, share), recover_steps=fine_tune)
        return {
            "original": rows[0]["quality"],
            "pruned": rows[-1]["quality"],
            "relative": rows[-1]["relative"],
            "sparsity": rows[-1].get("sparsity"),
            "params": rows[-1]["params"],
            "nonzero_params": rows[-1]["nonzero_params"],
        }
    from lmgen.models.compress.distill import TrainConfig, train_mlm
    from lmgen.models.mlm.bert import COMPRESSED_BERT, load_bert
    from lmgen.stores.mlm import mlm_corpus, read_documents

    loaded = load_bert(COMPRESSED_BERT)
    original = loaded.model.cpu().eval()
    bench = BertBench(loaded, read_documents(mlm_corpus().test), pairs)
    before = bench.quality(original)
    if structure == "unstructured":
        model = prune.prune_unstructured(original, share, keep_masks=fine_tune > 0)
    elif structure == "heads":
        model = prune.prune_heads(original, share)
    elif structure == "ffn":
        model = prune.prune_ffn(original, share)
        model.config.intermediate_size = model.bert.encoder.layer[0].intermediate.dense.out_features
    else:
        raise InputError(f"BERT can be pruned as unstructured, heads or ffn, not {structure!r}")
    if fine_tune:
        train_mlm(
            model,
            loaded.tokenizer,
            read_documents(mlm_corpus().train),
            TrainConfig(steps=fine_tune, learning_rate=2e-4, seed=1),
            desc="recover",
        )
        prune.finalize(model)
    after = bench.quality(model)
    result: dict[str, Any] = {
        "structure": structure,
        "asked": share,
        "sparsity": round(prune.sparsity_of(prune.bert_prunable(model))["sparsity"], 6)
        if structure == "unstructured"
        else share,
        "params": _params(model),
        "original_params": _params(original),
        "nonzero_params": _nonzero_params(model),
        "original": before,
        "pruned": after,
        "fine_tune_steps": fine_tune,
    }
    if out is not None:
        model.save_pretrained(str(out), safe_serialization=True)
        loaded.tokenizer.save_pretrained(str(out))
        result["saved"] = str(out)
    return result
