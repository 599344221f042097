"""The BERT engine on a tiny random model: masking rule, pair sampling, resume, output formats, errors."""

from __future__ import annotations

import math
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pytest

from lmgen.errors import InputError, ModelFileError
from lmgen.models.mlm.bert import TruncationWarning, load_bert
from lmgen.models.mlm.fill_mask import FillMasker
from lmgen.models.mlm.masking import IGNORE_INDEX, choose_targets, mask_tokens
from lmgen.models.mlm.pretrain import (
    FAR_SENTENCES,
    PairSampler,
    PretrainConfig,
    domain_weights,
    make_batch,
    negative_groups,
    pretrain,
    tokenize_documents,
)
from lmgen.models.mlm.scoring import BertScorer
from lmgen.models.mlm.tokenizer import to_transformers, train_wordpiece, unk_share
from tests.mlm_data import DOCS, TINY


@pytest.fixture(scope="module")
def tokenizer():
    return to_transformers(train_wordpiece([s for d in DOCS for s in d] * 3, vocab_size=300), 32)


@pytest.fixture(scope="module")
def tiny(tiny_bert: Path) -> Path:
    return tiny_bert


# ---------------------------------------------------------------- tokenizer
def test_tokenizer_keeps_hangul_syllables_whole(tokenizer) -> None:
    pieces = tokenizer.tokenize("대한민국은 민주공화국이다")
    assert all(len(p.removeprefix("##")) >= 1 for p in pieces)
    assert not any("\u1100" <= ch <= "\u11ff" for p in pieces for ch in p), "jamo: accents were stripped"
    assert tokenizer.tokenize("The CAT") == ["the", "cat"]
    share, count = unk_share(tokenizer, ["the cat", "완전히 새로운 글자 뷁"])
    assert count > 0 and 0 < share < 1


def test_jamo_vocabulary_spells_unseen_syllables(tmp_path: Path) -> None:
    """Syllables the corpus never has make a word [UNK] in a syllable vocabulary; spelled in jamo,
    the word is read, and a BERT trained on that vocabulary answers in whole syllables."""
    sentences = [s for d in DOCS for s in d] * 3
    unseen = "밥을 먹고"  # 밥 and 먹 are not in the corpus; their letters are
    assert not any(ch in "".join(sentences) for ch in "밥먹")
    assert set(unicodedata.normalize("NFD", unseen)) <= set(unicodedata.normalize("NFD", " ".join(sentences)))
    syllables = to_transformers(train_wordpiece(sentences, vocab_size=300), 32)
    jamo = to_transformers(train_wordpiece(sentences, vocab_size=300, jamo=True), 32)
    assert unk_share(syllables, [unseen])[0] > 0.5
    assert unk_share(jamo, [unseen])[0] == 0.0
    assert unk_share(jamo, [s for d in DOCS for s in d])[0] == 0.0
    assert jamo.tokenize("The CAT") == ["the", "cat"]

    cfg = PretrainConfig(**{**TINY.__dict__, "jamo": True})
    pretrain(DOCS, tmp_path / "jamo", cfg, progress=False)
    masker = FillMasker.load(tmp_path / "jamo")
    assert unk_share(masker.tokenizer, [unseen])[0] == 0.0, "the normalizer is saved with the checkpoint"
    words = [c["token_str"] for c in masker("대한민국은 [MASK]이다", top_k=20)[0]]
    hangul = [w for w in words if any("\uac00" <= ch <= "\ud7a3" for ch in w)]
    assert hangul, words
    assert all(w == unicodedata.normalize("NFC", w) for w in words), "shown as syllables, not letters"
    scored = BertScorer.load(tmp_path / "jamo").pseudo_perplexity("대한민국은 민주공화국이다")
    pieces = [t["token"] for t in scored["per_token"]]
    assert all(t == unicodedata.normalize("NFC", t) for t in pieces), pieces
    with pytest.raises(InputError, match="--init brings its own tokenizer"):
        pretrain(DOCS, tmp_path / "again", cfg, progress=False, init=tmp_path / "jamo")


