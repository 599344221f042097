"""The knowledge base on the command line: ``lmgen rag ingest|search|remove|list|eval``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lmgen.errors import InputError
from lmgen.ui.output import JsonFlag, emit

rag_app = typer.Typer(
    no_args_is_help=True, help="Documents: ingest into Chroma, search (dense, BM25, hybrid), evaluate."
)
EmbeddingsOpt = Annotated[
    str, typer.Option("--embeddings", help="e5 (default, Korean + English), minilm, or a local model folder.")
]
UrlOpt = Annotated[
    str | None,
    typer.Option("--chroma-url", help="Chroma server URL (default LMGEN_CHROMA_URL; empty: embedded)."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(rag_app, name="rag")


def _kb(embeddings: str, url: str | None, **kwargs: Any) -> Any:
    from lmgen.stores.knowledge import KnowledgeBase

    return KnowledgeBase(embeddings, url=url, **kwargs)


@rag_app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (.txt .md .html .pdf .docx).")],
    embeddings: EmbeddingsOpt = "e5",
    chroma_url: UrlOpt = None,
    chunk_size: Annotated[int | None, typer.Option(help="Longest chunk in characters (default 600).")] = None,
    chunk_overlap: Annotated[
        int | None, typer.Option(help="Characters repeated between chunks (80).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add documents; unchanged chunks are skipped, edited files replace their chunks."""
    kb = _kb(embeddings, chroma_url, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    report = kb.ingest(paths, progress=sys.stderr.isatty() or not as_json)
    data = report.to_json()
    failed = "".join(f"\n  failed: {f['source']}: {f['error']}" for f in report.failed)
    text = (
        f"{report.files} files: {report.added} chunks added, {report.skipped} unchanged, "
        f"{report.removed} removed ({report.seconds:.1f} s, {report.chunks_per_second:.1f} chunks/s) "
        f"→ {report.collection} ({kb.count()} chunks){failed}"
    )
    emit(data, as_json, text)
    if report.failed and not report.files:
        first = report.failed[0]
        more = f" (and {len(report.failed) - 1} more)" if len(report.failed) > 1 else ""
        raise InputError(f"nothing was ingested: {first['source']}: {first['error']}{more}")


@rag_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="The question or keywords.")],
    k: Annotated[int, typer.Option("--k", "-k", help="Chunks to return.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid (default), dense or bm25.")] = "hybrid",
    source: Annotated[str | None, typer.Option(help="Only this file.")] = None,
    folder: Annotated[str | None, typer.Option(help="Only files under this folder.")] = None,
    mmr: Annotated[
        bool, typer.Option("--mmr", help="Re-rank for diversity (maximal marginal relevance).")
    ] = False,
    translate: Annotated[
        bool,
        typer.Option(
            "--translate/--no-translate",
            help="When the chunks found are in the other language, also search the query translated "
            "by the generalist (Korean ↔ English) and fuse the rankings.",
        ),
    ] = True,
    embeddings: EmbeddingsOpt = "e5",
    chroma_url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """The best chunks for a query, with their source and score."""
    from lmgen.agent.context import Context
    from lmgen.agent.models import query_translator
    from lmgen.chains.crosslingual import search_across_languages

    kb = _kb(embeddings, chroma_url)
    translator = query_translator(Context()) if translate else None
    hits, info = search_across_languages(
        kb,
        query,
        translator,
        k=k,
        mode=mode,  # type: ignore[arg-type]
        source=source,
        folder=folder,
        mmr=mmr,
    )
    data = [h.to_json() for h in hits]
    lines = [f"(also searched as: {info.translated}, {info.translate_ms:.0f} ms)"] if info.translated else []
    for n, h in enumerate(hits, 1):
        where = (
            Path(h.source).name
            + (f" p.{h.page}" if h.page else "")
            + (f" › {h.heading}" if h.heading else "")
        )
        snippet = " ".join(h.text.split())[:160]
        lines.append(f"[{n}] {h.score:.4f}  {where}\n    {snippet}")
    emit(
        data, as_json, "\n".join(lines) or "no matching chunks (is anything ingested? lmgen rag ingest PATH)"
    )


