"""Hand-computed probabilities on a 3-sentence corpus, for every smoothing.

Corpus (bigram model unless stated):  "a b" / "a c" / "b a b"
  padded: <s> a b </s> | <s> a c </s> | <s> b a b </s>
  V = {<unk>, <s>, </s>, a, b, c}; V' (predictable) = 5 words; N = 10 predicted tokens
  unigram counts: a 3, b 3, c 1, </s> 3
  bigram counts: <s>a 2, <s>b 1, ab 2, ac 1, ba 1, b</s> 2, c</s> 1
  context totals: c(<s>·) = 3, c(a·) = 3, c(b·) = 3, c(c·) = 1
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmgen.models.ngram import NgramModel
from lmgen.models.ngram.counts import NgramCounts
from lmgen.models.ngram.smoothing import KneserNeySmoothing

CORPUS = ["a b", "a c", "b a b"]


def lm(smoothing: str, order: int = 2, **kw: object) -> NgramModel:
    return NgramModel(order=order, smoothing=smoothing, tokenizer="whitespace", **kw).fit(CORPUS)


def test_mle_by_hand() -> None:
    m = lm("mle")
    assert m.score("b", ["a"]) == pytest.approx(2 / 3)
    assert m.score("c", ["a"]) == pytest.approx(1 / 3)
    assert m.score("a", ["<s>"]) == pytest.approx(2 / 3)
    assert m.score("</s>", ["b"]) == pytest.approx(2 / 3)
    assert m.score("c", ["b"]) == 0.0  # unseen: zero, and the log is -inf
    assert m.logscore("c", ["b"]) == -math.inf


def test_mle_perplexity_is_infinite_and_says_so() -> None:
    result = lm("mle").perplexity(["b c"])  # "b c" never seen
    assert result["ppl"] == math.inf and result["zero_prob"] >= 1
    assert any("probability 0" in note for note in result["notes"])


def test_add_one_by_hand() -> None:
    m = lm("add-k", k=1.0)
    assert m.score("b", ["a"]) == pytest.approx((2 + 1) / (3 + 5))
    assert m.score("a", ["c"]) == pytest.approx((0 + 1) / (1 + 5))
    lid = lm("add-k", k=0.5)
    assert lid.score("b", ["a"]) == pytest.approx((2 + 0.5) / (3 + 0.5 * 5))


def test_witten_bell_by_hand() -> None:
    m = lm("witten-bell")
    # unigram: (c(w) + T/V') / (N + T), T = 4 seen types (a, b, c, </s>)
    p_b = (3 + 4 / 5) / (10 + 4)
    p_unk = (0 + 4 / 5) / (10 + 4)
    assert m.score("b") == pytest.approx(p_b)
    assert m.score("zzz") == pytest.approx(p_unk)
    # bigram: (c(ab) + T(a)·p(b)) / (c(a) + T(a)), T(a) = 2 (b, c)
    assert m.score("b", ["a"]) == pytest.approx((2 + 2 * p_b) / (3 + 2))
    # unseen after a: T(a)/(c(a)+T(a)) · p(w)
    p_a = (3 + 4 / 5) / 14
    assert m.score("a", ["a"]) == pytest.approx(2 / 5 * p_a)


def test_kneser_ney_bigram_by_hand() -> None:
    m = lm("kneser-ney", discounts=(0.5, 1.0, 1.5))
    # continuation counts a(w) = N1+(• w): a 2 (<s>, b), b 2 (<s>, a), c 1 (a), </s> 2 (b, c); Σ = 7
    # n1 = 1, n2 = 3 → γ0 = (D1·n1 + D2·n2) / Σ = (0.5·1 + 1.0·3) / 7 = 0.5; uniform 1/|V'| = 1/5
    p1 = {
        "a": (2 - 1.0) / 7 + 0.5 / 5,
        "b": (2 - 1.0) / 7 + 0.5 / 5,
        "c": (1 - 0.5) / 7 + 0.5 / 5,
        "</s>": (2 - 1.0) / 7 + 0.5 / 5,
        "<unk>": 0.5 / 5,
    }
    for w, p in p1.items():
        assert m.score(w) == pytest.approx(p), w
    assert sum(p1.values()) == pytest.approx(1.0)
    # highest order uses raw counts: context a has ab 2, ac 1 → γ(a) = (0.5·1 + 1.0·1) / 3 = 0.5
    assert m.score("b", ["a"]) == pytest.approx((2 - 1.0) / 3 + 0.5 * p1["b"])  # 0.425
    assert m.score("c", ["a"]) == pytest.approx((1 - 0.5) / 3 + 0.5 * p1["c"])
    assert m.score("a", ["a"]) == pytest.approx(0.5 * p1["a"])  # unseen: backoff weight × lower order
    assert m.score("b", ["a"]) == pytest.approx(1 / 3 + 0.5 * (1 / 7 + 0.1))  # = 0.454762


def test_kneser_ney_adjusted_counts_follow_lmplz() -> None:
    counts = NgramCounts.from_sentences(
        [np.array(ids, dtype=np.int32) for ids in ([3, 4], [3, 5], [4, 3, 4])], order=3, vocab_size=6
    )  # a=3, b=4, c=5: the same corpus
    adjusted = KneserNeySmoothing.adjusted_counts(counts, 2)
    keys = counts.keys[1]

    def bigram(w1: int, w2: int) -> int:
        return int(adjusted[int(np.searchsorted(keys, w1 * 6 + w2))])

    assert bigram(1, 3) == 2  # "<s> a": starts with <s>, keeps its raw count
    assert bigram(3, 4) == 2  # "a b": preceded by <s> (S1) and b (S3) → N1+(• a b) = 2
    assert bigram(4, 2) == 1  # "b </s>": preceded by a in S1 and in S3 → one distinct word
    top = KneserNeySmoothing.adjusted_counts(counts, 3)
    assert np.array_equal(top, counts.counts[2])  # highest order: raw counts


def test_discounts_from_counts_of_counts() -> None:
    # n1 = 4, n2 = 2, n3 = 1, n4 = 1 → Y = 4 / (4 + 2·2) = 0.5
    # D1 = 1 − 2·0.5·2/4 = 0.5; D2 = 2 − 3·0.5·1/2 = 1.25; D3+ = 3 − 4·0.5·1/1 = 1.0
    d = KneserNeySmoothing().discounts_for(np.array([1, 1, 1, 1, 2, 2, 3, 4, 0]), k=2)
    assert d.tolist() == pytest.approx([0.0, 0.5, 1.25, 1.0])


def test_discount_fallback_is_reported() -> None:
    m = lm("kneser-ney", order=3)
    assert any("fallback" in note for note in m.info["notes"])


def test_stupid_backoff_scores() -> None:
    m = lm("stupid-backoff")
    assert m.score("b", ["a"]) == pytest.approx(2 / 3)  # relative frequency
    assert m.score("a", ["a"]) == pytest.approx(0.4 * 3 / 10)  # α × unigram relative frequency
    result = m.perplexity(["a b"])
    assert result["normalized"] is False and result["notes"]


def test_unigram_model() -> None:
    m = lm("kneser-ney", order=1, discounts=(0.5, 1.0, 1.5))
    assert m.order == 1 and math.isfinite(m.perplexity(["a b c"])["ppl"])
