"""Held-out evaluation of a BERT checkpoint: MLM top-1/top-5 and NSP accuracy, next to baselines.

Held-out pairs are built exactly as in training (same masking rule, 50% random next sentences)
from documents the model never saw, with a fixed seed. The MLM baseline always guesses the
most frequent training tokens (top-1: the single most frequent, top-5: the five most frequent);
the NSP baseline is 50% (the classes are balanced). Beside NSP accuracy at P(IsNext) = 0.5,
:func:`nsp_separation` says how well the head's scores tell the two classes apart at all (AUC), and
the accuracy the best single cut-off would reach on the same pairs: an upper bound for any
re-calibration of the head, so a run that only moves the cut-off shows as a flat AUC.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from lmgen.errors import InputError
from lmgen.models.mlm.bert import load_bert
from lmgen.models.mlm.masking import IGNORE_INDEX
from lmgen.models.mlm.pretrain import (
    Pair,
    PairSampler,
    korean_document,
    make_batch,
    replacement_ids,
    tokenize_documents,
)
from lmgen.models.mlm.tokenizer import unk_share


def _frequent(tokenizer: Any, docs: list[list[str]], n: int = 5) -> list[int]:
    counts: Counter[int] = Counter()
    ids, _ = tokenize_documents(tokenizer, docs)
    for doc in ids:
        for sentence in doc:
            counts.update(sentence)
    specials = set(tokenizer.all_special_ids)
    return [t for t, _ in counts.most_common(n + len(specials)) if t not in specials][:n]


def _check_domains(docs: list[list[str]], domains: list[str]) -> None:
    """Raises InputError unless there is one domain per document."""
    if len(domains) != len(docs):
        raise InputError(f"{len(domains)} domains for {len(docs)} documents")


class _SourceLog:
    """A :class:`PairSampler` stand-in for :func:`make_batch` that notes each pair's A document."""

    def __init__(self, sampler: PairSampler) -> None:
        self.sampler = sampler
        self.sources: list[int] = []

    def pair(self, rng: np.random.Generator) -> Pair:
        pair = self.sampler.pair(rng)
        self.sources.append(self.sampler.last_source)
        return pair


def nsp_separation(is_next_p: np.ndarray, is_next: np.ndarray) -> dict[str, float]:
    """How well P(IsNext) separates IsNext pairs from NotNext ones, whatever the cut-off.

    ``auc``: the chance that a random IsNext pair scores above a random NotNext one (ties count
    half; the Mann-Whitney statistic). ``oracle_accuracy``: the accuracy at the best single cut-off
    on these very pairs (predict IsNext at P >= ``oracle_cutoff``), an optimistic bound for what
    re-calibrating the head could give.

    Raises:
        InputError: scores and labels of different lengths, or only one class among them.
    """
    p = np.asarray(is_next_p, dtype=np.float64)
    y = np.asarray(is_next, dtype=bool)
    if p.shape != y.shape or p.ndim != 1:
        raise InputError(f"{p.shape} scores for {y.shape} labels")
    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        raise InputError("NSP separation needs both IsNext and NotNext pairs")
    values, where, counts = np.unique(p, return_inverse=True, return_counts=True)
    # 1-based ranks, a tie sharing its average rank: AUC = (sum of IsNext ranks - pos(pos+1)/2) / (pos·neg)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[where]
    auc = (ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg)
    # cut-off k (IsNext at P >= values[k]): IsNext pairs at or above it, NotNext pairs below it;
    # the last entry is "NotNext for all"
    pos_at = np.bincount(where[y], minlength=len(values))
    neg_at = np.bincount(where[~y], minlength=len(values))
    right = np.append(pos - np.cumsum(pos_at) + pos_at + np.cumsum(neg_at) - neg_at, neg)
    best = int(np.argmax(right))
    return {
        "auc": round(float(auc), 4),
        "oracle_accuracy": round(float(right[best]) / len(p), 4),
        "oracle_cutoff": round(float(values[best]), 4) if best < len(values) else 1.0,
    }


