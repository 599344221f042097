"""What the app's playgrounds show, as plain data: each function calls the same engines the CLI, the
tools and MCP call, and turns their results into rows, HTML and file paths. No Gradio here, so every
view is testable on its own; ``ui/app.py`` only lays them out.
"""

from __future__ import annotations

import html
import math
import re
import shutil
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from lmgen.errors import InputError

MAX_TEXT = 2_000  # a playground sentence, not a document
UPLOAD_TYPES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
ORDERS = (1, 2, 3, 4, 5)
SMOOTHINGS = ("mle", "add-k", "kneser-ney")


def _text(text: str, what: str = "text") -> str:
    text = (text or "").strip()
    if not text:
        raise InputError(f"the {what} is empty")
    if len(text) > MAX_TEXT:
        raise InputError(f"the {what} is {len(text):,} characters; the playground takes {MAX_TEXT:,}")
    return text


# --------------------------------------------------------------------------- n-gram
def heatmap_html(per_token: list[dict[str, Any]]) -> str:
    """Tokens coloured by log10 probability (pale = likely, deep red = surprising); the n-gram order
    the model could use is written under each token, backoff in italics, OOV struck through."""
    cells = []
    for t in per_token:
        lp = t["log10_prob"]
        depth = 1.0 if lp is None or not math.isfinite(lp) else min(1.0, max(0.0, -lp / 5))
        colour = f"rgba(220, 38, 38, {0.08 + 0.8 * depth:.2f})"
        label = "OOV" if t.get("oov") else f"{t['order']}-gram" + (" ↩" if t.get("backoff") else "")
        value = "−∞" if lp is None or not math.isfinite(lp) else f"{lp:.2f}"
        style = "text-decoration: line-through;" if t.get("oov") else ""
        cells.append(
            f'<span class="lm-tok" title="log10 p = {value}, {label}" style="display:inline-block;'
            f'margin:2px;padding:4px 6px;border-radius:6px;background:{colour};text-align:center;{style}">'
            f"<b>{html.escape(t['token'])}</b><br><small>{value}<br>{html.escape(label)}</small></span>"
        )
    return '<div class="lm-heatmap" style="line-height:1.2">' + "".join(cells) + "</div>"


def ngram_view(text: str) -> dict[str, Any]:
    """Per-token scores of the default model for the text's language, as a heat-map and a summary."""
    from lmgen.stores.ngram import load_model

    text = _text(text, "sentence")
    lm = load_model(None, text=text)
    result = lm.perplexity([text], per_token=True)
    tokens = result["per_token"][0]
    summary = (
        f"perplexity **{result['ppl']:.2f}** (without OOV {result['ppl_excl_oov']:.2f}) · {result['tokens']} "
        f"tokens · {result['oov']} OOV · {result['order']}-gram {result['smoothing']}"
    )
    return {"html": heatmap_html(tokens), "summary": summary, "result": result}


@lru_cache(maxsize=32)
def _fitted(language: str, order: int, smoothing: str) -> Any:
    from lmgen.stores.ngram import _spec, corpus_split, train_model

    spec = _spec(language)
    train, _ = corpus_split(spec.corpus)
    return train_model([train], order, smoothing, spec.tokenizer, spec.lowercase)


def order_curve(text: str) -> list[dict[str, Any]]:
    """Perplexity of the text for n-gram orders 1-5 under MLE, add-k and Kneser-Ney (same corpus).

    MLE gives an unseen n-gram probability 0, so its perplexity is infinite as soon as the order is
    high enough for the sentence to contain one: the sparsity lesson. Rows carry ``ppl`` (None when
    infinite) and ``infinite``.
    """
    from lmgen.models.ngram.tokenize import has_hangul

    text = _text(text, "sentence")
    language = "korean" if has_hangul(text) else "english"
    rows = []
    for smoothing in SMOOTHINGS:
        for order in ORDERS:
            ppl = _fitted(language, order, smoothing).perplexity([text])["ppl"]
            finite = ppl is not None and math.isfinite(ppl)
            rows.append(
                {
                    "order": order,
                    "smoothing": smoothing,
                    "ppl": round(float(ppl), 2) if finite else None,
                    "infinite": not finite,
                }
            )
    return rows


