"""NgramModel: fit on sentences, score with KenLM/SRILM conventions, sample, save, ARPA.

Conventions (as KenLM and SRILM): ``<s>`` is context only and never scored; ``</s>`` is
predicted and counted; log probabilities are base 10; ``ppl = 10^(-log10_prob / tokens)``;
out-of-vocabulary words map to ``<unk>`` and perplexity is reported with and without them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmgen.errors import InputError, LmgenError
from lmgen.models.ngram.backoff import BackoffTables
from lmgen.models.ngram.counts import (
    BOS,
    BOS_ID,
    EOS,
    EOS_ID,
    UNK_ID,
    NgramCounts,
    Vocabulary,
    flatten,
    layout,
    ngram_index,
    position_indices,
)
from lmgen.models.ngram.smoothing import (
    BackoffSmoothing,
    CountSmoothing,
    LoadedTables,
    Smoothing,
    make_smoothing,
)
from lmgen.models.ngram.tokenize import get_tokenizer

MAX_ORDER = 6
FORMAT_VERSION = 1


@dataclass
class TokenScore:
    """One predicted token: its log10 probability, the n-gram order that matched, OOV flag."""

    token: str
    log10_prob: float
    order: int  # n-gram order actually used (lower than the context allows = backoff)
    context: int  # order the context would allow (min(n, words before + 1))
    oov: bool

    @property
    def backoff(self) -> bool:
        return self.order < self.context

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "log10_prob": _finite_or_str(self.log10_prob),
            "order": self.order,
            "backoff": self.backoff,
            "oov": self.oov,
        }


def _finite_or_str(x: float) -> float | str:
    """JSON has no infinities: MLE's zero probability is reported as the string '-inf'/'inf'."""
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


