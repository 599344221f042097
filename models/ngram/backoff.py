"""Backoff-form n-gram tables (what an ARPA file holds) and their vectorized scoring.

For every stored n-gram ``h w`` of order k: ``prob[k][i] = log10 p(w | h)`` and, when the
n-gram is itself a context, ``bow[k][i] = log10 α(h w)``. A query backs off exactly as ARPA
(and KenLM) define it:

    log p(w | h) = prob(h w)                      if h w is stored
                 = bow(h) + log p(w | h[1:])     otherwise (bow = 0 when h is not stored)

Interpolated models (Kneser-Ney, Witten-Bell) are exact in this form: ``prob`` holds the
interpolated probability of each seen n-gram and ``bow(h)`` the interpolation weight γ(h).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmgen.models.ngram.counts import BOS_ID, extension_range, find_keys, ngram_index, position_indices

LOG10_ZERO = -99.0  # ARPA's "probability zero" (the <s> unigram)


@dataclass
class BackoffTables:
    """Per order k (list index k-1): sorted ``keys`` (unigrams: word ids), ``prob`` and ``bow`` (log10)."""

    keys: list[np.ndarray]
    prob: list[np.ndarray]
    bow: list[np.ndarray]
    vocab_size: int

    @property
    def order(self) -> int:
        return len(self.keys)

    def score_positions(self, tokens: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log10 p of every token after its sentence's ``<s>``, and the n-gram order that matched.

        Args:
            tokens: flat ``[<s> … </s>]*`` ids (see :func:`counts.layout`).
            starts: position of the ``<s>`` opening each position's sentence.

        Returns:
            ``(logp, matched)`` for every position; positions holding ``<s>`` get NaN and 0.
        """
        n = self.order
        idx = position_indices(tokens, starts, self.keys, self.vocab_size)
        pos = np.arange(len(tokens))
        avail = pos - starts  # context words available (<s> included)
        logp = np.full(len(tokens), np.nan)
        matched = np.zeros(len(tokens), dtype=np.int64)
        for k in range(1, n + 1):  # the highest order found wins
            hit = idx[k - 1] >= 0
            if k == 1:
                hit &= tokens != BOS_ID
            logp[hit] = self.prob[k - 1][idx[k - 1][hit]]
            matched[hit] = k
        # back-off weights of the contexts longer than the matched n-gram's context
        for j in range(1, n):
            ctx = np.full(len(tokens), -1, dtype=np.int64)
            ctx[1:] = idx[j - 1][:-1]  # the j-gram ending just before each position
            use = (ctx >= 0) & (j >= matched) & (j <= avail) & (matched > 0)
            logp[use] += self.bow[j - 1][ctx[use]]
        logp[tokens == BOS_ID] = np.nan
        matched[tokens == BOS_ID] = 0
        return logp, matched

    def distribution(self, context: np.ndarray) -> np.ndarray:
        """log10 p(w | context) for every word id (``<s>`` gets -inf): the full next-word distribution.

        ``context`` holds the ids before the predicted word, ``<s>`` first at a sentence start.
        """
        logp = self.prob[0].astype(np.float64).copy()
        logp[BOS_ID] = -np.inf
        # the last n-1 ids (a negative start counts from the end: shorter contexts stay whole)
        ctx: np.ndarray = np.asarray(context, dtype=np.int64)[len(context) - (self.order - 1) :]
        for j in range(1, len(ctx) + 1):  # contexts from the last word to the longest
            h = self.lookup(ctx[-j:])
            if h < 0:
                break  # a longer context contains this one, so it is absent too
            logp += self.bow[j - 1][h]  # words never seen after h back off through α(h)
            ext = self.extensions(j + 1, h)
            logp[self.keys[j][ext] % self.vocab_size] = self.prob[j][ext]
        return logp

    def lookup_many(self, words: np.ndarray) -> np.ndarray:
        """Indices of many n-grams of one order (rows of ``words``), -1 where absent."""
        index = words[:, 0].astype(np.int64)
        for k in range(2, words.shape[1] + 1):
            known = index >= 0
            found = np.full(len(index), -1, dtype=np.int64)
            found[known] = find_keys(self.keys[k - 1], index[known] * self.vocab_size + words[known, k - 1])
            index = found
        return index

    def lookup(self, words: np.ndarray) -> int:
        """Index of the n-gram ``words`` in its order's tables, or -1."""
        return ngram_index(self.keys, words, self.vocab_size)

    def extensions(self, k: int, prefix: int) -> slice:
        """The k-grams whose first k-1 words are the (k-1)-gram ``prefix`` (a contiguous run)."""
        if k > self.order:
            return slice(0, 0)
        return extension_range(self.keys[k - 1], prefix, self.vocab_size)
