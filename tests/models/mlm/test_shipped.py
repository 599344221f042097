"""The small BERT that ships in the repo pre-trained from scratch (``--model scratch``): it loads,
beats the baselines it reports, and its heads behave (formulaic Korean masks, next-sentence pairs,
pseudo-perplexity of scrambled text)."""

from __future__ import annotations

import json
import warnings

import pytest

from lmgen.models.mlm.bert import SCRATCH_CHECKPOINT
from lmgen.models.mlm.fill_mask import FillMasker
from lmgen.models.mlm.scoring import BertScorer


@pytest.fixture(scope="module")
def masker() -> FillMasker:
    return FillMasker.load("scratch")


def test_files_are_small_safetensors() -> None:
    files = {p.name: p.stat().st_size for p in SCRATCH_CHECKPOINT.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "metrics.json", "README.md"} <= set(files)
    assert files["model.safetensors"] < 10 * 2**20
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)


def test_reported_metrics_beat_the_baselines() -> None:
    metrics = json.loads((SCRATCH_CHECKPOINT / "metrics.json").read_text())
    assert metrics["mlm_top1"] > 2.5 * metrics["baseline_top1"]
    assert metrics["mlm_top5"] > metrics["baseline_top5"] + 0.05
    assert metrics["nsp_accuracy"] > metrics["nsp_baseline"]
    assert metrics["heldout_unk_share"] < 0.001 and metrics["vocab_size"] == 8192
    ko = metrics["by_language"]["ko"]
    assert ko["mlm_top1"] > 10 * ko["baseline_top1"] and ko["nsp_accuracy"] > 0.6
    assert metrics["by_language"]["en"]["nsp_accuracy"] > 0.55


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("확인을 [MASK].", "클릭합니다"),
        ("[MASK] 상자를 엽니다.", "대화"),
        ("대화 상자를 [MASK].", "엽니다"),
        ("서식 - [MASK]을 선택합니다.", "삽입"),
    ],
)
def test_formulaic_korean_masks(masker: FillMasker, text: str, expected: str) -> None:
    words = [c["token_str"] for c in masker(text, top_k=5)[0]]
    assert expected in words, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("O my [MASK]!", "lord"),
        ("How now, my [MASK]?", "lord"),
        ("Farewell, my [MASK].", "lord"),
        ("my good [MASK].", "lord"),
        ("I pray [MASK], sir.", "you"),
    ],
)
def test_common_english_masks(masker: FillMasker, text: str, expected: str) -> None:
    """The English half of the corpus is Shakespeare: its commonest slots are filled."""
    words = [c["token_str"] for c in masker(text, top_k=5)[0]]
    assert expected in words, words


def test_next_sentence_head_separates_obvious_pairs() -> None:
    scorer = BertScorer.load("scratch")
    follows = scorer.is_next("서식 메뉴를 엽니다.", "셀 서식을 선택합니다.")["is_next"]
    unrelated = scorer.is_next("서식 메뉴를 엽니다.", "Good morrow, my lord.")["is_next"]
    assert follows > 0.5 > unrelated
    english = scorer.is_next("Where is the king?", "He is in the garden, my lord.")["is_next"]
    off_topic = scorer.is_next("Where is the king?", "이 법은 공포한 날부터 시행한다.")["is_next"]
    assert english > off_topic


def test_scrambled_english_is_less_natural() -> None:
    scorer = BertScorer.load("scratch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = scorer.pseudo_perplexity("I know not what to say.")["pppl"]
        scrambled = scorer.pseudo_perplexity("say to what not know I.")["pppl"]
    assert plain < scrambled