class NgramModel:
    """An n-gram language model of order 1–6.

    Args:
        order: n (1–6).
        smoothing: a :class:`Smoothing` or its name (``mle``, ``add-k``, ``witten-bell``,
            ``kneser-ney``, ``stupid-backoff``).
        tokenizer: ``regex``, ``whitespace``, ``syllable``, ``eojeol`` or ``morpheme``.
        lowercase: lower-case text before tokenizing.
        min_count: words seen fewer times become ``<unk>``.
        **smoothing_params: passed to the smoothing (``k`` for add-k, ``alpha`` for stupid backoff).
    """

    def __init__(
        self,
        order: int = 3,
        smoothing: str | Smoothing = "kneser-ney",
        tokenizer: str = "regex",
        lowercase: bool = False,
        min_count: int = 1,
        **smoothing_params: Any,
    ) -> None:
        if not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
            raise InputError(f"order must be between 1 and {MAX_ORDER}, got {order}")
        self.order = order
        self.smoothing = (
            make_smoothing(smoothing, **smoothing_params) if isinstance(smoothing, str) else smoothing
        )
        self.tokenizer_name = tokenizer
        self.lowercase = lowercase
        self.min_count = min_count
        self._tokenize = get_tokenizer(tokenizer, lowercase)
        self.vocab: Vocabulary | None = None
        self.counts: NgramCounts | None = None
        self.tables: BackoffTables | None = None
        self._ctx_totals: list[np.ndarray] = []
        self.info: dict[str, Any] = {}

    # ------------------------------------------------------------------ fitting
    def tokenize(self, sentence: str) -> list[str]:
        return self._tokenize(sentence)

    def fit(self, sentences: Iterable[str | Sequence[str]], progress: bool = False) -> NgramModel:
        """Count and smooth. ``sentences`` are strings (tokenized here) or token lists.

        Raises:
            InputError: no sentence has a token.
        """
        from tqdm import tqdm

        start = time.perf_counter()
        tokenized = [
            self._as_tokens(s)
            for s in tqdm(sentences, desc="tokenize", unit=" sent", disable=not progress, leave=False)
        ]
        tokenized = [t for t in tokenized if t]
        if not tokenized:
            raise InputError("the corpus has no tokens")
        flat, lengths = flatten(tokenized)
        self.vocab, words = Vocabulary.build_with_ids(flat, self.min_count)
        self.counts = NgramCounts.from_ids(words, lengths, self.order, len(self.vocab))
        if isinstance(self.smoothing, BackoffSmoothing):
            self.tables = self.smoothing.tables(self.counts)
        self._prepare_count_scoring()
        self.info = {
            "order": self.order,
            "smoothing": self.smoothing.name,
            "tokens": self.counts.tokens,
            "vocab": len(self.vocab),
            "ngrams": self.counts.num_ngrams(),
            "sentences": len(lengths),
            "seconds": round(time.perf_counter() - start, 3),
            "notes": self.smoothing.notes(),
        }
        return self

    def _as_tokens(self, sentence: str | Sequence[str]) -> list[str]:
        if isinstance(sentence, str):
            return self._tokenize(sentence)
        return sentence if isinstance(sentence, list) else list(sentence)

    def _prepare_count_scoring(self) -> None:
        if self.counts is None:
            return
        c = self.counts
        self._ctx_totals = [np.array([float(c.counts[0].sum())])] + [
            c.context_totals(k, c.counts[k - 1].astype(np.float64)) for k in range(2, self.order + 1)
        ]

    def _require(self) -> Vocabulary:
        if self.vocab is None:
            raise LmgenError("the model is not trained: call fit() or load one")
        return self.vocab

    # ------------------------------------------------------------------ scoring
    def _encode(self, sentences: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated word ids and sentence lengths; ``<s>``/``</s>`` typed in text are unknown words."""
        vocab = self._require()
        flat, lengths = flatten(sentences)
        ids = vocab.ids(flat)
        ids[(ids == BOS_ID) | (ids == EOS_ID)] = UNK_ID
        return ids, lengths

    def score_ids(
        self, words: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Score id-encoded sentences (``</s>`` added) in one vectorized pass.

        Args:
            words: the word ids of all sentences, concatenated.
            lengths: words per sentence.

        Returns:
            ``(logp, order_used, context_order, token_ids)`` for every predicted token, in order.
        """
        tokens, starts = layout(words, lengths)
        keep = tokens != BOS_ID
        context = np.minimum(np.arange(len(tokens)) - starts + 1, self.order)
        if self.tables is not None:
            logp, used = self.tables.score_positions(tokens, starts)
        else:
            logp, used = self._score_counts(tokens, starts, context)
        return logp[keep], used[keep], context[keep], tokens[keep]

    def _score_counts(
        self, tokens: np.ndarray, starts: np.ndarray, context: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Count-based smoothing: the full available order, c(h w) and c(h), no backoff."""
        c = self.counts
        assert c is not None and isinstance(self.smoothing, CountSmoothing)
        idx = position_indices(tokens, starts, c.keys, c.vocab_size)
        c_hw = np.zeros(len(tokens))
        c_h = np.zeros(len(tokens))
        for k in range(1, self.order + 1):
            at = context == k
            found = at & (idx[k - 1] >= 0)
            c_hw[found] = c.counts[k - 1][idx[k - 1][found]]
            if k == 1:
                c_h[at] = self._ctx_totals[0][0]
            else:
                prev = np.full(len(tokens), -1, dtype=np.int64)
                prev[1:] = idx[k - 2][:-1]
                ctx_found = at & (prev >= 0)
                c_h[ctx_found] = self._ctx_totals[k - 1][prev[ctx_found]]
        logp = self.smoothing.log10(c_hw, c_h, c.vocab_size)
        return logp, np.where(c_hw > 0, context, 0)

    def full_scores(self, sentence: str | Sequence[str]) -> list[TokenScore]:
        """Per-token scores of one sentence, ``</s>`` last (like KenLM's ``full_scores``)."""
        tokens = self._as_tokens(sentence)
        logp, used, ctx, ids = self.score_ids(*self._encode([tokens]))
        names = [*tokens, EOS]
        return [
            TokenScore(names[i], float(logp[i]), int(used[i]), int(ctx[i]), bool(ids[i] == UNK_ID))
            for i in range(len(names))
        ]

    def logscore(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 p(word | context); ``context`` may start with ``<s>``. (nltk.lm's logscore is base 2.)"""
        vocab = self._require()
        ctx_ids = [BOS_ID if w == BOS else vocab.index.get(w, UNK_ID) for w in context]
        target = EOS_ID if word == EOS else vocab.index.get(word, UNK_ID)
        dist = self.distribution(np.array(ctx_ids, dtype=np.int64))
        return float(dist[target])

    def score(self, word: str, context: Sequence[str] = ()) -> float:
        """p(word | context) (not log)."""
        return float(10.0 ** self.logscore(word, context))

    def distribution(self, context: np.ndarray) -> np.ndarray:
        """log10 p(w | context) for every word id (``<s>``: -inf)."""
        self._require()
        if self.tables is not None:
            return self.tables.distribution(context)
        c = self.counts
        assert c is not None and isinstance(self.smoothing, CountSmoothing)
        ctx = (
            np.asarray(context, dtype=np.int64)[len(context) - (self.order - 1) :]
            if self.order > 1
            else context[:0]
        )
        k = len(ctx) + 1
        c_hw = np.zeros(c.vocab_size)
        if k == 1:
            c_hw = c.counts[0].astype(np.float64)
            c_h = self._ctx_totals[0][0]
        else:
            h = ngram_index(c.keys, ctx, c.vocab_size)
            c_h = float(self._ctx_totals[k - 1][h]) if h >= 0 else 0.0
            if h >= 0:
                ext = c.extensions(k, h)
                c_hw[c.keys[k - 1][ext] % c.vocab_size] = c.counts[k - 1][ext]
        logp = self.smoothing.log10(c_hw, np.full(c.vocab_size, c_h), c.vocab_size)
        logp[BOS_ID] = -np.inf
        return logp

    def perplexity(self, sentences: Iterable[str | Sequence[str]], per_token: bool = False) -> dict[str, Any]:
        """Perplexity of sentences (strings are tokenized; one sentence each).

        Returns:
            ``ppl``, ``ppl_excl_oov``, ``log10_prob``, ``tokens``, ``oov``, ``sentences``,
            ``zero_prob`` (tokens with probability 0: MLE only), ``normalized``, ``notes``
            and, with ``per_token``, a list per sentence of token scores.

        Raises:
            InputError: nothing to score.
        """
        self._require()
        tokenized = [t for t in (self._as_tokens(s) for s in sentences) if t]
        if not tokenized:
            raise InputError("no text to score")
        logp, used, ctx, ids = self.score_ids(*self._encode(tokenized))
        oov_mask = ids == UNK_ID  # as KenLM counts them: every word outside the vocabulary
        if int(oov_mask.sum()) == sum(len(t) for t in tokenized):
            raise InputError(
                "every word is outside the model's vocabulary: its perplexity would only measure <unk>",
                hint="check the language, tokenizer and lower-casing",
            )
        total = float(logp.sum())
        n = len(logp)
        n_oov = int(oov_mask.sum())
        in_vocab = float(logp[~oov_mask].sum())
        result: dict[str, Any] = {
            "ppl": _ppl(total, n),
            "ppl_excl_oov": _ppl(in_vocab, n - n_oov),
            "log10_prob": total,
            "tokens": n,
            "oov": n_oov,
            "sentences": len(tokenized),
            "zero_prob": int(np.isneginf(logp).sum()),
            "normalized": self.smoothing.normalized,
            "order": self.order,
            "smoothing": self.smoothing.name,
            "notes": self.smoothing.notes()
            if (not self.smoothing.normalized or np.isneginf(logp).any())
            else [],
        }
        if per_token:
            flat = [w for t in tokenized for w in (*t, EOS)]
            bounds = np.cumsum([0] + [len(t) + 1 for t in tokenized])
            result["per_token"] = [
                [
                    TokenScore(
                        flat[i], float(logp[i]), int(used[i]), int(ctx[i]), bool(oov_mask[i])
                    ).to_json()
                    for i in range(bounds[s], bounds[s + 1])
                ]
                for s in range(len(tokenized))
            ]
        return result

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        max_words: int = 30,
        temperature: float = 1.0,
        seed: int | None = None,
        prefix: Sequence[str] = (),
    ) -> list[str]:
        """Sample one sentence word by word from p(w | last n-1 words) until ``</s>``.

        ``<unk>`` is never sampled. Temperature < 1 sharpens, > 1 flattens the distribution.
        """
        vocab = self._require()
        if temperature <= 0:
            raise InputError("temperature must be > 0")
        rng = np.random.default_rng(seed)
        history = [BOS_ID] + [vocab.index.get(w, UNK_ID) for w in prefix]
        out = list(prefix)
        for _ in range(max_words):
            logp = self.distribution(np.array(history, dtype=np.int64))
            logp[UNK_ID] = -np.inf
            weights = np.exp((logp - np.max(logp)) * math.log(10) / temperature)
            total = weights.sum()
            if not total > 0:
                break
            nxt = int(rng.choice(len(weights), p=weights / total))
            if nxt == EOS_ID:
                break
            out.append(vocab.words[nxt])
            history.append(nxt)
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save as a compressed ``.npz`` of plain arrays (no pickle) plus JSON metadata."""
        vocab = self._require()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "order": self.order,
            "smoothing": self.smoothing.name,
            "params": self.smoothing.params(),
            "tokenizer": self.tokenizer_name,
            "lowercase": self.lowercase,
            "min_count": self.min_count,
            "info": self.info,
        }
        arrays: dict[str, np.ndarray] = {
            "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            "vocab": np.frombuffer("\n".join(vocab.words).encode(), dtype=np.uint8),
        }
        if self.counts is not None:
            for k in range(1, self.order + 1):
                arrays[f"keys{k}"] = self.counts.keys[k - 1]
                arrays[f"counts{k}"] = self.counts.counts[k - 1]
        if self.tables is not None:
            for k in range(1, self.order + 1):
                arrays[f"tkeys{k}"] = self.tables.keys[k - 1]
                arrays[f"prob{k}"] = self.tables.prob[k - 1]
                arrays[f"bow{k}"] = self.tables.bow[k - 1]
        with path.open("wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        return path

    @staticmethod
    def saved_info(path: str | Path) -> dict[str, Any]:
        """The training summary of a saved ``.npz`` model, without loading its arrays.

        Raises:
            LmgenError: not an lmgen model file.
        """
        try:
            with np.load(Path(path), allow_pickle=False) as data:  # members decompress on access only
                return dict(json.loads(data["meta"].tobytes().decode()).get("info", {}))
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise LmgenError(f"{path} is not an lmgen n-gram model ({exc})") from exc

    @classmethod
    def load(cls, path: str | Path) -> NgramModel:
        """Load a model saved by :meth:`save`, or any ARPA file (``.arpa``, ``.arpa.gz``, or by content).

        Raises:
            LmgenError: missing, unreadable or corrupt file.
        """
        from lmgen.models.ngram.arpa import looks_like_arpa, read_arpa

        path = Path(path)
        if not path.is_file():
            raise LmgenError(f"n-gram model not found: {path}")
        if looks_like_arpa(path):
            return read_arpa(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(data["meta"].tobytes().decode())
                words = data["vocab"].tobytes().decode().split("\n")
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise LmgenError(f"{path} is not an lmgen n-gram model or ARPA file ({exc})") from exc
        if meta.get("format") != FORMAT_VERSION:
            raise LmgenError(f"{path}: unsupported model format {meta.get('format')}")
        smoothing: str | Smoothing = LoadedTables() if meta["smoothing"] == "arpa" else meta["smoothing"]
        model = cls(
            order=meta["order"],
            smoothing=smoothing,
            tokenizer=meta["tokenizer"],
            lowercase=meta["lowercase"],
            min_count=meta["min_count"],
            **{k: v for k, v in meta["params"].items() if k in {"k", "alpha"}},
        )
        model.vocab = Vocabulary(words)
        model.info = meta.get("info", {})
        n = model.order
        if "keys1" in arrays:
            counts = NgramCounts(order=n, vocab_size=len(words))
            counts.keys = [arrays[f"keys{k}"] for k in range(1, n + 1)]
            counts.counts = [arrays[f"counts{k}"] for k in range(1, n + 1)]
            counts.prefix = [np.empty(0, np.int64)] + [counts.keys[k] // len(words) for k in range(1, n)]
            model.counts = counts
            model._prepare_count_scoring()
        if "prob1" in arrays:
            model.tables = BackoffTables(
                keys=[arrays[f"tkeys{k}"] for k in range(1, n + 1)],
                prob=[arrays[f"prob{k}"] for k in range(1, n + 1)],
                bow=[arrays[f"bow{k}"] for k in range(1, n + 1)],
                vocab_size=len(words),
            )
        return model

    def to_arpa(self, path: str | Path) -> Path:
        """Write the model as an ARPA file (backoff form; ``.gz`` compresses).

        Raises:
            LmgenError: count-based smoothing (MLE, add-k) has no backoff form.
        """
        from lmgen.models.ngram.arpa import write_arpa

        vocab = self._require()
        if self.tables is None:
            raise LmgenError(
                f"{self.smoothing.name} has no backoff form to write as ARPA; "
                "use kneser-ney, witten-bell or stupid-backoff"
            )
        return write_arpa(path, vocab.words, self.tables)


def _ppl(log10_total: float, n: int) -> float:
    if n <= 0:
        return float("nan")
    return float(10.0 ** (-log10_total / n)) if math.isfinite(log10_total) else float("inf")
