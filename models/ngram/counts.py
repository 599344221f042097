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

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, count, repeat

import numpy as np

from lmgen.errors import InputError
from lmgen.models.ngram import kernel

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
        self._table: kernel.WordTable | None = None  # the C kernel's copy, built on first use
        self._table_unusable = False

    @classmethod
    def build_with_ids(cls, words: list[str], min_count: int = 1) -> tuple[Vocabulary, np.ndarray]:
        """Vocabulary and the ids of ``words`` in one pass over the tokens (for training).

        Each token is tagged with its word's order of first occurrence (C kernel, or
        ``dict.setdefault`` without it); frequencies and renumbering are integer work in NumPy.
        """
        if min_count < 1:
            raise InputError("min_count must be at least 1")
        names, dense = _first_occurrence_ids(words)
        freq = np.bincount(dense, minlength=len(names)).tolist()  # plain ints: fast to compare
        keep = [i for i, w in enumerate(names) if freq[i] >= min_count and w not in (UNK, BOS, EOS)]
        keep.sort(key=lambda i: (-freq[i], names[i]))
        new_id = np.full(len(names), UNK_ID, dtype=np.int32)
        new_id[keep] = np.arange(3, 3 + len(keep), dtype=np.int32)
        return cls([UNK, BOS, EOS, *(names[i] for i in keep)]), new_id[dense]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def _kernel_table(self) -> kernel.WordTable | None:
        """The C kernel's copy of the words; None without the kernel or when a word holds whitespace
        (then the kernel cannot split text into these words, and the dict does the lookups)."""
        if not kernel.available() or self._table_unusable:
            return None
        if self._table is None:
            try:
                self._table = kernel.WordTable(self.words)
            except ValueError:
                self._table_unusable = True
        return self._table

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of a flat token list (unknown words → ``<unk>``)."""
        table = self._kernel_table() if len(tokens) > 256 else None
        if table is not None:
            found, _ = table.encode(" ".join(tokens))
            if len(found) == len(tokens):  # else a token holds whitespace: use the dict
                return np.where(found >= 0, found, UNK_ID).astype(np.int32)
        return np.fromiter(map(self.index.get, tokens, repeat(UNK_ID)), dtype=np.int32, count=len(tokens))


def _first_occurrence_ids(words: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct words in order of first occurrence, and each token's index among them."""
    if kernel.available():
        table = kernel.WordTable(expected=1 << 16)
        ids, _ = table.encode(" ".join(words), add=True)
        if len(ids) == len(words):
            return table.words(), ids
    seen: dict[str, int] = {}
    tagged = np.fromiter(map(seen.setdefault, words, count()), dtype=np.int64, count=len(words))
    first, dense = np.unique(tagged, return_inverse=True)
    return [words[i] for i in first.tolist()], dense


def flatten(sentences: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """All tokens in one list, and each sentence's length."""
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    return list(chain.from_iterable(sentences)), lengths


def layout(words: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat ``[<s> … </s>]*`` token array and, per position, the position of its ``<s>``.

    Args:
        words: the ids of every sentence's words, concatenated.
        lengths: words per sentence.
    """
    padded = lengths + 2
    offsets = np.concatenate([[0], np.cumsum(padded)[:-1]]).astype(np.int64)
    tokens = np.empty(int(padded.sum()), dtype=np.int32)
    is_word = np.ones(len(tokens), dtype=bool)
    is_word[offsets] = False
    is_word[offsets + padded - 1] = False
    tokens[offsets] = BOS_ID
    tokens[offsets + padded - 1] = EOS_ID
    tokens[is_word] = words
    return tokens, np.repeat(offsets, padded)


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
        idx = find_keys(keys[k - 1], key)
        cur = np.full(len(tokens), -1, dtype=np.int64)
        cur[valid] = idx
        out.append(cur)
    return out


_KEY_TABLES: dict[int, tuple[weakref.ref[np.ndarray], kernel.KeyTable]] = {}  # explicit cache


def _key_table(table: np.ndarray) -> kernel.KeyTable:
    entry = _KEY_TABLES.get(id(table))
    if entry is not None and entry[0]() is table:
        return entry[1]
    key = id(table)
    cache = _KEY_TABLES  # bound here: module globals may be gone when the callback runs at exit

    def forget(_ref: object) -> None:
        cache.pop(key, None)

    _KEY_TABLES[key] = (weakref.ref(table, forget), kernel.KeyTable(table))
    return _KEY_TABLES[key][1]


def find_keys(table: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """Positions of ``needles`` in the sorted ``table``, -1 where absent.

    With the C kernel: a hash table per key array (built once, dropped with the array).
    Without: needles are searched in sorted order (then put back), so neighbouring searches
    touch the same cache lines — about 3x faster than random order on large tables.
    """
    if len(table) == 0 or len(needles) == 0:
        return np.full(len(needles), -1, dtype=np.int64)
    if kernel.available():
        return _key_table(table).find(needles)
    order = np.argsort(needles)
    idx = np.empty(len(needles), dtype=np.int64)
    idx[order] = np.searchsorted(table, needles[order])
    clipped = np.minimum(idx, len(table) - 1)
    return np.where(table[clipped] == needles, clipped, -1)


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
        """Count all n-grams of orders 1..order in id-encoded sentences (one array each)."""
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        return cls.from_ids(np.concatenate(sentences).astype(np.int32), lengths, order, vocab_size)

    @classmethod
    def from_ids(cls, words: np.ndarray, lengths: np.ndarray, order: int, vocab_size: int) -> NgramCounts:
        """Count all n-grams of orders 1..order; ``words`` concatenates the sentences' ids."""
        tokens, starts = layout(words, lengths)
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
            uniq, inverse, cnt = np.unique(key, return_inverse=True, return_counts=True)
            cur = np.full(len(tokens), -1, dtype=np.int64)
            cur[valid] = inverse
            suffix = np.empty(len(uniq), dtype=np.int64)
            suffix[inverse] = pos_idx[k - 2][valid]  # every occurrence of a k-gram has the same suffix
            self.keys.append(uniq)
            self.counts.append(cnt.astype(np.int64))
            self.prefix.append(uniq // vocab_size)
            self.suffix.append(suffix)
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


def ngram_index(keys: Sequence[np.ndarray], words: Sequence[int] | np.ndarray, vocab_size: int) -> int:
    """Index of one n-gram (its word ids) among the n-grams of its order, or -1."""
    index = int(words[0])
    for k in range(2, len(words) + 1):
        table = keys[k - 1]
        key = index * vocab_size + int(words[k - 1])
        i = int(np.searchsorted(table, key))
        if i >= len(table) or table[i] != key:
            return -1
        index = i
    return index


def extension_range(keys: np.ndarray, prefix_index: int, vocab_size: int) -> slice:
    """Keys sort by prefix first, so the extensions of one prefix form one contiguous run."""
    lo = int(np.searchsorted(keys, prefix_index * vocab_size))
    hi = int(np.searchsorted(keys, (prefix_index + 1) * vocab_size))
    return slice(lo, hi)
