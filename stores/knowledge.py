"""The knowledge base: documents ingested into Chroma, searched densely, by keywords, or both.

Chroma runs embedded (``PersistentClient`` under ``$LMGEN_HOME/chroma``) or as a server
(``chroma run``) named by ``LMGEN_CHROMA_URL``; the code is the same either way. There is one
collection per embedding model, with cosine distance, and lmgen always hands Chroma its own vectors,
so Chroma's default embedding function (which would download a model) is never used.

Ingestion is idempotent and crash-safe: a chunk's id is a hash of its source and text, so writing it
again changes nothing; a file is "done" only when the chunks in the store are exactly the chunks it
splits into now. Per file, new chunks are written first, kept chunks get fresh metadata, stale ones
are deleted last, so a run killed at any point leaves old or new chunks (never duplicates) and the next
run finishes the job.

Retrieval modes: ``dense`` (embedding similarity), ``bm25`` (Korean-aware keywords) and ``hybrid``
(the default): reciprocal rank fusion of the two lists, ``Σ 1/(60 + rank)`` (Cormack et al., 2009),
which needs no score calibration between them. MMR (maximal marginal relevance) can re-rank any mode
for diversity. Filters: one ``source`` file, or a ``folder`` and everything under it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import numpy as np

from lmgen.errors import BackendUnavailableError, InputError
from lmgen.stores.bm25 import BM25Index, terms
from lmgen.stores.documents import SUPPORTED, StructuredSplitter, UnreadableFile, chunk_documents, load_file
from lmgen.stores.embeddings import DEFAULT_EMBEDDINGS, collection_name, get_embeddings
from lmgen.stores.models import lmgen_home

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
log = logging.getLogger(__name__)

Mode = Literal["dense", "bm25", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid")
RRF_K = 60
MAX_QUERY_CHARS = 2000
MAX_K = 100
WRITE_BATCH = 32
REVISION_TTL = 2.0  # seconds a BM25 index is trusted before checking for other writers


@dataclass
class Hit:
    """One retrieved chunk. ``score`` is the mode's own score (cosine similarity, BM25 or RRF)."""

    id: str
    text: str
    source: str
    score: float
    title: str = ""
    heading: str = ""
    page: int | None = None
    start_index: int = 0
    end_index: int = 0
    dense_score: float | None = None
    bm25_score: float | None = None
    terms: list[str] = field(default_factory=list)  # BM25 terms stored at ingestion (internal)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["terms"]
        return data


@dataclass
class IngestReport:
    """What one ingestion did. ``added``/``skipped``/``removed`` count chunks; ``failed`` lists files."""

    added: int = 0
    skipped: int = 0
    updated: int = 0
    removed: int = 0
    files: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    collection: str = ""
    embeddings: str = ""
    seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.added / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"chunks_per_second": round(self.chunks_per_second, 2)}


def chroma_client(url: str | None = None, path: Path | None = None) -> Any:
    """An embedded client under ``path`` (default ``$LMGEN_HOME/chroma``), or a server client for ``url``.

    Raises:
        InputError: a malformed URL.
        BackendUnavailableError: the server does not answer.
    """
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    url = url if url is not None else os.environ.get("LMGEN_CHROMA_URL", "")
    if not url:
        where = path or lmgen_home() / "chroma"
        where.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(where), settings=settings)
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise InputError(f"Chroma URL {url!r} must look like http://127.0.0.1:8000")
    try:
        client = chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=settings,
        )
        client.heartbeat()
    except Exception as exc:
        raise BackendUnavailableError(
            f"no Chroma server at {url} ({type(exc).__name__})",
            hint="start one (chroma run --path DIR --host 127.0.0.1 --port 8000) or unset LMGEN_CHROMA_URL",
        ) from exc
    return client


def chunk_id(source: str, text: str) -> str:
    return hashlib.sha256(f"{source}\0{text}".encode()).hexdigest()[:32]


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _folders(source: str) -> list[str]:
    return [str(p) for p in Path(source).parents]


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[dict[str, str]]]:
    """Files to ingest (folders walked, hidden entries skipped) and the paths that cannot be."""
    files: list[Path] = []
    failed: list[dict[str, str]] = []
    for raw in paths:
        p = Path(raw).expanduser().resolve()
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts) or not f.is_file():
                    continue
                if f.suffix.lower() in SUPPORTED:
                    files.append(f)
                else:
                    failed.append(
                        {"source": str(f), "error": f"unsupported file type {f.suffix or '(none)'}"}
                    )
        elif p.is_file():
            files.append(p)
        else:
            failed.append({"source": str(p), "error": "no such file or folder"})
    return list(dict.fromkeys(files)), failed