# ---------------------------------------------------------------- masking rule
def test_masking_rule_statistics() -> None:
    rng = np.random.default_rng(0)
    n, rows = 200, 400
    word_ids: list[int | None] = [None, *range(n - 2), None]
    chosen = np.stack([choose_targets(word_ids, 0.15, rng, whole_word=False) for _ in range(rows)])
    assert not chosen[:, 0].any() and not chosen[:, -1].any(), "special tokens are never targets"
    assert chosen.sum(axis=1).tolist() == [round(0.15 * (n - 2))] * rows
    ids = np.tile(np.arange(1000, 1000 + n), (rows, 1))
    masked, labels = mask_tokens(ids, chosen, rng, mask_id=4, random_ids=np.arange(5, 900))
    t = chosen
    share_mask = (masked[t] == 4).mean()
    share_random = ((masked[t] != 4) & (masked[t] != ids[t])).mean()
    share_same = (masked[t] == ids[t]).mean()
    assert abs(share_mask - 0.8) < 0.02 and abs(share_random - 0.1) < 0.015 and abs(share_same - 0.1) < 0.015
    assert (labels[t] == ids[t]).all() and (labels[~t] == IGNORE_INDEX).all()
    assert (masked[~t] == ids[~t]).all(), "untouched positions keep their ids"


def test_whole_word_masking_takes_every_piece() -> None:
    rng = np.random.default_rng(1)
    # 30 words of 3 pieces each
    word_ids: list[int | None] = [None, *[w for w in range(30) for _ in range(3)], None]
    for _ in range(50):
        chosen = choose_targets(word_ids, 0.15, rng, whole_word=True)
        for w in range(30):
            group = chosen[1 + 3 * w : 4 + 3 * w]
            assert group.all() or not group.any(), "a word is masked whole or not at all"
        assert 12 <= chosen.sum() <= 15


# ---------------------------------------------------------------- pairs
def test_pairs_are_neighbours_or_from_another_document(tokenizer) -> None:
    docs = DOCS[:4]  # every sentence appears once
    ids, words = tokenize_documents(tokenizer, docs)
    sampler = PairSampler(ids, words, max_length=128, short_seq_prob=0.0)
    flat = [[t for s in d for t in s] for d in sampler.docs]

    def contiguous(seq: list[int]) -> bool:
        return any(d[i : i + len(seq)] == seq for d in flat for i in range(len(d) - len(seq) + 1))

    rng = np.random.default_rng(3)
    labels = []
    for _ in range(400):
        a, _, b, _, label = sampler.pair(rng)
        labels.append(label)
        assert a and b and len(a) + len(b) <= 125
        assert contiguous(a) and contiguous(b)
        assert contiguous(a + b) == (label == 0), "IsNext: B continues A; NotNext: B comes from elsewhere"
    assert 0.42 < np.mean(labels) < 0.58


def test_sampler_names_the_document_a_came_from(tokenizer) -> None:
    docs = [DOCS[0], [], DOCS[1], DOCS[2]]  # an empty document is dropped: indices must still be docs'
    ids, words = tokenize_documents(tokenizer, docs)
    sampler = PairSampler(ids, words, max_length=128, short_seq_prob=0.0)
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(200):
        a, _, _, _, _ = sampler.pair(rng)
        flat = [t for s in ids[sampler.last_source] for t in s]
        assert any(flat[i : i + len(a)] == a for i in range(len(flat) - len(a) + 1))
        seen.add(sampler.last_source)
    assert seen == {0, 2, 3}


def test_batch_layout(tokenizer) -> None:
    ids, words = tokenize_documents(tokenizer, DOCS)
    batch = make_batch(PairSampler(ids, words, 32), tokenizer, np.random.default_rng(0), 8, 32, 0.15, False)
    assert batch["input_ids"].shape == (8, 32)
    assert set(batch["next_sentence_label"].tolist()) <= {0, 1}
    for row in range(8):
        n = int(batch["attention_mask"][row].sum())
        seq = batch["input_ids"][row]
        assert seq[0] == tokenizer.cls_token_id
        seps = np.flatnonzero(
            (seq[:n] == tokenizer.sep_token_id) & (batch["labels"][row][:n] == IGNORE_INDEX)
        )
        assert seps[-1] == n - 1
        types = batch["token_type_ids"][row][:n]
        assert types[0] == 0 and types[-1] == 1 and (np.diff(types) >= 0).all()
        assert (batch["labels"][row] != IGNORE_INDEX).sum() >= 1