def _score(
    bert: Any,
    docs: list[list[str]],
    pairs: int,
    seed: int,
    frequent: list[int],
    domains: list[str] | None = None,
) -> dict[str, Any]:
    import torch

    tok = bert.tokenizer
    ids, words = tokenize_documents(tok, docs)
    sampler = _SourceLog(PairSampler(ids, words, bert.max_length, "nsp", short_seq_prob=0.0))
    # NSP right / seen per (domain of A, label): which held-out pairs the head gets wrong
    tally: dict[tuple[str, int], list[int]] = {}
    is_next_p: list[float] = []
    is_next: list[bool] = []
    pool = replacement_ids(tok)
    top1 = top5 = base1 = base5 = targets_seen = nsp_right = 0
    frequent_t = torch.tensor(frequent)
    batch_size = 64
    encoder, head = bert.encoder_and_head()
    for start in range(0, pairs, batch_size):
        n = min(batch_size, pairs - start)
        rng = np.random.default_rng([seed, start])
        sampler.sources.clear()
        batch = make_batch(sampler, tok, rng, n, bert.max_length, 0.15, False, pool)
        width = int(batch["attention_mask"].sum(axis=1).max())
        inp = {
            k: torch.from_numpy(np.ascontiguousarray(v[:, :width]) if v.ndim == 2 else v)
            for k, v in batch.items()
        }
        labels = inp["labels"]
        target = labels != IGNORE_INDEX
        with torch.inference_mode():
            out = encoder(
                input_ids=inp["input_ids"].to(bert.device),
                token_type_ids=inp["token_type_ids"].to(bert.device),
                attention_mask=inp["attention_mask"].to(bert.device),
            )
            logits = head(out.last_hidden_state[target.to(bert.device)]).cpu()
            best = logits.topk(5, dim=-1).indices
            gold = labels[target]
            top1 += int((best[:, 0] == gold).sum())
            top5 += int((best == gold[:, None]).any(dim=1).sum())
            base1 += int((gold == frequent_t[0]).sum())
            base5 += int(torch.isin(gold, frequent_t).sum())
            targets_seen += len(gold)
            if bert.has_nsp_head:
                nsp_logits = bert.model.cls.seq_relationship(out.pooler_output).cpu()
                right = (nsp_logits.argmax(-1) == inp["next_sentence_label"]).tolist()
                nsp_right += sum(right)
                is_next_p += nsp_logits.softmax(-1)[:, 0].tolist()  # label 0 = IsNext
                is_next += (inp["next_sentence_label"] == 0).tolist()
                if domains is not None:
                    for source, label, ok in zip(
                        sampler.sources, batch["next_sentence_label"].tolist(), right, strict=True
                    ):
                        cell = tally.setdefault((domains[source], label), [0, 0])
                        cell[0] += int(ok)
                        cell[1] += 1
    result: dict[str, Any] = {
        "pairs": pairs,
        "masked_tokens": targets_seen,
        "mlm_top1": round(top1 / targets_seen, 4),
        "mlm_top5": round(top5 / targets_seen, 4),
        "baseline_top1": round(base1 / targets_seen, 4),
        "baseline_top5": round(base5 / targets_seen, 4),
    }
    if bert.has_nsp_head:
        result["nsp_accuracy"] = round(nsp_right / pairs, 4)
        if all(is_next) or not any(is_next):  # a tiny run can draw one class only
            result["nsp_separation"] = None
        else:
            result["nsp_separation"] = nsp_separation(np.array(is_next_p), np.array(is_next))
        if domains is not None:
            by_domain: dict[str, dict[str, dict[str, float]]] = {}
            for (domain, label), (ok, seen) in sorted(tally.items()):
                by_domain.setdefault(domain, {})["not_next" if label else "is_next"] = {
                    "pairs": seen,
                    "accuracy": round(ok / seen, 4),
                }
            result["nsp_by_domain"] = by_domain
    return result


def evaluate_checkpoint(
    path: str | Path,
    docs: list[list[str]],
    pairs: int = 2000,
    seed: int = 1234,
    baseline_docs: list[list[str]] | None = None,
    domains: list[str] | None = None,
) -> dict[str, Any]:
    """Score ``pairs`` held-out pairs overall (half English, half Korean when both are present).

    ``baseline_docs`` are the training documents the most-frequent-token baseline counts over
    (default: the held-out documents themselves, which flatters the baseline). With ``domains``
    (one per document) each language's result adds ``nsp_by_domain``: NSP accuracy on the IsNext
    and the NotNext pairs whose first segment came from each domain.

    Raises:
        InputError: not one domain per document.
    """
    return evaluate_model(
        load_bert(str(path)), docs, pairs, seed, baseline_docs, name=str(path), domains=domains
    )