def ngram_samples(korean: bool, n: int, seed: int, prefix: str = "") -> list[str]:
    from lmgen.stores.ngram import load_model, sample_sentences

    return sample_sentences(
        load_model(None, text="한" if korean else ""), max(1, min(n, 20)), seed, prefix=prefix
    )


# --------------------------------------------------------------------------- BERT
def mask_rows(text: str, top_k: int = 8) -> list[dict[str, Any]]:
    """BERT's candidates at each mask: ``mask`` (#1, #2 …), ``token``, ``probability``."""
    from lmgen.models.mlm.fill_mask import FillMasker

    result = FillMasker.load()(_text(text), top_k=top_k)
    return [
        {"mask": f"#{i}", "token": c["token_str"], "probability": round(float(c["score"]), 4)}
        for i, candidates in enumerate(result, 1)
        for c in candidates
    ]


def gpt_rows(text: str, top_k: int = 8) -> dict[str, Any]:
    """What the left-to-right base model predicts at the first mask, seeing only the words before it."""
    from lmgen.agent.models import left_context

    out = left_context(_text(text), top_k)
    rows = [
        {"token": c["token"].strip() or repr(c["token"]), "probability": round(c["prob"], 4)}
        for c in out["candidates"]
    ]
    return {"rows": rows, "prefix": out["prefix"], "model": out["model"]}


def bias_rows(lang: str = "en") -> list[dict[str, Any]]:
    """The bias probe: ln P(he)/P(she) (그/그녀) per occupation, from the default BERT."""
    from lmgen.models.mlm.bias import BiasProbe
    from lmgen.models.mlm.fill_mask import FillMasker

    report = BiasProbe.default(lang).run(FillMasker.load())
    male, female = report["targets"]
    return [
        {
            "occupation": r["occupation"],
            "log_ratio": round(r["log_ratio"], 3) if r["log_ratio"] is not None else 0.0,
            f"p_{male}": round(r[f"p_{male}"], 4),
            f"p_{female}": round(r[f"p_{female}"], 4),
        }
        for r in sorted(report["occupations"], key=lambda r: -(r["log_ratio"] or 0))
    ]


def pll_rows(lines: str) -> list[dict[str, Any]]:
    from lmgen.models.mlm.scoring import BertScorer

    sentences = [s.strip() for s in _text(lines, "list of sentences").splitlines() if s.strip()][:10]
    scorer = BertScorer.load()
    rows = []
    for s in sentences:
        r = scorer.pseudo_perplexity(s)
        rows.append({"sentence": s, "pseudo_perplexity": round(r["pppl"], 2), "pll": round(r["pll"], 3)})
    return rows


# --------------------------------------------------------------------------- generators
FAMILIES = ("ae", "vae", "gan", "ddpm")


def side_by_side(
    seed: int, count: int = 16, steps: int = 25, dataset: str = "mnist"
) -> dict[str, dict[str, Any]]:
    """One grid per family with the same seed and count: grid path and seconds per image."""
    from lmgen.tools.images import make_images

    out = {}
    for kind in FAMILIES:
        result = make_images(kind, count, seed, steps if kind == "ddpm" else None, dataset=dataset)
        out[kind] = {"grid": result["grid"], "seconds_per_image": round(result["seconds"] / count, 4)}
    return out


def draw_digit(digit: int, seed: int, count: int = 8, steps: int = 25, dataset: str = "mnist") -> str:
    from lmgen.tools.images import make_images

    return str(make_images("ddpm", count, seed, steps, digit, dataset=dataset)["grid"])


