"""Keyword retrieval: BM25 (Okapi, via ``rank_bm25``) over Korean-aware terms.

Korean is agglutinative: "VAE와", "VAE는" and "VAE의" are one word with different particles, and
"생성한다"/"생성하는" share the stem 생성. Whitespace tokens would never match across them, so Hangul
text goes through Kiwi and only content morphemes are kept (nouns, verb/adjective stems, roots);
particles and endings are dropped. Latin words are lower-cased, common English function words dropped
and a plural ``s`` trimmed. Terms are computed once at ingestion and stored with each chunk, so the
index is rebuilt from the store without re-tokenizing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

_RUNS = re.compile(r"[가-힣]+|[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*|\d+(?:\.\d+)?")
_HANGUL = re.compile(r"[가-힣]")
# Content morphemes: general/proper/bound nouns, numerals, pronouns, verb and adjective stems, roots,
# nominal-forming suffix stems are dropped with the particles and endings.
_CONTENT_TAGS = ("NNG", "NNP", "NR", "NP", "VV", "VA", "XR", "MAG", "SL", "SH", "SN")
_STOP = frozenset(
    (  # noqa: SIM905 - a word list reads best as words
        "a an and are as at be but by can do does for from has have how i if in into is it its of on or "
        "than that the their them then there these they this to was were what when where which who why "
        "will with you your we our not no so such"
    ).split()
)


@lru_cache(maxsize=1)
def _kiwi() -> Any:
    from kiwipiepy import Kiwi

    return Kiwi()


def _latin(word: str) -> str | None:
    w = word.lower()
    if w in _STOP or len(w) == 1:
        return None
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    return w


def terms(text: str) -> list[str]:
    """BM25 terms of ``text`` (Korean content morphemes + normalised Latin words + numbers)."""
    out: list[str] = []
    for m in _RUNS.finditer(text):
        word = m.group(0)
        if _HANGUL.match(word):
            continue
        if word[0].isdigit():
            out.append(word)
        elif w := _latin(word):
            out.append(w)
    if _HANGUL.search(text):
        # Kiwi reads whole words ("GAN의" = GAN + particle), so it sees particles for what they are.
        for token in _kiwi().tokenize(text):
            if token.tag.startswith(_CONTENT_TAGS) and _HANGUL.search(token.form):
                out.append(token.form)
    return out


class BM25Index:
    """An in-memory BM25 index over chunks whose terms are already known."""

    def __init__(self, ids: Sequence[str], term_lists: Sequence[Sequence[str]]) -> None:
        from rank_bm25 import BM25Okapi

        self.ids = list(ids)
        self._bm25 = BM25Okapi([list(t) or ["\0"] for t in term_lists]) if self.ids else None

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best ``(id, score)`` for ``query``; zero-score chunks never count as matches."""
        if self._bm25 is None:
            return []
        q = terms(query)
        if not q:
            return []
        scores = np.asarray(self._bm25.get_scores(q), dtype=np.float64)
        if allowed is not None:
            mask = np.fromiter((i in allowed for i in self.ids), dtype=bool, count=len(self.ids))
            scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]