def evaluate_model(
    bert: Any,
    docs: list[list[str]],
    pairs: int = 2000,
    seed: int = 1234,
    baseline_docs: list[list[str]] | None = None,
    name: str | None = None,
    domains: list[str] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate_checkpoint` for a model already in memory (a :class:`LoadedBert`)."""
    if bert.encoder_and_head() is None:
        raise InputError("held-out evaluation needs a BERT checkpoint (encoder + MLM head)")
    if domains is not None:
        _check_domains(docs, domains)
    frequent = _frequent(bert.tokenizer, baseline_docs or docs)
    korean = [korean_document(d) for d in docs]
    split = {"en": [i for i, k in enumerate(korean) if not k], "ko": [i for i, k in enumerate(korean) if k]}
    split = {lang: rows for lang, rows in split.items() if len(rows) >= 2}
    by_lang = {
        lang: _score(
            bert,
            [docs[i] for i in rows],
            max(1, pairs // len(split)),
            seed,
            frequent,
            None if domains is None else [domains[i] for i in rows],
        )
        for lang, rows in split.items()
    }
    total = sum(r["masked_tokens"] for r in by_lang.values())
    npairs = sum(r["pairs"] for r in by_lang.values())

    def weighted(key: str, by: str = "masked_tokens") -> float:
        denom = total if by == "masked_tokens" else npairs
        return round(sum(r[key] * r[by] for r in by_lang.values()) / denom, 4)

    share, count = unk_share(bert.tokenizer, (s for d in docs for s in d))
    metrics: dict[str, Any] = {
        "checkpoint": name or bert.name,
        "vocab_size": len(bert.tokenizer),
        "heldout_tokens": count,
        "heldout_unk_share": round(share, 6),
        "pairs": npairs,
        "seed": seed,
        "mlm_top1": weighted("mlm_top1"),
        "mlm_top5": weighted("mlm_top5"),
        "baseline_top1": weighted("baseline_top1"),
        "baseline_top5": weighted("baseline_top5"),
        "baseline_tokens": bert.tokenizer.convert_ids_to_tokens(frequent),
    }
    if bert.has_nsp_head:
        metrics["nsp_accuracy"] = weighted("nsp_accuracy", by="pairs")
        metrics["nsp_baseline"] = 0.5
    metrics["by_language"] = by_lang
    return metrics


def probe_hits(
    masker: Any, probes: list[dict[str, Any]], k: int = 5, same_script: bool = True
) -> dict[str, Any]:
    """Share of everyday probes (``{"lang", "text", "answers"}``, one ``[MASK]`` each) whose top-``k``
    fills contain an accepted answer, overall and per language, with each probe's candidates
    (``same_script`` as in :class:`~lmgen.models.mlm.fill_mask.FillMasker`)."""
    rows = []
    for probe in probes:
        candidates = masker(probe["text"], top_k=k, same_script=same_script)[0]
        top = [str(c["token_str"]).replace("##", "").strip().lower() for c in candidates]
        accepted = {a.lower() for a in probe["answers"]}
        rows.append(
            {"lang": probe["lang"], "text": probe["text"], "top": top, "hit": bool(accepted & set(top))}
        )
    by_language = {
        lang: round(
            sum(r["hit"] for r in rows if r["lang"] == lang) / max(1, sum(r["lang"] == lang for r in rows)), 4
        )
        for lang in sorted({r["lang"] for r in rows})
    }
    return {
        "k": k,
        "probes": len(rows),
        "hit_rate": round(sum(r["hit"] for r in rows) / max(1, len(rows)), 4),
        "by_language": by_language,
        "rows": rows,
    }


def _pair_accuracy(next_p: list[float], unrelated_p: list[float]) -> float:
    """Share right when every next pair should be IsNext and every unrelated one NotNext (at 0.5)."""
    right = sum(p > 0.5 for p in next_p) + sum(p < 0.5 for p in unrelated_p)
    return round(right / max(1, len(next_p) + len(unrelated_p)), 4)


def nsp_probe_scores(scorer: Any, probes: list[dict[str, Any]]) -> dict[str, Any]:
    """How a next-sentence head judges short everyday pairs (``{"lang", "a", "next", "unrelated"}``):
    ``accuracy`` over both pairs of every probe (the next one IsNext, the unrelated one NotNext, at
    0.5), ``ranked`` the share of probes whose next sentence gets the higher P(IsNext), and the mean
    ``margin`` between the two, overall and per language, with each probe's two probabilities."""
    pairs = [(p["a"], b) for p in probes for b in (p["next"], p["unrelated"])]
    scores = [r["is_next"] for r in scorer.is_next_batch(pairs)]
    rows = [
        {"lang": p["lang"], "a": p["a"], "next": scores[2 * i], "unrelated": scores[2 * i + 1]}
        for i, p in enumerate(probes)
    ]

    def summary(part: list[dict[str, Any]]) -> dict[str, float]:
        n = max(1, len(part))
        return {
            "accuracy": _pair_accuracy([r["next"] for r in part], [r["unrelated"] for r in part]),
            "ranked": round(sum(r["next"] > r["unrelated"] for r in part) / n, 4),
            "margin": round(sum(r["next"] - r["unrelated"] for r in part) / n, 4),
        }

    langs = sorted({r["lang"] for r in rows})
    return {
        "probes": len(rows),
        **summary(rows),
        "by_language": {lang: summary([r for r in rows if r["lang"] == lang]) for lang in langs},
        "rows": rows,
    }


def nsp_by_domain(
    scorer: Any, docs: list[list[str]], domains: list[str], pairs: int = 100, seed: int = 0
) -> dict[str, dict[str, float]]:
    """What a next-sentence head tells apart, one domain at a time, on single-sentence pairs.

    For ``pairs`` sentences A drawn from each domain's documents (``domains[i]`` names
    ``docs[i]``'s), three partners are scored: the sentence after A (``next``), a sentence from
    another document of the same domain (``same_domain``: only the topic differs), and one from a
    document of another domain in A's language (``other_domain``: style and topic differ). A head
    that learned coherence scores both unrelated partners low; one that learned a shortcut (this
    reads like a dialogue, that like a help page) scores ``same_domain`` nearly as high as ``next``.
    Each domain gets its number of sentences, the three mean P(IsNext) and two accuracies (the next
    pair and the unrelated one each judged at 0.5; ``other_domain`` only where the language has
    another domain).
    """
    _check_domains(docs, domains)
    lang = ["ko" if korean_document(d) else "en" for d in docs]
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for domain in sorted(set(domains)):
        mine = [i for i, d in enumerate(domains) if d == domain and len(docs[i]) >= 2]
        if len(mine) < 2:
            continue
        others = {
            code: [o for o, d in enumerate(domains) if d != domain and lang[o] == code and docs[o]]
            for code in ("en", "ko")
        }
        triples: list[tuple[str, str, str, str | None]] = []
        for _ in range(pairs):
            i = int(rng.choice(mine))
            j = int(rng.integers(len(docs[i]) - 1))
            k = int(rng.choice([m for m in mine if m != i]))
            far = None
            if others[lang[i]]:
                o = int(rng.choice(others[lang[i]]))
                far = docs[o][int(rng.integers(len(docs[o])))]
            triples.append((docs[i][j], docs[i][j + 1], docs[k][int(rng.integers(len(docs[k])))], far))
        batch = [(a, b) for a, nxt, same, far in triples for b in (nxt, same, far) if b is not None]
        scores = iter(r["is_next"] for r in scorer.is_next_batch(batch))
        nxt_p, same_p, far_p = [], [], []
        for _a, _n, _s, far in triples:
            nxt_p.append(next(scores))
            same_p.append(next(scores))
            if far is not None:
                far_p.append(next(scores))
        row = {
            "pairs": len(triples),
            "next": round(float(np.mean(nxt_p)), 4),
            "same_domain": round(float(np.mean(same_p)), 4),
            "accuracy_same_domain": _pair_accuracy(nxt_p, same_p),
        }
        if far_p:
            row["other_domain"] = round(float(np.mean(far_p)), 4)
            row["accuracy_other_domain"] = _pair_accuracy(nxt_p, far_p)
        out[domain] = row
    return out
