"""RAG speed and quality, every figure next to a peer measured in the same run.

* ingestion: chunks/s of ``KnowledgeBase.ingest`` over lmgen's docs (load, split, embed with e5, write),
  and e5 vs all-MiniLM-L6-v2 passages/s on the same texts;
* retrieval quality on the shipped QA set (``benchmarks/rag_qa.jsonl``): recall@5, MRR, nDCG@10 for
  dense vs BM25 vs hybrid, on the docs alone and again with the docs among ``--embed`` really
  embedded distractor chunks; and the relevance gate's confusion counts (answerable passed /
  off-topic declined);
* query latency p50/p95 (the query embedded with e5 included) at 1k and 10k chunks, embedded Chroma
  and a ``chroma run`` server, hybrid (the default) and dense;
* retrieval across languages: the cross-lingual QA set (``benchmarks/rag_qa_crosslingual.jsonl``, 60
  Korean questions over the English Debian FAQ + Reference ch. 2, fetched with apt) with hybrid search
  as asked vs hybrid + query translation (the packaged generalist, or the expert when it is absent),
  and the same on the shipped QA set, where the gate must leave same-language questions untouched;
  the added query time p50/p95.

The distractors are real text: paragraphs of lmgen's packaged English + Korean corpus (the BERT
corpus), split by the same splitter, BM25-indexed from their own terms. Embedding 10k chunks with e5
on 2 CPU cores takes ~an hour, so only ``--embed`` of them (default 600) get their own e5 vectors; the
rest reuse those vectors mixed pairwise plus a little noise (normalised): distinct points on the same
manifold, which is what HNSW search time depends on. ``--embed 10000`` embeds them all.

    python benchmarks/rag.py [--sizes 1000 10000] [--queries 200] [--embed 600] [--no-server]
                             [--no-crosslingual]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
QA = REPO / "benchmarks" / "rag_qa.jsonl"
QA_CROSSLINGUAL = REPO / "benchmarks" / "rag_qa_crosslingual.jsonl"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def distractor_chunks(n: int, seed: int = 0) -> list[str]:
    """``n`` chunks of real English + Korean text (documents of the packaged BERT corpus)."""
    from lmgen.stores.documents import StructuredSplitter
    from lmgen.stores.mlm import mlm_corpus, read_documents

    splitter = StructuredSplitter()
    docs = read_documents(mlm_corpus().train)
    random.Random(seed).shuffle(docs)
    out: list[str] = []
    for doc in docs:
        text = " ".join(doc)
        out.extend(text[s.start : s.end] for s, _ in splitter.split_with_spans(text, markdown=False))
        if len(out) >= n:
            break
    if len(out) < n:  # a small corpus: reuse paragraphs with a marker so ids stay distinct
        out = [f"{out[i % len(out)]} ({i})" for i in range(n)]
    return out[:n]


def fill(kb: Any, texts: list[str], vectors: np.ndarray, offset: int = 0) -> None:
    """Write distractor chunks straight into the collection, with the metadata ingestion writes."""
    from lmgen.stores.bm25 import terms
    from lmgen.stores.knowledge import chunk_id

    for i in range(0, len(texts), 500):
        batch = texts[i : i + 500]
        sources = [f"/distractors/part{(offset + i + j) // 50:04d}.txt" for j in range(len(batch))]
        kb.collection.upsert(
            ids=[chunk_id(s, t) for s, t in zip(sources, batch, strict=True)],
            embeddings=vectors[i : i + len(batch)],
            documents=batch,
            metadatas=[
                {
                    "source": s,
                    "folders": ["/distractors", "/"],
                    "title": Path(s).stem,
                    "terms": " ".join(terms(t)),
                    "start_index": 0,
                    "end_index": len(t),
                    "n_chunks": 50,
                }
                for s, t in zip(sources, batch, strict=True)
            ],
        )
    kb._touch()


def copy_docs(src: Any, dst: Any) -> None:
    """The ingested docs (vectors included) into another store, without embedding them again."""
    got = src.collection.get(include=["embeddings", "documents", "metadatas"])
    dst.collection.upsert(
        ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"], metadatas=got["metadatas"]
    )
    dst._touch()


def distractor_vectors(kb: Any, texts: list[str], n_embed: int, seed: int = 0) -> np.ndarray:
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    n_embed = min(n_embed, len(texts))
    real = []
    for i in tqdm(range(0, n_embed, 32), desc="embed distractors", unit="batch", file=sys.stderr):
        real.extend(kb.embeddings.embed_documents(texts[i : i + 32]))
    base = np.asarray(real, dtype=np.float32)
    if n_embed == len(texts):
        return base
    a = base[rng.integers(0, n_embed, len(texts) - n_embed)]
    b = base[rng.integers(0, n_embed, len(texts) - n_embed)]
    w = rng.uniform(0.3, 0.7, (len(a), 1)).astype(np.float32)
    mixed = w * a + (1 - w) * b + rng.normal(0, 0.02, a.shape).astype(np.float32)
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    return np.concatenate([base, mixed])


def latency(kb: Any, questions: list[str], mode: str) -> dict[str, float]:
    kb.search(questions[0], k=5, mode=mode)  # warm-up (BM25 index build, caches)
    times = []
    for q in questions:
        start = time.perf_counter()
        kb.search(q, k=5, mode=mode)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1)}


def start_server(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("chroma run did not start")


def quality(kb: Any, items: list[Any]) -> dict[str, dict[str, float]]:
    from lmgen.chains.rag_eval import evaluate_retrieval

    modes = evaluate_retrieval(kb, items)["modes"]
    return {
        m: {k: v[k] for k in ("recall@5", "mrr", "ndcg@10")} | {"ko_ndcg@10": v["ko"]["ndcg@10"]}
        for m, v in modes.items()
    }


def gate(kb: Any, items: list[Any]) -> dict[str, int]:
    from lmgen.chains.rag import relevant

    out = {"answerable_passed": 0, "answerable": 0, "offtopic_declined": 0, "offtopic": 0}
    for q in items:
        passed = bool(relevant(kb.search(q.question, k=4), q.question))
        key = "answerable" if q.answerable else "offtopic"
        out[key] += 1
        out["answerable_passed" if q.answerable else "offtopic_declined"] += passed == q.answerable
    return out


def print_quality(title: str, table: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"{'mode':8} {'recall@5':>9} {'MRR':>7} {'nDCG@10':>8} {'ko nDCG@10':>11}")
    for mode, m in table.items():
        print(f"{mode:8} {m['recall@5']:9.3f} {m['mrr']:7.3f} {m['ndcg@10']:8.3f} {m['ko_ndcg@10']:11.3f}")
    best_single = max(table["dense"]["ndcg@10"], table["bm25"]["ndcg@10"])
    print(f"hybrid / best single mode nDCG@10: {table['hybrid']['ndcg@10'] / best_single:.3f}")


def share_user_files(home: Path) -> None:
    """The benchmark's private LMGEN_HOME sees the user's models and corpora (read only)."""
    from lmgen.stores.models import lmgen_home

    home.mkdir(parents=True, exist_ok=True)
    for name in ("models", "corpora"):
        (lmgen_home() / name).mkdir(parents=True, exist_ok=True)
        (home / name).symlink_to(lmgen_home() / name)


def translator_label() -> str:
    from lmgen.errors import LmgenError
    from lmgen.stores.models import ModelStore

    try:
        return f"generalist ({ModelStore().resolve('generalist').name})"
    except LmgenError:
        return f"expert ({ModelStore().resolve('expert').name}; no generalist here)"


def crosslingual(docs_kb: Any, docs_items: list[Any], work: Path) -> dict[str, Any]:
    """Hybrid vs hybrid + translation, on the cross-lingual set and on the shipped set."""
    from lmgen.agent.context import Context
    from lmgen.agent.models import query_translator
    from lmgen.chains.rag_eval import TRANSLATED_MODE, evaluate_retrieval, load_qa
    from lmgen.errors import ProvisionError
    from lmgen.stores.corpora import prepare_debian_docs
    from lmgen.stores.knowledge import KnowledgeBase

    try:
        folder = prepare_debian_docs()
    except ProvisionError as exc:
        print(f"\ncross-lingual retrieval skipped: {exc}")
        return {}
    kb = KnowledgeBase(path=work / "crosslingual")
    report = kb.ingest([folder], progress=True)
    translator = query_translator(Context())
    label = translator_label()
    out: dict[str, Any] = {"translator": label, "chunks": kb.count(), "ingest_s": report.seconds}
    for name, store, items in (
        ("crosslingual", kb, load_qa(QA_CROSSLINGUAL)),
        ("shipped", docs_kb, docs_items),
    ):
        modes = evaluate_retrieval(store, items, modes=("hybrid",), translator=translator)["modes"]
        out[name] = modes
        before, after = modes["hybrid"], modes[TRANSLATED_MODE]
        n = sum(q.answerable for q in items)
        print(f"\nretrieval across languages, {name} QA set ({n} questions, {store.count()} chunks)")
        print(f"translator: {label}; translated {after['translated']}/{n}")
        print(
            f"{'':17} {'recall@5':>9} {'MRR':>7} {'nDCG@10':>8} {'ko nDCG':>8} {'en nDCG':>8} "
            f"{'p50 ms':>8} {'p95 ms':>8}"
        )
        for label_row, m in (("hybrid", before), ("hybrid+translate", after)):
            ko, en = (f"{m[lang]['ndcg@10']:.3f}" if lang in m else "—" for lang in ("ko", "en"))
            print(
                f"{label_row:17} {m['recall@5']:9.3f} {m['mrr']:7.3f} {m['ndcg@10']:8.3f} {ko:>8} "
                f"{en:>8} {m['latency_ms_p50']:8.1f} {m['latency_ms_p95']:8.1f}"
            )
        print(
            f"added query time: p50 {after['latency_ms_p50'] - before['latency_ms_p50']:+.0f} ms, "
            f"p95 {after['latency_ms_p95'] - before['latency_ms_p95']:+.0f} ms; "
            f"nDCG@10 after / before {after['ndcg@10'] / max(before['ndcg@10'], 1e-9):.3f}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embed", type=int, default=600, help="distractors embedded for real")
    parser.add_argument("--no-server", action="store_true", help="skip the chroma run server")
    parser.add_argument(
        "--no-crosslingual", action="store_true", help="skip retrieval across languages (apt, a model)"
    )
    parser.add_argument("--json", action="store_true", help="also print all figures as one JSON line")
    args = parser.parse_args()

    from lmgen.chains.rag_eval import load_qa
    from lmgen.stores.embeddings import get_embeddings
    from lmgen.stores.knowledge import KnowledgeBase

    results: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="lmgen-rag-bench-"))
    share_user_files(work / "home")
    os.environ["LMGEN_HOME"] = str(work / "home")
    items = load_qa(QA)
    questions = [q.question for q in items]
    questions = [questions[i % len(questions)] for i in range(args.queries)]

    # ---- ingestion
    kb = KnowledgeBase(path=work / "embedded")
    report = kb.ingest([REPO / "docs" / "en", REPO / "docs" / "ko"], progress=True)
    results["ingest"] = {
        "chunks": report.added,
        "seconds": report.seconds,
        "chunks_per_s": report.chunks_per_second,
    }
    print(
        f"ingest docs/: {report.added} chunks in {report.seconds:.1f} s "
        f"= {report.chunks_per_second:.1f} chunks/s"
    )
    texts = [str(t) for t in kb.collection.get(include=["documents"])["documents"] or []][:64]
    speeds = {}
    for name in ("e5", "minilm"):
        emb = get_embeddings(name)
        emb.embed_documents(texts[:4])
        start = time.perf_counter()
        emb.embed_documents(texts)
        speeds[name] = len(texts) / (time.perf_counter() - start)
    results["passages_per_s"] = {k: round(v, 1) for k, v in speeds.items()}
    print(
        f"passages/s: e5 {speeds['e5']:.1f}, MiniLM {speeds['minilm']:.1f} "
        f"(e5/MiniLM {speeds['e5'] / speeds['minilm']:.2f})"
    )

    # ---- quality on the docs, and the relevance gate
    results["quality_docs"] = quality(kb, items)
    print_quality(
        f"retrieval quality, docs only ({kb.count()} chunks, {sum(q.answerable for q in items)} questions)",
        results["quality_docs"],
    )
    results["gate"] = gate(kb, items)
    g = results["gate"]
    print(
        f"relevance gate: {g['answerable_passed']}/{g['answerable']} answerable questions pass, "
        f"{g['offtopic_declined']}/{g['offtopic']} off-topic questions declined"
    )

    # ---- latency at each size, embedded and server; quality with distractors at the largest size
    biggest = max(args.sizes)
    distractors = distractor_chunks(biggest)
    vectors = distractor_vectors(kb, distractors, args.embed)
    backends: list[tuple[str, Any]] = [("embedded", None)]
    server = None
    if not args.no_server:
        server, url = start_server(work / "server")
        backends.append(("server", url))
    try:
        results["latency"] = {}
        for backend, url in backends:
            for size in sorted(args.sizes):
                if url is None:
                    store = KnowledgeBase(path=work / f"embedded-{size}")
                else:  # one server: start each size from an empty collection
                    KnowledgeBase(url=url).client.delete_collection(kb.name)
                    store = KnowledgeBase(url=url)
                copy_docs(kb, store)
                n = size - store.count()
                fill(store, distractors[:n], vectors[:n])
                row = {mode: latency(store, questions, mode) for mode in ("hybrid", "dense")}
                results["latency"][f"{backend}@{store.count()}"] = row
                print(
                    f"{backend:8} {store.count():6d} chunks: hybrid p50 {row['hybrid']['p50_ms']:6.1f} ms "
                    f"p95 {row['hybrid']['p95_ms']:6.1f} ms | dense p50 {row['dense']['p50_ms']:6.1f} ms "
                    f"p95 {row['dense']['p95_ms']:6.1f} ms"
                )

    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    # Quality among distractors uses only really embedded ones: mixed vectors sit near the centroid of
    # the embedding cloud and would look similar to every query, which real text does not.
    real = KnowledgeBase(path=work / "quality")
    copy_docs(kb, real)
    fill(real, distractors[: args.embed], vectors[: args.embed], offset=10**6)
    results["quality_distractors"] = quality(real, items)
    results["quality_distractors_chunks"] = real.count()
    lat = results["latency"]
    keys = list(lat)
    emb_keys = [k for k in keys if k.startswith("embedded")]
    if len(emb_keys) >= 2:
        small, large = emb_keys[0], emb_keys[-1]
        print(
            f"hybrid p95 {large} / {small}: "
            f"{lat[large]['hybrid']['p95_ms'] / lat[small]['hybrid']['p95_ms']:.2f}"
        )
    srv_keys = [k for k in keys if k.startswith("server")]
    if srv_keys and emb_keys:
        print(
            f"hybrid p95 server / embedded at the largest size: "
            f"{lat[srv_keys[-1]]['hybrid']['p95_ms'] / lat[emb_keys[-1]]['hybrid']['p95_ms']:.2f}"
        )
    if "quality_distractors" in results:
        print_quality(
            f"retrieval quality among {args.embed} embedded distractor chunks "
            f"({results['quality_distractors_chunks']} in all)",
            results["quality_distractors"],
        )
    if not args.no_crosslingual:
        results["crosslingual"] = crosslingual(kb, items, work)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
