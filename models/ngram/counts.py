"""Vocabulary and vectorized n-gram counting.

An n-gram of order k is identified by a key ``prefix_index * V + last_word`` where
``prefix_index`` is the index of its first k-1 words among the (k-1)-grams (unigrams are
indexed by word id). Keys of each order are kept sorted, so looking up any batch of n-grams
is a ``np.searchsorted`` per order — no per-n-gram Python objects anywhere.

Sentences are laid out as one flat int32 array ``[<s> w1 … wm </s> <s> …]``; ``starts[i]`` is
the position of the ``<s>`` that opens the sentence of position i (one ``<s>`` only, as in
KenLM: the first word has the context ``<s>``, never ``<s> <s>``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lmgen.errors import InputError

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2


class Vocabulary:
    """Word ↔ id with ``<unk>`` = 0, ``<s>`` = 1, ``</s>`` = 2; the rest by falling frequency."""

    def __init__(self, words: Sequence[str]) -> None:
        if list(words[:3]) != [UNK, BOS, EOS]:
            raise ValueError("a vocabulary starts with <unk>, <s>, </s>")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("duplicate words in vocabulary")

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> Vocabulary:
        """Words seen at least ``min_count`` times (rarer words become ``<unk>``)."""
        if min_count < 1:
            raise InputError("min_count must be at least 1")
        freq: Counter[str] = Counter()
        for sent in sentences:
            freq.update(sent)
        for special in (UNK, BOS, EOS):
            freq.pop(special, None)
        kept = sorted((w for w, c in freq.items() if c >= min_count), key=lambda w: (-freq[w], w))
        return cls([UNK, BOS, EOS, *kept])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        get = self.index.get
        return np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int32, count=len(tokens))


def layout(sentences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Flat ``[<s> … </s>]*`` token array and, per position, the position of its ``<s>``."""
    lengths = np.fromiter((len(s) + 2 for s in sentences), dtype=np.int64, count=len(sentences))
    total = int(lengths.sum())
    tokens = np.empty(total, dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    tokens[offsets] = BOS_ID
    tokens[offsets + lengths - 1] = EOS_ID
    for off, sent in zip(offsets, sentences, strict=True):
        tokens[off + 1 : off + 1 + len(sent)] = sent
    starts = np.repeat(offsets, lengths)
    return tokens, starts


def position_indices(
    tokens: np.ndarray, starts: np.ndarray, keys: Sequence[np.ndarray], vocab_size: int
) -> list[np.ndarray]:
    """For each order k, the index of the k-gram ending at each position, or -1 if unknown.

    ``keys[k-1]`` are the sorted keys of order k (``keys[0]`` is unused: unigrams are word ids).
    """
    pos = np.arange(len(tokens), dtype=np.int64)
    out = [tokens.astype(np.int64)]
    for k in range(2, len(keys) + 1):
        prev = np.full(len(tokens), -1, dtype=np.int64)
        prev[1:] = out[-1][:-1]
        valid = (pos - (k - 1) >= starts) & (prev >= 0)
        key = prev[valid] * vocab_size + tokens[valid]
        table = keys[k - 1]
        idx = np.searchsorted(table, key)
        idx_clip = np.minimum(idx, max(len(table) - 1, 0))
        found = (idx < len(table)) & (table[idx_clip] == key) if len(table) else np.zeros(len(key), bool)
        cur = np.full(len(tokens), -1, dtype=np.int64)
        cur[np.flatnonzero(valid)[found]] = idx[found]
        out.append(cur)
    return out


@dataclass
class NgramCounts:
    """Raw counts of every n-gram of orders 1..order, plus the links between orders.

    For order k (index k-1 in every list):
      ``keys``   sorted int64 keys (k ≥ 2; ``keys[0]`` is ``arange(V)``),
      ``counts`` raw occurrence counts (for k = 1: per word id; ``<s>`` is never counted),
      ``prefix`` index of the first k-1 words in order k-1 (k ≥ 2),
      ``suffix`` index of the last k-1 words in order k-1 (k ≥ 2),
      ``left``   number of distinct words seen just before the k-gram (k < order): N1+(• g).
    """

    order: int
    vocab_size: int
    keys: list[np.ndarray] = field(default_factory=list)
    counts: list[np.ndarray] = field(default_factory=list)
    prefix: list[np.ndarray] = field(default_factory=list)
    suffix: list[np.ndarray] = field(default_factory=list)
    left: list[np.ndarray] = field(default_factory=list)
    starts_with_bos: list[np.ndarray] = field(default_factory=list)
    tokens: int = 0  # predicted tokens in the corpus (words + </s>)

    @classmethod
    def from_sentences(cls, sentences: Sequence[np.ndarray], order: int, vocab_size: int) -> NgramCounts:
        """Count all n-grams of orders 1..order in id-encoded sentences."""
        tokens, starts = layout(sentences)
        pos = np.arange(len(tokens), dtype=np.int64)
        self = cls(order=order, vocab_size=vocab_size)
        predicted = tokens != BOS_ID
        uni = np.bincount(tokens[predicted], minlength=vocab_size).astype(np.int64)
        self.keys.append(np.arange(vocab_size, dtype=np.int64))
        self.counts.append(uni)
        self.prefix.append(np.empty(0, np.int64))
        self.suffix.append(np.empty(0, np.int64))
        self.starts_with_bos.append(np.arange(vocab_size) == BOS_ID)
        self.tokens = int(predicted.sum())
        pos_idx = [tokens.astype(np.int64)]  # per order: index of the k-gram ending at each position
        for k in range(2, order + 1):
            prev = np.full(len(tokens), -1, dtype=np.int64)
            prev[1:] = pos_idx[-1][:-1]
            valid = np.flatnonzero(pos - (k - 1) >= starts)
            key = prev[valid] * vocab_size + tokens[valid]
            uniq, first, inverse, cnt = np.unique(
                key, return_index=True, return_inverse=True, return_counts=True
            )
            cur = np.full(len(tokens), -1, dtype=np.int64)
            cur[valid] = inverse
            occurrence = valid[first]  # one position where each k-gram ends
            self.keys.append(uniq)
            self.counts.append(cnt.astype(np.int64))
            self.prefix.append(uniq // vocab_size)
            self.suffix.append(pos_idx[k - 2][occurrence])
            self.starts_with_bos.append(self.starts_with_bos[-1][self.prefix[-1]])
            pos_idx.append(cur)
        # N1+(• g): each distinct (k+1)-gram adds one left extension to its suffix k-gram.
        for k in range(1, order):
            sizes = len(self.counts[k - 1])
            self.left.append(np.bincount(self.suffix[k], minlength=sizes).astype(np.int64))
        self.left.append(np.zeros(0, np.int64))
        return self

    def num_ngrams(self) -> list[int]:
        """Distinct n-grams per order (unigrams: words seen, ``<s>`` included as a context)."""
        return [int((self.counts[0] > 0).sum()) + 1] + [len(k) for k in self.keys[1:]]

    def context_totals(self, k: int, values: np.ndarray) -> np.ndarray:
        """Σ over the k-grams sharing a (k-1)-gram prefix of ``values`` (k ≥ 2)."""
        return np.bincount(self.prefix[k - 1], weights=values, minlength=len(self.counts[k - 2]))

    def extensions(self, k: int, prefix_index: int) -> slice:
        """The k-grams whose first k-1 words are the (k-1)-gram ``prefix_index`` (contiguous)."""
        return extension_range(self.keys[k - 1], prefix_index, self.vocab_size)


def extension_range(keys: np.ndarray, prefix_index: int, vocab_size: int) -> slice:
    """Keys sort by prefix first, so the extensions of one prefix form one contiguous run."""
    lo = int(np.searchsorted(keys, prefix_index * vocab_size))
    hi = int(np.searchsorted(keys, (prefix_index + 1) * vocab_size))
    return slice(lo, hi)