# ---------------------------------------------------------------- training
def test_resume_gives_the_same_losses(tmp_path: Path, tokenizer) -> None:
    straight = pretrain(DOCS, tmp_path / "a", TINY, tokenizer=tokenizer, progress=False)
    pretrain(DOCS, tmp_path / "b", TINY, tokenizer=tokenizer, progress=False, stop_after=3)
    resumed = pretrain(DOCS, tmp_path / "b", resume=True, progress=False)
    assert resumed.steps == straight.steps == 6
    assert [h["loss"] for h in resumed.history] == pytest.approx(
        [h["loss"] for h in straight.history], abs=1e-6
    )
    files = {p.name for p in (tmp_path / "b").iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "training_state.safetensors"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)


def test_seeded_runs_are_identical_and_seeds_differ(tmp_path: Path, tokenizer) -> None:
    cfg = PretrainConfig(**{**TINY.__dict__, "steps": 2})
    a = pretrain(DOCS, tmp_path / "a", cfg, tokenizer=tokenizer, progress=False).history
    b = pretrain(DOCS, tmp_path / "b", cfg, tokenizer=tokenizer, progress=False).history
    c = pretrain(
        DOCS,
        tmp_path / "c",
        PretrainConfig(**{**cfg.__dict__, "seed": 7}),
        tokenizer=tokenizer,
        progress=False,
    ).history
    assert a == b and a != c


def test_hard_negatives_come_from_a_document_of_the_same_group(tokenizer) -> None:
    docs = DOCS[:4]
    ids, words = tokenize_documents(tokenizer, docs)
    groups = [0, 0, 1, 1]
    flat = [[t for s in d for t in s] for d in ids]

    def source(seq: list[int]) -> int:
        return next(i for i, d in enumerate(flat) if any(d[j : j + len(seq)] == seq for j in range(len(d))))

    def same_group_share(hard: float) -> float:
        sampler = PairSampler(ids, words, 128, short_seq_prob=0.0, groups=groups, hard_negatives=hard)
        rng = np.random.default_rng(0)
        same = []
        for _ in range(400):
            a, _, b, _, label = sampler.pair(rng)
            if label == 1:
                same.append(groups[source(a)] == groups[source(b)])
        return float(np.mean(same))

    assert same_group_share(1.0) == 1.0, "every NotNext partner from A's group"
    assert same_group_share(0.0) < 0.75, "any other document: often the other group"

    def same_language_share(hard: float, languages: list[int]) -> tuple[float, float]:
        sampler = PairSampler(
            ids, words, 128, short_seq_prob=0.0, groups=groups, hard_negatives=hard, languages=languages
        )
        rng = np.random.default_rng(0)
        lang, group = [], []
        for _ in range(400):
            a, _, b, _, label = sampler.pair(rng)
            if label == 1:
                lang.append(languages[source(a)] == languages[source(b)])
                group.append(groups[source(a)] == groups[source(b)])
        return float(np.mean(lang)), float(np.mean(group))

    # the other partners from A's language only; the hard share still from A's group
    assert same_language_share(0.0, [0, 1, 0, 1])[0] == 1.0
    assert same_language_share(1.0, [0, 1, 0, 1]) == (0.0, 1.0)
    # a language with one document has no other: its partners come from any document
    assert same_language_share(0.0, [0, 0, 0, 1])[0] < 1.0
    with pytest.raises(InputError, match="hard-negative"):
        PretrainConfig(hard_negatives=1.5)


