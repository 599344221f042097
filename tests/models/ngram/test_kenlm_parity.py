"""lmgen's own scores vs KenLM's Python module reading lmgen's exported ARPA, on Shakespeare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmgen.models.ngram import NgramModel
from lmgen.stores.corpora import read_sentences
from lmgen.stores.ngram import corpus_split

kenlm = pytest.importorskip("kenlm")


@pytest.fixture(scope="module")
def shakespeare() -> tuple[list[str], list[str]]:
    train, test = corpus_split("shakespeare")
    return read_sentences(train)[:20_000], read_sentences(test)[:1_500]


@pytest.mark.parametrize(("order", "smoothing"), [(3, "kneser-ney"), (5, "kneser-ney"), (3, "witten-bell")])
def test_kenlm_scores_our_arpa_like_we_do(
    shakespeare: tuple[list[str], list[str]], tmp_path: Path, order: int, smoothing: str
) -> None:
    train, test = shakespeare
    lm = NgramModel(order=order, smoothing=smoothing, tokenizer="regex", lowercase=True).fit(train)
    arpa = lm.to_arpa(tmp_path / "model.arpa")
    reference = kenlm.Model(str(arpa))
    assert reference.order == order
    tokenized = [lm.tokenize(s) for s in test]

    # KenLM's score() sums in float32 (off by ~1e-3 on a 150-token sentence); its per-token
    # values summed in float64 are its exact sentence log-probabilities.
    def kenlm_sentence(toks: list[str]) -> float:
        return sum(p for p, _, _ in reference.full_scores(" ".join(toks), bos=True, eos=True))

    ours = np.array([sum(t.log10_prob for t in lm.full_scores(toks)) for toks in tokenized[:300]])
    theirs = np.array([kenlm_sentence(toks) for toks in tokenized[:300]])
    assert float(np.max(np.abs(ours - theirs))) <= 1e-4
    assert float(np.max(np.abs(ours - [reference.score(" ".join(t)) for t in tokenized[:300]]))) < 5e-3
    # the whole test set in one vectorized pass agrees too
    total = lm.perplexity(tokenized)["log10_prob"]
    assert total == pytest.approx(sum(kenlm_sentence(t) for t in tokenized), abs=1e-6 * len(tokenized) * 30)
    # and per token, including which n-gram order matched
    for toks in tokenized[:50]:
        for mine, (prob, length, _oov) in zip(
            lm.full_scores(toks), reference.full_scores(" ".join(toks)), strict=True
        ):
            assert mine.log10_prob == pytest.approx(prob, abs=1e-5)
            assert mine.order == length