@rag_app.command("remove")
def remove(
    path: Annotated[Path, typer.Argument(help="A file or folder whose chunks to delete.")],
    embeddings: EmbeddingsOpt = "e5",
    chroma_url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete the chunks of a file, or of every file under a folder."""
    removed = _kb(embeddings, chroma_url).remove(path)
    emit({"removed": removed, "path": str(path.expanduser().resolve())}, as_json, f"removed {removed} chunks")


@rag_app.command("list")
def list_sources(
    embeddings: EmbeddingsOpt = "e5",
    chroma_url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Ingested files and their chunk counts."""
    kb = _kb(embeddings, chroma_url)
    sources = kb.sources()
    data = {"collection": kb.name, "chunks": kb.count(), "sources": sources}
    text = "\n".join(f"{n:5d}  {s}" for s, n in sources.items()) + f"\n{kb.count()} chunks in {kb.name}"
    emit(data, as_json, text)


@rag_app.command("eval")
def evaluate(
    qa: Annotated[Path, typer.Argument(help="QA file (JSON lines: question, source, heading, lang).")],
    k: Annotated[int, typer.Option("--k", "-k", help="Ranking depth.")] = 10,
    answers: Annotated[
        int, typer.Option(help="Also run the answer chain on the first N questions (0: retrieval only).")
    ] = 0,
    answer_model: Annotated[
        str | None, typer.Option(help="expert or generalist for --answers (default: LMGEN_RAG_ROUTE).")
    ] = None,
    translate: Annotated[
        bool,
        typer.Option(
            "--translate",
            help="Also measure hybrid search across languages (the question translated when its hits "
            "are in the other language): the 'hybrid+translate' row.",
        ),
    ] = False,
    embeddings: EmbeddingsOpt = "e5",
    chroma_url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Retrieval quality (recall@k, MRR, nDCG@10: dense vs BM25 vs hybrid); optionally answer quality."""
    from lmgen.chains.rag_eval import evaluate_answers, evaluate_retrieval, load_qa

    if k < 1:
        raise InputError("--k must be at least 1")
    kb = _kb(embeddings, chroma_url)
    items = load_qa(qa)
    translator = None
    if translate:
        from lmgen.agent.context import Context
        from lmgen.agent.models import query_translator

        translator = query_translator(Context())
    result: dict[str, Any] = {"retrieval": evaluate_retrieval(kb, items, k=k, translator=translator)}
    if answers:
        from lmgen.agent.context import Context
        from lmgen.agent.graph import grounded_chain
        from lmgen.agent.models import expert_chat_model, generalist_chat_model

        ctx = Context()
        role = answer_model or ("expert" if ctx.rag_route == "route" else ctx.rag_route)
        if role not in {"expert", "generalist"}:
            raise InputError(f"--answer-model must be 'expert' or 'generalist', not {role!r}")
        model = expert_chat_model(ctx) if role == "expert" else generalist_chat_model(ctx)
        chain = grounded_chain(kb, model, ctx)
        # off-topic questions in proportion (at least one when there are any), to measure declines
        off = [q for q in items if not q.answerable]
        n_off = min(len(off), max(int(bool(off) and answers > 1), round(answers * len(off) / len(items))))
        picked = [q for q in items if q.answerable][: answers - n_off] + off[:n_off]
        result["answers"] = evaluate_answers(lambda q: chain.invoke({"question": q}), picked)
    modes = result["retrieval"]["modes"]
    lines = [
        f"{'mode':16} {'recall@1':>9} {'recall@5':>9} {'MRR':>7} {'nDCG@10':>8} {'p50 ms':>7} {'p95 ms':>7}"
    ]
    for mode, m in modes.items():
        lines.append(
            f"{mode:16} {m['recall@1']:9.3f} {m['recall@5']:9.3f} {m['mrr']:7.3f} {m['ndcg@10']:8.3f} "
            f"{m['latency_ms_p50']:7.1f} {m['latency_ms_p95']:7.1f}"
            + (f"  ({m['translated']} translated)" if "translated" in m else "")
        )
    if "answers" in result:
        a = result["answers"]
        lines.append(
            f"answers: citation accuracy {a['citation_accuracy']}, faithfulness {a['faithfulness']}, "
            f"declined {a['declined_answerable']} answerable, unanswerable decline rate "
            f"{a['decline_rate_unanswerable']}"
        )
    emit(result, as_json, "\n".join(lines))
