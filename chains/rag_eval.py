"""Evaluating RAG: retrieval quality per mode, and the answers' citations and faithfulness.

A QA file is JSON lines: ``{"question", "source", "heading", "lang"}``. ``source`` is the expected
file (relative paths resolve against the QA file's repository root, the working directory or
lmgen's corpora folder, where ``debian-en/…`` of the cross-lingual set lives),
``heading`` the expected section title (or a list of acceptable ones; the last part of a chunk's
heading path must equal one); ``source: null`` marks a question the documents cannot answer (used to
check that the answer chain declines).

Retrieval metrics, with binary relevance (a chunk is relevant when it is from the expected section):
recall@k (a relevant chunk in the top k), MRR (1 / rank of the first relevant chunk) and nDCG@10
(DCG of the ranking over the ideal DCG given how many relevant chunks the store holds).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmgen.errors import InputError
from lmgen.stores.knowledge import MODES, KnowledgeBase


@dataclass
class QAItem:
    question: str
    source: Path | None
    headings: tuple[str, ...]
    lang: str = ""

    @property
    def answerable(self) -> bool:
        return self.source is not None

    def is_relevant(self, source: str, heading: str) -> bool:
        if self.source is None or Path(source) != self.source:
            return False
        if not self.headings:
            return True
        return heading.split(" > ")[-1].strip() in self.headings


def _resolve(raw: str, qa_path: Path) -> Path:
    p = Path(raw).expanduser()
    if p.is_absolute():
        return p.resolve()
    from lmgen.stores.corpora import corpora_dir

    for base in (*qa_path.resolve().parents, Path.cwd(), corpora_dir()):
        if (base / p).exists():
            return (base / p).resolve()
    raise InputError(f"{qa_path.name}: expected source {raw!r} not found next to the QA file or here")


def load_qa(path: Path) -> list[QAItem]:
    """Read a QA file. Raises :class:`InputError` for a missing file, bad JSON or missing fields."""
    if not path.is_file():
        raise InputError(f"QA file {path} not found")
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question = str(row["question"]).strip()
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path.name}:{n}: expected a JSON object with a 'question'") from exc
        heading = row.get("heading")
        headings = tuple(heading) if isinstance(heading, list) else ((heading,) if heading else ())
        source = _resolve(row["source"], path) if row.get("source") else None
        items.append(QAItem(question, source, headings, str(row.get("lang", ""))))
    if not items:
        raise InputError(f"QA file {path} has no questions")
    return items


def ranking_metrics(
    relevance: Sequence[bool], n_relevant: int, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """recall@k, reciprocal rank and nDCG@10 of one ranked list of relevance flags."""
    out = {f"recall@{k}": float(any(relevance[:k])) for k in ks}
    first = next((i for i, r in enumerate(relevance) if r), None)
    out["mrr"] = 1.0 / (first + 1) if first is not None else 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(relevance[:10]) if r)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(max(n_relevant, 1), 10)))
    out["ndcg@10"] = dcg / ideal
    return out


def _relevant_in_store(kb: KnowledgeBase, item: QAItem) -> int:
    got = kb.collection.get(where={"source": str(item.source)}, include=["metadatas"])
    return sum(item.is_relevant(str(m["source"]), str(m.get("heading", ""))) for m in got["metadatas"] or [])


TRANSLATED_MODE = "hybrid+translate"


def evaluate_retrieval(
    kb: KnowledgeBase,
    items: Sequence[QAItem],
    modes: Sequence[str] = MODES,
    k: int = 10,
    translator: Callable[[str, str], str] | None = None,
) -> dict[str, Any]:
    """Mean metrics per mode (and per language), plus per-question ranks of the first relevant chunk.

    With a ``translator`` a further mode, ``hybrid+translate``, searches across languages
    (:func:`lmgen.chains.crosslingual.search_across_languages`); its latency includes the model call,
    and ``translated`` counts the questions it translated.
    """
    from lmgen.chains.crosslingual import search_across_languages

    answerable = [q for q in items if q.answerable]
    if not answerable:
        raise InputError("the QA file has no answerable questions (with a 'source')")
    n_rel = {q.question: _relevant_in_store(kb, q) for q in answerable}
    missing = [q.question for q in answerable if n_rel[q.question] == 0]
    summary: dict[str, Any] = {}
    per_question: dict[str, dict[str, int | None]] = {q.question: {} for q in answerable}
    runs: list[tuple[str, str, Callable[[str, str], str] | None]] = [(m, m, None) for m in modes]
    if translator is not None:
        runs.append((TRANSLATED_MODE, "hybrid", translator))
    for name, mode, translate in runs:
        rows: list[tuple[str, dict[str, float]]] = []
        latencies = []
        translated = 0
        for q in answerable:
            start = time.perf_counter()
            if translate is None:
                hits = kb.search(q.question, k=k, mode=mode)  # type: ignore[arg-type]
            else:
                hits, info = search_across_languages(kb, q.question, translate, k=k)
                translated += bool(info.translated)
            latencies.append((time.perf_counter() - start) * 1000)
            flags = [q.is_relevant(h.source, h.heading) for h in hits]
            rows.append((q.lang, ranking_metrics(flags, n_rel[q.question])))
            per_question[q.question][name] = next((i + 1 for i, f in enumerate(flags) if f), None)
        summary[name] = _mean([m for _, m in rows]) | {
            "latency_ms_p50": _percentile(latencies, 50),
            "latency_ms_p95": _percentile(latencies, 95),
        }
        if translate is not None:
            summary[name]["translated"] = translated
        for lang in sorted({lang for lang, _ in rows if lang}):
            summary[name][lang] = _mean([m for lg, m in rows if lg == lang])
    return {
        "questions": len(answerable),
        "k": k,
        "modes": summary,
        "missing_in_store": missing,
        "ranks": per_question,
    }


def evaluate_answers(
    answer: Callable[[str], Any], items: Sequence[QAItem], limit: int | None = None
) -> dict[str, Any]:
    """Run the answer chain; citation accuracy, faithfulness and declines.

    ``answer`` maps a question to a :class:`~lmgen.chains.rag.RagAnswer`. Citation accuracy: share of
    answered questions whose cited chunks include the expected source file. Faithfulness: mean share of
    answer sentences supported by a cited chunk. Declines are counted separately for answerable and
    unanswerable questions.
    """
    chosen = list(items)[:limit] if limit else list(items)
    answered = cited_right = declined_answerable = declined_unanswerable = 0
    faith: list[float] = []
    rows = []
    for q in chosen:
        result = answer(q.question)
        cited_sources = {Path(s["source"]) for s in result.sources if s.get("cited")}
        if q.answerable:
            if result.declined:
                declined_answerable += 1
            else:
                answered += 1
                cited_right += int(q.source in cited_sources)
                if result.faithfulness is not None:
                    faith.append(result.faithfulness)
        elif result.declined:
            declined_unanswerable += 1
        rows.append(
            {
                "question": q.question,
                "answer": result.answer,
                "declined": result.declined,
                "citations": result.citations,
                "faithfulness": result.faithfulness,
                "seconds": round((result.retrieval_ms + result.answer_ms) / 1000, 2),
            }
        )
    n_answerable = sum(q.answerable for q in chosen)
    n_unanswerable = len(chosen) - n_answerable
    return {
        "questions": len(chosen),
        "citation_accuracy": round(cited_right / answered, 3) if answered else None,
        "faithfulness": round(sum(faith) / len(faith), 3) if faith else None,
        "answered": answered,
        "declined_answerable": declined_answerable,
        "decline_rate_unanswerable": round(declined_unanswerable / n_unanswerable, 3)
        if n_unanswerable
        else None,
        "answers": rows,
    }


def _mean(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = rows[0].keys() if rows else []
    return {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in keys}


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    idx = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return round(ordered[idx], 2)
