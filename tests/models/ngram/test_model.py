"""NgramModel behaviour: normalization, KenLM conventions, ARPA, KenLM parity, tokenizers, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmgen.errors import InputError, LmgenError
from lmgen.models.ngram import NgramModel, get_tokenizer, read_arpa
from lmgen.models.ngram.arpa import ArpaError
from lmgen.models.ngram.counts import BOS_ID

NORMALIZED = ["add-k", "witten-bell", "kneser-ney"]

words = st.sampled_from(["a", "b", "c", "d", "e", "f"])
corpora = st.lists(st.lists(words, min_size=1, max_size=8), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    corpus=corpora,
    order=st.integers(1, 4),
    smoothing=st.sampled_from(NORMALIZED),
    context=st.lists(st.sampled_from(["<s>", "a", "b", "c", "zzz"]), max_size=4),
)
def test_probabilities_sum_to_one(
    corpus: list[list[str]], order: int, smoothing: str, context: list[str]
) -> None:
    lm = NgramModel(order=order, smoothing=smoothing, tokenizer="whitespace").fit(corpus)
    ids = np.array([BOS_ID if w == "<s>" else lm.vocab.index.get(w, 0) for w in context], dtype=np.int64)
    dist = lm.distribution(ids)
    assert dist[BOS_ID] == -np.inf
    assert float((10.0 ** dist[np.isfinite(dist)]).sum()) == pytest.approx(1.0, abs=1e-9)
    # the vectorized sentence scorer agrees with the distribution it comes from
    sent = corpus[0]
    scores = lm.full_scores(sent)
    assert scores[0].log10_prob == pytest.approx(lm.logscore(sent[0], ["<s>"]))


def test_conventions_bos_context_only_eos_counted() -> None:
    lm = NgramModel(order=3, smoothing="kneser-ney", tokenizer="whitespace").fit(
        ["a b c", "a c b", "b c a"] * 3
    )
    scores = lm.full_scores("a b")
    assert [s.token for s in scores] == ["a", "b", "</s>"]  # no <s>; </s> predicted
    result = lm.perplexity(["a b"])
    assert result["tokens"] == 3
    total = sum(s.log10_prob for s in scores)
    assert result["log10_prob"] == pytest.approx(total)
    assert result["ppl"] == pytest.approx(10 ** (-total / 3))


def test_oov_reported_included_and_excluded() -> None:
    lm = NgramModel(order=2, smoothing="kneser-ney", tokenizer="whitespace").fit(["a b c", "b c a"] * 4)
    result = lm.perplexity(["a zebra c"], per_token=True)
    tokens = result["per_token"][0]
    assert [t["oov"] for t in tokens] == [False, True, False, False]
    in_vocab = sum(t["log10_prob"] for t in tokens if not t["oov"])
    assert result["oov"] == 1 and result["tokens"] == 4
    assert result["ppl_excl_oov"] == pytest.approx(10 ** (-in_vocab / 3))
    assert math.isfinite(result["ppl"]) and result["ppl"] > result["ppl_excl_oov"]


def test_per_token_shows_order_and_backoff() -> None:
    lm = NgramModel(order=3, smoothing="kneser-ney", tokenizer="whitespace").fit(["a b c d", "a b c e"] * 3)
    tokens = lm.perplexity(["a b c d", "d c b"], per_token=True)["per_token"]
    assert [t["order"] for t in tokens[0]] == [2, 3, 3, 3, 3]  # <s> a, <s> a b, a b c, b c d, c d </s>
    assert not any(t["backoff"] for t in tokens[0])
    assert any(t["backoff"] for t in tokens[1])  # "d c b" was never seen: shorter n-grams


def test_generation_is_seeded_and_shows_short_context() -> None:
    lm = NgramModel(order=2, smoothing="witten-bell", tokenizer="whitespace").fit(
        ["the cat sat", "the dog sat", "a cat ran"] * 5
    )
    one = lm.generate(seed=7, max_words=20)
    assert one == lm.generate(seed=7, max_words=20)
    assert all(w in lm.vocab for w in one) and "<unk>" not in one
    with pytest.raises(InputError):
        lm.generate(temperature=0)


def test_save_load_round_trip(tmp_path: Path) -> None:
    for smoothing in ["mle", "add-k", "kneser-ney", "stupid-backoff"]:
        lm = NgramModel(order=3, smoothing=smoothing, tokenizer="regex", lowercase=True).fit(
            ["The cat sat.", "The dog sat!", "A cat ran, quickly."]
        )
        path = lm.save(tmp_path / f"{smoothing}.npz")
        again = NgramModel.load(path)
        assert again.smoothing.name == smoothing and again.lowercase and again.tokenizer_name == "regex"
        a = lm.perplexity(["the cat ran."])
        b = again.perplexity(["THE cat ran."])
        assert a["log10_prob"] == pytest.approx(b["log10_prob"])


def test_arpa_round_trip(tmp_path: Path) -> None:
    lm = NgramModel(order=3, smoothing="kneser-ney", tokenizer="whitespace").fit(
        ["a b c", "a c b", "b a c", "c c a b"] * 3
    )
    path = lm.to_arpa(tmp_path / "m.arpa")
    text = path.read_text()
    assert text.startswith("\\data\\\nngram 1=") and text.rstrip().endswith("\\end\\")
    back = read_arpa(path)
    for sentence in ["a b c", "c b a zzz", "b b b b"]:
        assert back.perplexity([sentence])["log10_prob"] == pytest.approx(
            lm.perplexity([sentence])["log10_prob"], abs=1e-5
        )
    gz = lm.to_arpa(tmp_path / "m.arpa.gz")
    assert NgramModel.load(gz).perplexity(["a b c"])["log10_prob"] == pytest.approx(
        lm.perplexity(["a b c"])["log10_prob"], abs=1e-5
    )


def test_count_models_have_no_arpa_form(tmp_path: Path) -> None:
    lm = NgramModel(order=2, smoothing="add-k", tokenizer="whitespace").fit(["a b"])
    with pytest.raises(LmgenError, match="no backoff form"):
        lm.to_arpa(tmp_path / "x.arpa")


# An ARPA file as other toolkits write it: SRILM's -99 for <s>, lines without a backoff field.
FOREIGN_ARPA = """
\\data\\
ngram 1=6
ngram 2=5
ngram 3=2