def test_same_document_negatives_come_from_far_in_a_own_document() -> None:
    # sentence s of document d is the one token d * 1000 + s, so each segment says where it came from
    lengths = [40, 40, 5]
    docs = [[[d * 1000 + s] for s in range(n)] for d, n in enumerate(lengths)]
    words = [[[0] for _ in range(n)] for n in lengths]

    def negatives(share: float, **shape: float) -> list[tuple[list[int], list[int]]]:
        sampler = PairSampler(docs, words, 16, short_seq_prob=0.0, same_document=share, **shape)
        rng = np.random.default_rng(0)
        return [(a, b) for a, _, b, _, label in (sampler.pair(rng) for _ in range(600)) if label == 1]

    for shape in ({}, {"sentence_pairs": 1.0}):
        pairs = negatives(1.0, **shape)
        for a, b in pairs:
            if a[0] // 1000 == 2:  # five sentences: nowhere far enough, so another document
                assert b[0] // 1000 != 2
                continue
            assert {t // 1000 for t in b} == {a[0] // 1000}, (a, b)
            # at least FAR_SENTENCES sentences between A and B, before or after it
            assert b[-1] + FAR_SENTENCES < a[0] or b[0] > a[-1] + FAR_SENTENCES, (a, b)
        own = [a[0] // 1000 == b[0] // 1000 for a, b in pairs if a[0] // 1000 != 2]
        assert own and all(own)
    # a share of them; and none at 0, with the very pairs of a sampler that never heard of it
    some = [a[0] // 1000 == b[0] // 1000 for a, b in negatives(0.25)]
    assert 0.1 < np.mean(some) < 0.4
    plain = PairSampler(docs, words, 16, short_seq_prob=0.0)
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    off = PairSampler(docs, words, 16, short_seq_prob=0.0, same_document=0.0)
    assert [plain.pair(rng_a) for _ in range(200)] == [off.pair(rng_b) for _ in range(200)]
    with pytest.raises(InputError, match="same-document"):
        PretrainConfig(same_document=1.5)


def test_hard_negative_groups_by_language_or_by_domain() -> None:
    docs = [["Hello there."], ["안녕하세요."], ["Good morning."], ["법률 제1조."]]
    assert negative_groups(docs, "language") == [0, 1, 0, 1]
    by_domain = negative_groups(docs, "domain", ["dialogue-en", "dialogue-ko", "dialogue-en", "law-ko"])
    assert by_domain[0] == by_domain[2] and len({by_domain[0], by_domain[1], by_domain[3]}) == 3
    with pytest.raises(InputError, match=r"\.domains file"):
        negative_groups(docs, "domain")
    with pytest.raises(InputError, match="3 domains"):
        negative_groups(docs, "domain", ["a", "b", "c"])
    with pytest.raises(InputError, match="'language' or 'domain'"):
        PretrainConfig(negatives_from="topic")  # type: ignore[arg-type]


def test_domain_weights_set_how_often_a_domain_gives_a(tokenizer) -> None:
    docs = [DOCS[0], [], DOCS[1], DOCS[2], DOCS[3]]  # the empty document keeps its place in the weights
    domains = ["play", "play", "chat", "play", "play"]
    ids, words = tokenize_documents(tokenizer, docs)

    def chat_share(weights: dict[str, float]) -> float:
        per_doc = domain_weights(weights, domains, len(docs))
        sampler = PairSampler(ids, words, 128, short_seq_prob=0.0, weights=per_doc)
        rng = np.random.default_rng(7)
        drawn = []
        for _ in range(600):
            sampler.pair(rng)
            drawn.append(domains[sampler.last_source] == "chat")
        return float(np.mean(drawn))

    sizes = [len(d) for d in ids if d]  # every document has 2+ sentences, so each can give A
    plain = sizes[1] / sum(sizes)
    assert abs(chat_share({}) - plain) < 0.06, "no weights: drawn by length"
    heavy = 8 * sizes[1] / (8 * sizes[1] + sum(sizes) - sizes[1])
    assert abs(chat_share({"chat": 8.0}) - heavy) < 0.06, "chat weighs 8 sentences per sentence"
    assert chat_share({"play": 8.0}) < plain - 0.05
    assert domain_weights({}, None, 5) is None
    with pytest.raises(InputError, match="no document has the domain news"):
        domain_weights({"news": 2.0}, domains, len(docs))
    with pytest.raises(InputError, match=r"\.domains file"):
        domain_weights({"chat": 2.0}, None, len(docs))
    with pytest.raises(InputError, match="3 document weights for 5"):
        PairSampler(ids, words, 128, weights=[1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="domain weights"):
        PretrainConfig(domain_weights={"chat": 0.0})


def test_short_pairs_share_sets_how_many_pairs_are_cut_short(tokenizer) -> None:
    ids, words = tokenize_documents(tokenizer, DOCS)

    def mean_length(share: float) -> float:
        sampler = PairSampler(ids, words, 128, short_seq_prob=share)
        rng = np.random.default_rng(0)
        return float(np.mean([len(a) + len(b) for a, _, b, _, _ in (sampler.pair(rng) for _ in range(300))]))

    assert mean_length(1.0) < mean_length(0.0)
    with pytest.raises(InputError, match="short-pair"):
        PretrainConfig(short_seq_prob=-0.1)


def test_sentence_pairs_are_one_sentence_and_the_next_or_an_unrelated_one(tokenizer) -> None:
    ids, words = tokenize_documents(tokenizer, DOCS)
    where: dict[tuple[int, ...], set[tuple[int, int]]] = {}
    for d, doc in enumerate(ids):
        for i, sentence in enumerate(doc):
            where.setdefault(tuple(sentence), set()).add((d, i))
    sampler = PairSampler(ids, words, 128, sentence_pairs=1.0)
    rng = np.random.default_rng(0)
    labels = []
    for _ in range(200):
        a, _, b, _, label = sampler.pair(rng)
        at_a, at_b = where[tuple(a)], where[tuple(b)]  # whole sentences, one each
        if label == 0:
            assert any((d, i + 1) in at_b for d, i in at_a), "IsNext: the sentence right after"
        else:
            assert any(d != e for d, _ in at_a for e, _ in at_b), "NotNext: from another document"
        labels.append(label)
    assert 0.35 < np.mean(labels) < 0.65
    with pytest.raises(InputError, match="sentence-pair"):
        PretrainConfig(sentence_pairs=2.0)


def test_nsp_weight_scales_the_next_sentence_loss(tmp_path: Path, tokenizer) -> None:
    cfg = PretrainConfig(**{**TINY.__dict__, "steps": 3})
    runs = {
        w: pretrain(
            DOCS,
            tmp_path / str(w),
            PretrainConfig(**{**cfg.__dict__, "nsp_weight": w}),
            tokenizer=tokenizer,
            progress=False,
        ).history
        for w in (1.0, 3.0, 0.0)
    }
    for w, history in runs.items():
        for h in history:
            assert h["loss"] == pytest.approx(h["mlm_loss"] + w * h["nsp_loss"], abs=1e-5)
    # the same first batch and weights; the weight changes the update, so the next losses differ
    assert runs[3.0][0]["nsp_loss"] == pytest.approx(runs[1.0][0]["nsp_loss"], abs=1e-6)
    assert runs[3.0][1]["nsp_loss"] != pytest.approx(runs[1.0][1]["nsp_loss"], abs=1e-6)
    assert runs[0.0][1]["nsp_loss"] != pytest.approx(runs[1.0][1]["nsp_loss"], abs=1e-6)
    with pytest.raises(InputError, match="NSP loss weight"):
        PretrainConfig(nsp_weight=-1.0)


def test_init_continues_from_a_saved_bert(tmp_path: Path, tokenizer) -> None:
    first = pretrain(DOCS, tmp_path / "a", TINY, tokenizer=tokenizer, progress=False)
    # a different size in the config: the saved folder's architecture wins
    cfg = PretrainConfig(**{**TINY.__dict__, "steps": 2, "hidden_size": 64, "num_heads": 2})
    again = pretrain(DOCS, tmp_path / "b", cfg, progress=False, init=tmp_path / "a")
    assert again.steps == 2 and cfg.hidden_size == TINY.hidden_size
    assert again.history[0]["mlm_loss"] < first.history[0]["mlm_loss"], "starts from trained weights"
    with pytest.raises(InputError, match="--init"):
        pretrain(DOCS, tmp_path / "b", cfg, progress=False, init=tmp_path / "a", resume=True)
    with pytest.raises(ModelFileError):
        pretrain(DOCS, tmp_path / "c", cfg, progress=False, init=tmp_path / "missing")


def test_sop_and_whole_word_options_train(tmp_path: Path, tokenizer) -> None:
    cfg = PretrainConfig(**{**TINY.__dict__, "steps": 2, "objective": "sop", "whole_word": True})
    assert pretrain(DOCS, tmp_path / "sop", cfg, tokenizer=tokenizer, progress=False).steps == 2
    with pytest.raises(InputError):
        PretrainConfig(objective="mlm-only")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        PretrainConfig(hidden_size=30, num_heads=4)


def test_resume_can_replan_the_schedule(tmp_path: Path, tokenizer) -> None:
    pretrain(DOCS, tmp_path / "c", TINY, tokenizer=tokenizer, progress=False, stop_after=3)
    with pytest.raises(InputError, match="already at step 3"):
        pretrain(DOCS, tmp_path / "c", resume=True, progress=False, extend_to=3)
    annealed = pretrain(DOCS, tmp_path / "c", resume=True, progress=False, extend_to=4)
    straight = pretrain(DOCS, tmp_path / "d", TINY, tokenizer=tokenizer, progress=False)
    assert annealed.steps == 4 and straight.steps == 6
    # the same first 3 steps, then a steeper decay toward the new end
    assert annealed.history[2]["loss"] == pytest.approx(straight.history[2]["loss"], abs=1e-6)
    assert annealed.history[3]["learning_rate"] < straight.history[3]["learning_rate"]


def test_float16_weights_resume_from_float32_master(tmp_path: Path, tokenizer) -> None:
    from safetensors import safe_open

    cfg = PretrainConfig(**{**TINY.__dict__, "save_dtype": "float16"})
    pretrain(DOCS, tmp_path / "h", cfg, tokenizer=tokenizer, progress=False, stop_after=3)
    with safe_open(str(tmp_path / "h" / "model.safetensors"), "pt") as f:
        assert all("float16" in str(f.get_tensor(k).dtype) for k in f.keys())  # noqa: SIM118
    straight = pretrain(DOCS, tmp_path / "s", TINY, tokenizer=tokenizer, progress=False)
    resumed = pretrain(DOCS, tmp_path / "h", resume=True, progress=False)
    assert [h["loss"] for h in resumed.history] == pytest.approx(
        [h["loss"] for h in straight.history], abs=1e-6
    )


# ---------------------------------------------------------------- fill-mask
def test_fill_mask_output_format(tiny: Path) -> None:
    masker = FillMasker.load(tiny)
    out = masker("the cat [MASK] on the mat", top_k=4)
    assert isinstance(out, list) and len(out) == 1 and len(out[0]) == 4
    for cand in out[0]:
        assert set(cand) == {"score", "token", "token_str", "sequence"}
        assert cand["sequence"] == f"the cat {cand['token_str']} on the mat"
        assert 0.0 <= cand["score"] <= 1.0
    scores = [c["score"] for c in out[0]]
    assert scores == sorted(scores, reverse=True)
    specials = set(masker.tokenizer.all_special_ids)
    assert not any(c["token"] in specials for c in out[0])


def test_several_masks_and_both_spellings(tiny: Path) -> None:
    masker = FillMasker.load(tiny)
    out = masker("the [MASK] sat on the <mask>", top_k=3)
    assert len(out) == 2 and all(len(c) == 3 for c in out)
    assert all(c["sequence"].startswith("the " + c["token_str"] + " sat") for c in out[0])
    assert all(c["sequence"].endswith("<mask>") for c in out[0]), "the other mask stays as written"
    assert all(c["sequence"].startswith("the [MASK] sat on the ") for c in out[1])


def test_targets_restrict_the_candidates(tiny: Path) -> None:
    masker = FillMasker.load(tiny)
    out = masker("the [MASK] sat on the mat", targets=["cat", "dog", "bird"], top_k=5)[0]
    assert {c["token_str"] for c in out} == {"cat", "dog", "bird"}
    full = masker("the [MASK] sat on the mat", top_k=100)[0]
    by_token = {c["token_str"]: c["score"] for c in full}
    for c in out:  # same probabilities as without targets
        if c["token_str"] in by_token:
            assert c["score"] == pytest.approx(by_token[c["token_str"]], rel=1e-5)
    with pytest.raises(InputError, match="vocabulary"):
        masker("the [MASK] sat", targets=["뷁"])


def test_batched_equals_one_at_a_time(tiny: Path) -> None:
    masker = FillMasker.load(tiny)
    texts = [
        "the [MASK] sat on the mat",
        "나는 [MASK]에 갑니다",
        "a bird [MASK] in the tree today and [MASK]",
    ]
    batched = masker(texts, top_k=3)
    single = [masker(t, top_k=3) for t in texts]
    for b, s in zip(batched, single, strict=True):
        assert [[c["token"] for c in m] for m in b] == [[c["token"] for c in m] for m in s]
        flat_b = [c["score"] for m in b for c in m]
        assert flat_b == pytest.approx([c["score"] for m in s for c in m], rel=1e-4)


def test_korean_particle_after_a_mask_is_a_continuation(tiny: Path) -> None:
    masker = FillMasker.load(tiny)
    item = masker.preprocess("나는 [MASK]에 갑니다")
    pieces = masker.tokenizer.convert_ids_to_tokens(item.input_ids)
    at = item.mask_positions[0]
    assert pieces[at] == "[MASK]" and pieces[at + 1] == "##에"
    assert item.word_start == [True]
    out = masker("나는 [MASK]에 갑니다", top_k=5)[0]
    assert not any(masker.tokenizer.convert_ids_to_tokens(c["token"]).startswith("##") for c in out)
    assert out[0]["sequence"] == f"나는 {out[0]['token_str']}에 갑니다"


def test_fill_mask_bad_input(tiny: Path) -> None:
    masker = FillMasker.load(tiny)
    with pytest.raises(InputError, match="no \\[MASK\\]"):
        masker("there is no mask here")
    with pytest.raises(InputError, match="empty"):
        masker("   ")
    with pytest.raises(InputError):
        masker("a [MASK]", top_k=0)
    with pytest.raises(InputError, match="limit"):
        masker("word " * 5000 + "[MASK]")
    with pytest.raises(InputError, match="apart"):
        masker("[MASK] " + "the cat sat " * 40 + "[MASK]")
    with pytest.warns(TruncationWarning, match="kept tokens"):
        out = masker("the cat sat on the mat " * 30 + "the [MASK] sat", top_k=2)
    assert len(out) == 1 and len(out[0]) == 2
    with pytest.warns(TruncationWarning):
        item = masker.preprocess("the cat sat on the mat " * 30 + "the [MASK] sat")
    assert item.truncated and "kept tokens" in item.notes[0] and item.scripts == {"latin"}


def test_checkpoint_errors(tmp_path: Path, tiny: Path) -> None:
    with pytest.raises(ModelFileError, match="no checkpoint folder"):
        load_bert(str(tmp_path / "nowhere"))
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(ModelFileError, match="cannot load"):
        load_bert(str(broken))
    with pytest.raises(ModelFileError, match="offline"):
        load_bert("bert-base-uncased")


# ---------------------------------------------------------------- NSP and PLL
def test_next_sentence_probability(tiny: Path) -> None:
    scorer = BertScorer.load(tiny)
    out = scorer.is_next("the cat sat on the mat", "the dog sat on the log")
    assert set(out) == {"is_next", "label", "truncated"}
    assert 0.0 <= out["is_next"] <= 1.0
    assert out["label"] == ("IsNext" if out["is_next"] >= 0.5 else "NotNext")
    with pytest.warns(TruncationWarning):
        long = scorer.is_next("the cat sat " * 30, "the dog")
    assert long["truncated"]
    with pytest.raises(InputError, match="empty"):
        scorer.is_next("", "the dog")


def test_pseudo_perplexity_is_batched_correctly(tiny: Path) -> None:
    scorer = BertScorer.load(tiny)
    one = scorer.pseudo_perplexity("the cat sat on the mat", batch_size=1)
    many = scorer.pseudo_perplexity("the cat sat on the mat", batch_size=64)
    assert one["tokens"] == len(one["per_token"]) == 6
    assert one["pll"] == pytest.approx(many["pll"], abs=1e-4)
    assert one["pll"] == pytest.approx(sum(t["logprob"] for t in one["per_token"]), abs=1e-6)
    assert one["pppl"] == pytest.approx(math.exp(-one["pll"] / one["tokens"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scorer.pseudo_perplexity("the cat")
    with pytest.warns(TruncationWarning):
        assert scorer.pseudo_perplexity("the cat sat " * 20)["tokens"] == 30


def test_next_sentence_call_leaves_the_tokenizer_unpadded(tiny: Path) -> None:
    """Scoring a pair pads and truncates through transformers, which leaves those settings on the
    shared Rust tokenizer; encoding documents afterwards must not pad every sentence to the longest."""
    scorer = BertScorer.load(tiny)
    before, _ = tokenize_documents(scorer.tokenizer, DOCS[:3])
    with pytest.warns(TruncationWarning):  # one pair is cut: truncation is switched on too
        scorer.is_next_batch([("the king is here", "my lord"), ("a", "the cat sat on the mat " * 5)])
    after, _ = tokenize_documents(scorer.tokenizer, DOCS[:3])
    assert after == before
    masker = FillMasker.load(tiny)
    assert len(masker.preprocess("the [MASK] sat").input_ids) == 5


class _DomainAwareScorer:
    """A stand-in NSP head that knows the answer: 0.9 for a true next sentence, 0.6 for a
    sentence of the same domain (a style shortcut), 0.1 for anything else."""

    def __init__(self, docs: list[list[str]], domains: list[str]) -> None:
        self.domain = {s: d for doc, d in zip(docs, domains, strict=True) for s in doc}
        self.follows = {(doc[i], doc[i + 1]) for doc in docs for i in range(len(doc) - 1)}
        self.seen: list[tuple[str, str]] = []

    def is_next_batch(self, pairs: list[tuple[str, str]]) -> list[dict[str, float]]:
        self.seen += pairs
        return [
            {"is_next": 0.9 if (a, b) in self.follows else 0.6 if self.domain[a] == self.domain[b] else 0.1}
            for a, b in pairs
        ]


def test_nsp_by_domain_separates_topic_from_style() -> None:
    from lmgen.models.mlm.evaluate import nsp_by_domain

    docs = (
        [[f"chat {d} line {i}" for i in range(4)] for d in range(3)]
        + [[f"help {d} step {i}" for i in range(3)] for d in range(2)]
        + [[f"대화 {d} 문장 {i}" for i in range(3)] for d in range(2)]
        + [["lonely page", "one more"]]
    )
    domains = ["chat"] * 3 + ["help"] * 2 + ["dialogue-ko"] * 2 + ["alone"]
    scorer = _DomainAwareScorer(docs, domains)
    rows = nsp_by_domain(scorer, docs, domains, pairs=20, seed=3)
    assert set(rows) == {"chat", "help", "dialogue-ko"}  # "alone" has one document: no same-domain partner
    for name in ("chat", "help"):
        r = rows[name]
        assert (r["next"], r["same_domain"], r["other_domain"]) == (0.9, 0.6, 0.1)
        assert r["accuracy_same_domain"] == 0.5 and r["accuracy_other_domain"] == 1.0
    # Korean has a single domain here: no other-domain partner in its language, none from English
    assert "other_domain" not in rows["dialogue-ko"]
    assert len(scorer.seen) == 3 * 20 + 3 * 20 + 2 * 20
    with pytest.raises(InputError, match="domains for"):
        nsp_by_domain(scorer, docs, domains[:-1])


def test_nsp_separation_counts_ranks_and_the_best_cut() -> None:
    from lmgen.models.mlm.evaluate import nsp_separation

    # IsNext 0.9, 0.8, 0.3 against NotNext 0.8, 0.2: 4 wins and 1 tie of 6 pairs; cutting at 0.3
    # gets 4 of 5 right, where 0.5 gets 3
    sep = nsp_separation(np.array([0.9, 0.8, 0.8, 0.3, 0.2]), np.array([True, True, False, True, False]))
    assert sep == {"auc": 0.75, "oracle_accuracy": 0.8, "oracle_cutoff": 0.3}
    # against a direct count over every (IsNext, NotNext) pair, with many ties
    rng = np.random.default_rng(5)
    for _ in range(20):
        p = rng.integers(0, 6, size=40) / 5
        y = rng.random(40) < 0.5
        if y.all() or not y.any():
            continue
        pairs = [(a > b) + 0.5 * (a == b) for a in p[y] for b in p[~y]]
        cuts = [*sorted(set(p)), 2.0]
        best = max(((p >= c) == y).mean() for c in cuts)
        sep = nsp_separation(p, y)
        assert sep["auc"] == round(float(np.mean(pairs)), 4)
        assert sep["oracle_accuracy"] == round(float(best), 4)
        assert sep["oracle_accuracy"] >= ((p >= 0.5) == y).mean()
    with pytest.raises(InputError, match="both IsNext and NotNext"):
        nsp_separation(np.array([0.2, 0.7]), np.array([True, True]))
    with pytest.raises(InputError, match="scores for"):
        nsp_separation(np.array([0.2, 0.7]), np.array([True]))