class KnowledgeBase:
    """Documents in Chroma with dense, BM25 and hybrid search.

    Args:
        embeddings: ``e5`` (default), ``minilm`` or a local sentence-transformers folder.
        url: Chroma server URL (default ``LMGEN_CHROMA_URL``; empty: embedded).
        path: Folder of the embedded store (default ``$LMGEN_HOME/chroma``).
    """

    def __init__(
        self,
        embeddings: str = DEFAULT_EMBEDDINGS,
        url: str | None = None,
        path: Path | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
    ) -> None:
        from langchain_chroma import Chroma

        self.embeddings = get_embeddings(embeddings)
        self.client = chroma_client(url, path)
        self.name = collection_name(self.embeddings)
        self.splitter = StructuredSplitter(
            **{k: v for k, v in {"chunk_size": chunk_size, "chunk_overlap": chunk_overlap}.items() if v}
        )
        # LangChain's vector store (dense search, retrievers); same collection as self.collection.
        self.store = Chroma(
            collection_name=self.name,
            embedding_function=self.embeddings,
            client=self.client,
            collection_metadata={
                "embedding_model": self.embeddings.model_id,
                "embedding_dim": self.embeddings.dim,
                "revision": uuid.uuid4().hex,
            },
            collection_configuration={"hnsw": {"space": "cosine"}},
        )
        self.collection = self.client.get_collection(self.name)
        recorded = (self.collection.metadata or {}).get("embedding_model")
        if recorded and recorded != self.embeddings.model_id:
            raise InputError(
                f"collection {self.name} holds vectors of {recorded}, not {self.embeddings.model_id}"
            )
        self._bm25: tuple[str, BM25Index] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ bookkeeping
    def count(self) -> int:
        return int(self.collection.count())

    def sources(self) -> dict[str, int]:
        """Chunks per source file."""
        metas = self.collection.get(include=["metadatas"])["metadatas"] or []
        out: dict[str, int] = {}
        for m in metas:
            out[str(m["source"])] = out.get(str(m["source"]), 0) + 1
        return dict(sorted(out.items()))

    def chunk(self, chunk_id: str) -> Hit | None:
        """The stored chunk with this id (as a :class:`Hit` scored 1.0), or None."""
        hits = self._hits([(chunk_id, 1.0)], {}, {})
        return hits[0] if hits else None

    def _revision(self) -> str:
        meta = self.client.get_collection(self.name).metadata or {}
        return str(meta.get("revision", ""))

    def _touch(self) -> None:
        """A new revision: other processes' BM25 caches see the collection changed."""
        meta = dict(self.collection.metadata or {})
        meta["revision"] = uuid.uuid4().hex
        self.collection.modify(metadata=meta)
        self.collection = self.client.get_collection(self.name)
        with self._lock:
            self._bm25 = None

    # ------------------------------------------------------------------ ingestion
    def ingest(self, paths: Sequence[str | Path], progress: bool = True) -> IngestReport:
        """Add files and folders; unchanged chunks are skipped, changed files replace their chunks."""
        from tqdm.auto import tqdm

        start = time.perf_counter()
        report = IngestReport(collection=self.name, embeddings=self.embeddings.model_id)
        files, report.failed = expand_paths(paths)
        plans = []
        for f in files:
            try:
                plans.append(self._plan(f))
            except UnreadableFile as exc:
                report.failed.append({"source": str(f), "error": exc.one_line()})
        todo = sum(len(p["add"]) for p in plans)
        bar = tqdm(total=todo, desc="ingest", unit="chunk", disable=not progress or todo == 0)
        try:
            for plan in plans:
                self._apply(plan, bar)
                log.info(
                    "ingested %s (+%d chunks, -%d stale)",
                    plan["source"],
                    len(plan["add"]),
                    len(plan["stale"]),
                )
                report.files += 1
                report.added += len(plan["add"])
                report.skipped += plan["unchanged"]
                report.updated += len(plan["update"])
                report.removed += len(plan["stale"])
        finally:
            bar.close()
            if report.added or report.removed or report.updated:
                self._touch()
        report.seconds = round(time.perf_counter() - start, 3)
        return report

    def _plan(self, path: Path) -> dict[str, Any]:
        source = str(path)
        chunks = chunk_documents(load_file(path), self.splitter)
        digest = _file_hash(path)
        new: dict[str, dict[str, Any]] = {}
        for c in chunks:
            cid = chunk_id(source, c.page_content)
            if cid in new:  # the same text twice in one file: keep the first
                continue
            meta = {k: v for k, v in c.metadata.items() if v is not None and v != ""}
            meta.update(
                source=source,
                folders=_folders(source),
                file_hash=digest,
                n_chunks=0,
                terms=" ".join(terms(self._context_text(c.page_content, meta))),
            )
            new[cid] = {"text": c.page_content, "meta": meta}
        for item in new.values():
            item["meta"]["n_chunks"] = len(new)
        got = self.collection.get(where={"source": source}, include=["metadatas"])
        old = {i: m for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)}
        if set(old) == set(new) and all(m.get("file_hash") == digest for m in old.values()):
            return {"source": source, "add": [], "update": [], "stale": [], "unchanged": len(new)}
        return {
            "source": source,
            "add": [(i, v) for i, v in new.items() if i not in old],
            "update": [(i, v) for i, v in new.items() if i in old],
            "stale": [i for i in old if i not in new],
            "unchanged": 0,
        }

    @staticmethod
    def _context_text(text: str, meta: dict[str, Any]) -> str:
        """What is embedded and keyword-indexed: the chunk under its title and heading."""
        head = [str(meta.get("title", ""))]
        heading = str(meta.get("heading", ""))
        if heading and heading != head[0]:
            head.append(heading)
        return "\n".join([h for h in head if h] + [text])

    def _apply(self, plan: dict[str, Any], bar: Any) -> None:
        add = plan["add"]
        for i in range(0, len(add), WRITE_BATCH):
            batch = add[i : i + WRITE_BATCH]
            vectors = self.embeddings.embed_documents(
                [self._context_text(v["text"], v["meta"]) for _, v in batch]
            )
            self.collection.upsert(
                ids=[cid for cid, _ in batch],
                embeddings=np.asarray(vectors, dtype=np.float32),
                documents=[v["text"] for _, v in batch],
                metadatas=[v["meta"] for _, v in batch],
            )
            bar.update(len(batch))
        update = plan["update"]
        for i in range(0, len(update), 256):
            batch = update[i : i + 256]
            self.collection.update(ids=[cid for cid, _ in batch], metadatas=[v["meta"] for _, v in batch])
        if plan["stale"]:
            self.collection.delete(ids=plan["stale"])

    def remove(self, path: str | Path) -> int:
        """Delete the chunks of a file, or of every file under a folder; returns how many."""
        target = str(Path(path).expanduser().resolve())
        where: dict[str, Any] = {"$or": [{"source": target}, {"folders": {"$contains": target}}]}
        ids = self.collection.get(where=where, include=[])["ids"]
        if ids:
            self.collection.delete(ids=ids)
            self._touch()
        return len(ids)

    # ------------------------------------------------------------------ retrieval
    @staticmethod
    def where(source: str | None = None, folder: str | None = None) -> dict[str, Any] | None:
        """A Chroma metadata filter for one source file and/or a folder (recursively)."""
        clauses: list[dict[str, Any]] = []
        if source:
            clauses.append({"source": str(Path(source).expanduser().resolve())})
        if folder:
            clauses.append({"folders": {"$contains": str(Path(folder).expanduser().resolve())}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def bm25_index(self) -> BM25Index:
        """The keyword index, rebuilt from the stored terms when the collection changed.

        Writes through this object invalidate it at once; another process's writes are noticed
        within ``REVISION_TTL`` seconds (checking costs a round trip to a Chroma server).
        """
        now = time.monotonic()
        with self._lock:
            if self._bm25 is not None and now - self._checked < REVISION_TTL:
                return self._bm25[1]
        revision = self._revision()
        with self._lock:
            self._checked = now
            if self._bm25 is None or self._bm25[0] != revision:
                got = self.collection.get(include=["metadatas"])
                metas = got["metadatas"] or []
                index = BM25Index(got["ids"], [str(m.get("terms", "")).split() for m in metas])
                self._bm25 = (revision, index)
            return self._bm25[1]

    def search(
        self,
        query: str,
        k: int = 5,
        mode: Mode = "hybrid",
        source: str | None = None,
        folder: str | None = None,
        mmr: bool = False,
        mmr_lambda: float = 0.5,
        variants: Sequence[str] = (),
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query``.

        ``variants`` are other wordings of the same question (a translation, a rewrite): each is
        searched like the query itself and every ranking — dense and keyword, per wording — is fused
        by reciprocal rank, so a chunk any wording finds early rises.

        Raises:
            InputError: empty or over-long query, bad ``k`` or ``mode``.
        """
        query = (query or "").strip()
        if not query:
            raise InputError("empty query")
        if len(query) > MAX_QUERY_CHARS:
            raise InputError(f"query has {len(query):,} characters; the limit is {MAX_QUERY_CHARS:,}")
        if not 1 <= k <= MAX_K:
            raise InputError(f"k must be between 1 and {MAX_K}, not {k}")
        if mode not in MODES:
            raise InputError(f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}")
        wordings = [query]
        for v in variants:
            v = " ".join(str(v).split())[:MAX_QUERY_CHARS]
            if v and v.casefold() not in {w.casefold() for w in wordings}:
                wordings.append(v)
        where = self.where(source, folder)
        pool = max(4 * k, 20)
        vectors = (
            [np.asarray(self.embeddings.embed_query(w), dtype=np.float32) for w in wordings]
            if mode != "bm25" or mmr
            else []
        )
        allowed = (
            set(self.collection.get(where=where, include=[])["ids"]) if where and mode != "dense" else None
        )
        rankings: list[list[tuple[str, float]]] = []
        dense: dict[str, float] = {}
        keyword: dict[str, float] = {}
        for n, wording in enumerate(wordings):
            if mode != "bm25":
                found = self._dense(vectors[n], pool, where)
                rankings.append(found)
                for cid, score in found:
                    dense[cid] = max(score, dense.get(cid, score))
            if mode != "dense":
                found = self.bm25_index().search(wording, pool, allowed)
                rankings.append(found)
                for cid, score in found:
                    keyword[cid] = max(score, keyword.get(cid, score))
        ranked = rankings[0] if len(rankings) == 1 else rrf(rankings)
        if mmr and ranked:
            ranked = self._mmr(vectors[0], ranked, k, mmr_lambda)
        ranked = ranked[:k]
        return self._hits(ranked, dense, keyword)

    def _dense(self, qvec: Any, n: int, where: dict[str, Any] | None) -> list[tuple[str, float]]:
        results = self.store.similarity_search_by_vector_with_relevance_scores(
            qvec.tolist(), k=n, filter=where
        )
        # langchain-chroma returns Chroma's cosine *distance* here; similarity = 1 - distance.
        return [(str(doc.id), round(1.0 - float(dist), 6)) for doc, dist in results]

    def _mmr(self, qvec: Any, ranked: list[tuple[str, float]], k: int, lam: float) -> list[tuple[str, float]]:
        from langchain_core.vectorstores.utils import maximal_marginal_relevance

        ids = [i for i, _ in ranked]
        got = self.collection.get(ids=ids, include=["embeddings"])
        vectors = dict(zip(got["ids"], got["embeddings"], strict=True))
        order = maximal_marginal_relevance(qvec, [list(vectors[i]) for i in ids], lambda_mult=lam, k=k)
        return [ranked[j] for j in order]

    def _hits(
        self, ranked: list[tuple[str, float]], dense: dict[str, float], keyword: dict[str, float]
    ) -> list[Hit]:
        if not ranked:
            return []
        got = self.collection.get(ids=[i for i, _ in ranked], include=["documents", "metadatas"])
        rows = {
            i: (d, m)
            for i, d, m in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)
        }
        hits = []
        for cid, score in ranked:
            if cid not in rows:  # not stored (an unknown id, or removed since it was ranked)
                continue
            text, meta = rows[cid]
            page = meta.get("page")
            hits.append(
                Hit(
                    id=cid,
                    text=str(text),
                    source=str(meta["source"]),
                    score=round(float(score), 6),
                    title=str(meta.get("title", "")),
                    heading=str(meta.get("heading", "")),
                    page=int(page) if page is not None else None,
                    start_index=int(meta.get("start_index", 0)),
                    end_index=int(meta.get("end_index", 0)),
                    dense_score=dense.get(cid),
                    bm25_score=round(keyword[cid], 4) if cid in keyword else None,
                    terms=str(meta.get("terms", "")).split(),
                )
            )
        return hits


def rrf(rankings: Sequence[Sequence[tuple[str, float]]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: each list votes ``1/(k + rank)`` (rank from 1) for its items."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, (item, _) in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])


def store_exists() -> bool:
    """Whether an embedded store was ever created under ``$LMGEN_HOME`` (opening none is cheaper)."""
    return (lmgen_home() / "chroma" / "chroma.sqlite3").exists()


_KB: dict[tuple[str, str, str], KnowledgeBase] = {}


def knowledge_base(embeddings: str = DEFAULT_EMBEDDINGS, url: str | None = None) -> KnowledgeBase:
    """A per-process shared :class:`KnowledgeBase` for these settings (tools, chains, UI)."""
    url = url if url is not None else os.environ.get("LMGEN_CHROMA_URL", "")
    key = (embeddings, url, str(lmgen_home()))
    if key not in _KB:
        _KB[key] = KnowledgeBase(embeddings, url=url)
    return _KB[key]