def sampler_table(seed: int, count: int = 4, steps: tuple[int, ...] = (10, 25, 50)) -> list[dict[str, Any]]:
    """DDIM with few steps against DDPM's ancestral sampler, and the most DDIM steps again without the
    guide model that autoguides them: seconds per image, and each grid."""
    from lmgen.tools.images import load_guide, make_images

    runs: list[tuple[str, int | None, float | None]] = [("ddim", s, None) for s in steps]
    runs += [("ddim", max(steps), 1.0)] if load_guide() is not None else []
    runs += [("ddpm", None, None)]
    rows = []
    for sampler, n_steps, weight in runs:
        result = make_images("ddpm", count, seed, n_steps, sampler=sampler, autoguidance=weight)
        rows.append(
            {
                "sampler": sampler,
                "steps": n_steps or "all (ancestral)",
                "model": result["model"],
                "seconds_per_image": round(result["seconds"] / count, 4),
                "grid": result["grid"],
            }
        )
    return rows


def strips(seed: int) -> dict[str, str]:
    from lmgen.stores.models import lmgen_home
    from lmgen.tools.images import make_strips

    return make_strips(lmgen_home() / "images" / f"strips-{time.strftime('%Y%m%d-%H%M%S')}-s{seed}", seed)


def faces(seed: int, count: int = 16) -> str:
    from lmgen.tools.images import make_images

    return str(make_images("faces", count, seed)["grid"])


def eval_table(n: int = 200, seed: int = 0, dataset: str = "mnist") -> list[dict[str, Any]]:
    """``lmgen image eval`` for the four families, one row per model (numbers only)."""
    from lmgen.tools.images import evaluate_images

    report = evaluate_images(list(FAMILIES), n=n, seed=seed, steps=25, dataset=dataset)
    return [
        {"model": kind, **{k: v for k, v in metrics.items() if isinstance(v, int | float)}}
        # the four, plus "ddpm+ag" (autoguided) and "ddpm+cfg" (class-guided)
        for kind, metrics in report["models"].items()
    ]


# --------------------------------------------------------------------------- router
def router_view(text: str, share: float) -> dict[str, Any]:
    """The router's decision for ``text`` at the threshold that sends ``share`` of requests to the
    generalist, with every intent's probability."""
    from lmgen.agent.router import load_router, route_text

    router = load_router()
    threshold = router.threshold_for_share(share)
    decision = route_text(_text(text, "request"), threshold, model=router)
    intents = [{"intent": k, "probability": round(v, 4)} for k, v in decision.intents.items()]
    return {"decision": decision.to_json(), "threshold": threshold, "intents": intents}


def quality_cost_rows() -> list[dict[str, Any]]:
    """The router benchmark's quality-vs-cost curves (shipped with the router), one row per point."""
    import json

    from lmgen.agent.router_data import DATA_DIR

    path = DATA_DIR / "router" / "quality_cost.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    return [
        {"router": name, "generalist_share": share, "quality": q}
        for name, curve in data["curves"].items()
        for share, q in zip(data["shares"], curve, strict=True)
    ]


def route_stats() -> list[dict[str, Any]]:
    from lmgen.stores.traces import stats

    data = stats()
    return [
        {
            "route": route,
            "share": r.get("share"),
            "turns": r.get("turns"),
            "median_ms": r.get("median_latency_ms"),
        }
        for route, r in data["routes"].items()
    ]


# --------------------------------------------------------------------------- documents
_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_name(name: str) -> str:
    """A file name that cannot leave its folder: the last path part only, odd characters replaced."""
    base = Path(name.replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).strip(" .")
    if not base or base in {".", ".."}:
        raise InputError(f"unusable file name {name!r}")
    return base[:120]