\\1-grams:
-1.2\t<unk>\t0
-99\t<s>\t-0.30103
-0.7\t</s>
-0.6\tthe\t-0.25
-0.9\tcat\t-0.2
-1.1\tsat

\\2-grams:
-0.3\t<s> the\t-0.1
-0.4\tthe cat\t-0.15
-0.5\tcat sat
-0.2\tsat </s>
-0.8\tcat </s>

\\3-grams:
-0.1\t<s> the cat
-0.05\tthe cat sat

\\end\\
"""


def test_foreign_arpa_scores_as_kenlm_does(tmp_path: Path) -> None:
    kenlm = pytest.importorskip("kenlm")
    path = tmp_path / "foreign.arpa"
    path.write_text(FOREIGN_ARPA)
    ours = NgramModel.load(path)
    theirs = kenlm.Model(str(path))
    for sentence in ["the cat sat", "the cat", "cat the sat dog", "sat", "dog dog the"]:
        expected = theirs.score(sentence, bos=True, eos=True)
        assert ours.perplexity([sentence])["log10_prob"] == pytest.approx(expected, abs=1e-5), sentence
        # by hand for the first: p(the|<s>) + p(cat|<s> the) + p(sat|the cat) + p(</s>|cat sat)
    hand = -0.3 + -0.1 + -0.05 + (-0.2)  # "cat sat" has no stored backoff (0), "sat </s>" exists
    assert ours.perplexity(["the cat sat"])["log10_prob"] == pytest.approx(hand)
    # lmgen also reads the space-separated variant some tools write (KenLM insists on tabs)
    spaced = tmp_path / "spaced.arpa"
    spaced.write_text(FOREIGN_ARPA.replace("\t", " "))
    assert NgramModel.load(spaced).perplexity(["the cat sat"])["log10_prob"] == pytest.approx(hand)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hello world\n", "no \\\\data\\\\ header"),
        ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1 a\n\\end\\\n", "header says 2 1-grams"),
        (
            "\\data\\\nngram 1=1\nngram 2=1\n\n\\1-grams:\n-1 a\n\n\\2-grams:\n-1 a b\n\\end\\\n",
            "missing from",
        ),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1 a\n", "truncated"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\nx a\n\\end\\\n", "malformed"),
    ],
)
def test_bad_arpa(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.arpa"
    path.write_text(content)
    with pytest.raises(ArpaError, match=message):
        read_arpa(path)


@pytest.mark.parametrize("order", [0, 7, 99, -1])
def test_bad_order(order: int) -> None:
    with pytest.raises(InputError, match="order must be between 1 and 6"):
        NgramModel(order=order)


def test_bad_smoothing_and_tokenizer() -> None:
    with pytest.raises(InputError, match="unknown smoothing"):
        NgramModel(smoothing="good-turing")
    with pytest.raises(InputError, match="unknown tokenizer"):
        NgramModel(tokenizer="bpe")
    with pytest.raises(InputError, match="k > 0"):
        NgramModel(smoothing="add-k", k=0)


def test_empty_inputs() -> None:
    with pytest.raises(InputError, match="no tokens"):
        NgramModel().fit(["", "   "])
    lm = NgramModel(tokenizer="whitespace").fit(["a b"])
    with pytest.raises(InputError, match="no text"):
        lm.perplexity(["  "])
    with pytest.raises(InputError, match="outside the model's vocabulary"):
        lm.perplexity(["zzz yyy"])
    with pytest.raises(LmgenError, match="not trained"):
        NgramModel().perplexity(["a"])


def test_load_rejects_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"\x00\x01 not a model")
    with pytest.raises(LmgenError, match="not an lmgen n-gram model"):
        NgramModel.load(bad)
    with pytest.raises(LmgenError, match="not found"):
        NgramModel.load(tmp_path / "none.npz")


def test_regex_tokenizer() -> None:
    tok = get_tokenizer("regex", lowercase=True)
    assert tok("Don't stop, Romeo!  O'er the hills.") == [
        "don't",
        "stop",
        ",",
        "romeo",
        "!",
        "o'er",
        "the",
        "hills",
        ".",
    ]


def test_korean_tokenizers() -> None:
    text = "나는 학교에 갔다."
    assert get_tokenizer("whitespace")(text) == ["나는", "학교에", "갔다."]
    assert get_tokenizer("eojeol")(text) == ["나는", "학교에", "갔다", "."]
    assert get_tokenizer("syllable")(text) == ["나", "는", "학", "교", "에", "갔", "다", "."]
    morphemes = get_tokenizer("morpheme")(text)
    assert morphemes[:2] == ["나/NP", "는/JX"] and "학교/NNG" in morphemes and "에/JKB" in morphemes


def test_korean_morpheme_model() -> None:
    corpus = ["나는 학교에 갔다.", "너는 학교에 갔다.", "나는 집에 갔다.", "그는 시장에 갔다."] * 3
    lm = NgramModel(order=3, smoothing="kneser-ney", tokenizer="morpheme").fit(corpus)
    seen = lm.perplexity(["나는 학교에 갔다."])["ppl"]
    scrambled = lm.perplexity(["갔다 학교에 나는."])["ppl"]
    assert seen < scrambled


def test_c_kernel_and_numpy_fallback_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from lmgen.models.ngram import kernel

    if not kernel.available():
        pytest.skip("the C kernel is not built here")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)] + ["é", "한국어", "don't"]
    corpus = [[words[j] for j in rng.zipf(1.3, size=rng.integers(1, 30)) % len(words)] for _ in range(2000)]
    test = [[words[j] for j in rng.integers(0, len(words), size=12)] + ["never-seen"] for _ in range(300)]

    def run() -> tuple[list[str], list[np.ndarray], dict]:
        lm = NgramModel(order=4, smoothing="kneser-ney", tokenizer="whitespace").fit(corpus)
        assert lm.counts is not None
        return lm.vocab.words, lm.counts.keys, lm.perplexity(test, per_token=True)  # type: ignore[union-attr]

    with_kernel = run()
    monkeypatch.setenv("LMGEN_NGRAM_KERNEL", "0")
    assert not kernel.available()
    without = run()
    assert with_kernel[0] == without[0]
    assert all(np.array_equal(a, b) for a, b in zip(with_kernel[1], without[1], strict=True))
    assert with_kernel[2] == without[2]


def test_multi_word_morphemes_hold_no_whitespace(tmp_path: Path) -> None:
    from lmgen.models.ngram.tokenize import detokenize

    text = "리누스 토발즈가 리눅스를 만들었다."
    tokens = get_tokenizer("morpheme")(text)
    assert "리누스▁토발즈/NNP" in tokens and all(len(t.split()) == 1 for t in tokens)
    assert detokenize(tokens, "morpheme") == text
    lm = NgramModel(order=2, smoothing="kneser-ney", tokenizer="morpheme").fit([text] * 3)
    back = read_arpa(lm.to_arpa(tmp_path / "ko.arpa"))  # ARPA lines split on whitespace: still one token
    assert back.perplexity([tokens])["log10_prob"] == pytest.approx(
        lm.perplexity([text])["log10_prob"], abs=1e-5
    )


def test_vocabulary_word_with_whitespace_still_encodes() -> None:
    from lmgen.models.ngram.counts import Vocabulary

    vocab = Vocabulary(["<unk>", "<s>", "</s>", "a b", "c"])  # e.g. from a caller's own token lists
    ids = vocab.ids(["c", "a b", "zzz"] * 200)  # long enough for the C kernel path, which must step aside
    assert ids[:3].tolist() == [4, 3, 0]