def upload_folder() -> Path:
    from lmgen.stores.models import lmgen_home

    folder = lmgen_home() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_uploads(files: list[tuple[str, str]]) -> tuple[list[Path], list[dict[str, str]]]:
    """Copy uploaded (original name, temp path) pairs into ``$LMGEN_HOME/uploads``; refuse bad ones."""
    folder = upload_folder().resolve()
    kept, refused = [], []
    for original, temp in files:
        try:
            if (
                original != Path(original.replace("\\", "/")).name
                or ".." in original
                or "%2f" in original.lower()
            ):
                raise InputError(f"{original!r}: a file name with a path in it is refused")
            name = safe_name(original)
            if Path(name).suffix.lower() not in UPLOAD_TYPES:
                raise InputError(f"{name}: type not accepted (use {', '.join(UPLOAD_TYPES)})")
            size = Path(temp).stat().st_size
            if size > MAX_UPLOAD_BYTES:
                raise InputError(f"{name}: {size:,} bytes is over the {MAX_UPLOAD_BYTES:,}-byte limit")
            target = (folder / name).resolve()
            if target.parent != folder:
                raise InputError(f"{original!r} would leave the upload folder")
            shutil.copyfile(temp, target)
            kept.append(target)
        except (InputError, OSError) as exc:
            refused.append({"file": original, "error": getattr(exc, "message", None) or str(exc)})
    return kept, refused


def ingest_uploads(files: list[tuple[str, str]]) -> dict[str, Any]:
    from lmgen.stores.knowledge import knowledge_base

    kept, refused = store_uploads(files)
    report = knowledge_base().ingest(kept, progress=False).to_json() if kept else {"files": 0, "failed": []}
    report["refused"] = refused
    return report


def source_rows() -> list[dict[str, Any]]:
    from lmgen.stores.knowledge import knowledge_base

    return [{"source": s, "chunks": n} for s, n in knowledge_base().sources().items()]


def remove_source(source: str) -> int:
    from lmgen.stores.knowledge import knowledge_base

    if not source:
        raise InputError("choose a source to remove")
    return knowledge_base().remove(source)


def search_modes(query: str, k: int = 5) -> dict[str, list[dict[str, Any]]]:
    """The same query through dense, BM25 and hybrid retrieval, side by side."""
    from lmgen.stores.knowledge import knowledge_base

    kb = knowledge_base()
    query = _text(query, "query")
    return {
        mode: [
            {
                "score": round(h.score, 4),
                "source": Path(h.source).name,
                "heading": h.heading,
                "text": h.text[:200],
            }
            for h in kb.search(query, k=k, mode=mode)
        ]
        for mode in ("dense", "bm25", "hybrid")
    }


def chunk_text(chunk_id: str) -> str:
    from lmgen.stores.knowledge import knowledge_base

    hit = knowledge_base().chunk(chunk_id)
    if hit is None:
        raise InputError(f"no chunk {chunk_id!r}")
    return f"**{Path(hit.source).name}** › {hit.heading}\n\n{hit.text}"


# --------------------------------------------------------------------------- settings
def settings_rows(overrides: dict[str, Any] | None = None) -> list[dict[str, str]]:
    from dataclasses import fields

    from lmgen.agent.context import Context
    from lmgen.models.llm import backend_summary
    from lmgen.stores.models import ModelStore

    ctx = Context(**(overrides or {}))
    rows = [{"setting": "backend", "value": backend_summary()}]
    store = ModelStore()
    for role in ("expert", "generalist", "base"):
        try:
            rows.append({"setting": f"model: {role}", "value": str(store.resolve(role))})
        except Exception as exc:  # shown, not raised: a missing model is that setting's state
            rows.append({"setting": f"model: {role}", "value": f"not available ({exc})"})
    for f in fields(ctx):
        if "key" in f.name:
            continue  # never show secrets
        rows.append({"setting": f.name, "value": str(getattr(ctx, f.name))})
    return rows


# --------------------------------------------------------------------------- compression
def compression_view(family: str = "all", remeasure: bool = False) -> dict[str, Any]:
    """The compression table (Markdown) and the report's plots (file paths) for one model family."""
    from lmgen.models.compress.report import SHIPPED_REPORT, latest_report
    from lmgen.tools.compress import compression_table

    table = compression_table(family, remeasure)
    report = latest_report() or latest_report(SHIPPED_REPORT)
    plots: list[str] = []
    if report is not None:
        folder = Path(report["folder"])
        wanted = None if family == "all" else family
        plots = [str(folder / p) for p in report.get("plots", []) if wanted is None or p.startswith(wanted)]
        plots = [p for p in plots if Path(p).is_file()]
    return {"markdown": table["markdown"], "origin": table["origin"], "plots": plots}
