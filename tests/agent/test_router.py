"""The learned router: shipped data and model, accuracy floors, thresholds by share, training, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lmgen.agent.keyword_router import route_text as keyword_route
from lmgen.agent.router import evaluate_router, load_router, route_text
from lmgen.agent.router_data import load_requests
from lmgen.agent.router_model import RouterModel, TrainConfig, threshold_table, train_router
from lmgen.errors import InputError, ModelFileError


def test_the_labelled_set_is_big_balanced_and_split_by_family() -> None:
    requests = load_requests()
    assert len(requests) >= 600
    korean = sum(r.lang == "ko" for r in requests)
    assert 0.45 <= korean / len(requests) <= 0.55
    train = {r.family for r in requests if r.split == "train"}
    test = {r.family for r in requests if r.split == "test"}
    assert train and test and not train & test  # a family is wholly in one split
    assert {r.intent for r in requests if r.split == "test"} == {r.intent for r in requests}
    texts = [r.text for r in requests]
    assert len(set(texts)) == len(texts)


def test_shipped_router_beats_the_floors_on_the_test_split() -> None:
    result = evaluate_router(split="test")
    assert result["accuracy"] >= 0.9 and result["intent_accuracy"] >= 0.9
    en, ko = result["by_language"]["en"], result["by_language"]["ko"]
    assert abs(en["route_accuracy"] - ko["route_accuracy"]) <= 0.05
    assert abs(en["intent_accuracy"] - ko["intent_accuracy"]) <= 0.05
    assert set(result["per_intent"]) == {"chat", "ppl", "fill_mask", "nsp", "rag", "image"}
    assert sum(sum(row.values()) for row in result["confusion"].values()) == result["n"]


def test_learned_router_is_better_than_the_keyword_rules() -> None:
    test = load_requests(split="test")
    keyword = sum(keyword_route(r.text).route == r.route for r in test) / len(test)
    assert evaluate_router(split="test")["accuracy"] > keyword


@pytest.mark.parametrize(
    "text",
    [
        "hello, how are you?",
        "안녕하세요!",
        "What is the capital of France? Answer in one word.",
        "한국의 수도는?",
    ],
)
def test_greetings_and_short_facts_go_to_the_expert(text: str) -> None:
    decision = route_text(text)
    assert (decision.route, decision.intent) == ("expert", "chat") and decision.topic < 0.5


@pytest.mark.parametrize(
    "text",
    [
        "Show that the sum of two odd numbers is always even.",
        "Write a 400-word story about a lighthouse keeper.",
        "VAE와 GAN의 차이를 자세히 설명하고 파이썬 코드로 구현해줘",
    ],
)
def test_hard_requests_go_to_the_generalist(text: str) -> None:
    assert route_text(text).route == "generalist"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("오토인코더로 샘플 몇 개 보여줘", "image"),
        ("Do these two sentences go together: 'I lost my keys.' and 'So I called a locksmith.'?", "nsp"),
        ("내 문서에서 임베딩 모델이 뭔지 찾아줘", "rag"),
        ("What is the perplexity of 'the king is dead'?", "ppl"),
    ],
)
def test_tool_and_document_intents(text: str, intent: str) -> None:
    assert route_text(text).intent == intent


def test_a_mask_is_an_exact_rule() -> None:
    decision = route_text("hello [MASK] world")
    assert decision.intent == "fill_mask" and decision.method == "rule"


def test_threshold_by_share_moves_the_decision() -> None:
    model = load_router()
    text = "Why is diffusion slow, in short?"
    p = route_text(text, model=model).p_generalist
    cuts = [model.threshold_for_share(s) for s in (0.0, 0.3, 0.6, 1.0)]
    assert cuts == sorted(cuts, reverse=True)  # more share, lower cut
    assert route_text(text, threshold=p + 0.01, model=model).route == "expert"
    assert route_text(text, threshold=p - 0.01, model=model).route == "generalist"
    assert route_text(text, threshold=model.threshold_for_share(1.0), model=model).route == "generalist"
    assert route_text(text, threshold=model.threshold_for_share(0.0), model=model).route == "expert"
    with pytest.raises(InputError):
        model.threshold_for_share(1.5)


def test_threshold_table_sends_the_asked_share() -> None:
    p = np.linspace(0, 1, 101)
    table = threshold_table(p)
    for share in ("0.10", "0.50", "0.90"):
        assert abs((p >= table[share]).mean() - float(share)) <= 0.011


def _toy_embed(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in embedding: 'long' words push one axis, 'tool' words another."""
    out = np.zeros((len(texts), 8), dtype=np.float32)
    for i, t in enumerate(texts):
        out[i, 0] = t.count("prove") + t.count("essay")
        out[i, 1] = t.count("[MASK]") + t.count("draw")
        out[i, 2] = 1.0
    return out


def test_training_saves_and_loads_without_pickle(tmp_path: Path) -> None:
    from lmgen.agent.router_data import LabelledRequest

    rows = [
        LabelledRequest("prove it, prove it", "chat", "generalist", "general", "f1", "train"),
        LabelledRequest("write an essay essay", "chat", "generalist", "general", "f1", "train"),
        LabelledRequest("hi", "chat", "expert", "general", "f2", "train"),
        LabelledRequest("draw draw a 7", "image", "expert", "course", "f3", "train"),
        LabelledRequest("a [MASK] b", "fill_mask", "expert", "course", "f4", "train"),
    ]
    model = train_router(rows, rows, _toy_embed, TrainConfig(steps=300))
    model.save(tmp_path / "r")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["router.json", "router.safetensors"]
    again = RouterModel.load(tmp_path / "r")
    x = np.concatenate([_toy_embed(["prove prove"]), np.zeros((1, 3), np.float32)], axis=1)
    assert again.predict(x)["route"][0, 1] > 0.5
    assert json.loads((tmp_path / "r" / "router.json").read_text())["train_requests"] == 5


def test_corrupt_or_missing_router_files_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError):
        RouterModel.load(tmp_path)
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "router.json").write_text("{not json")
    (folder / "router.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelFileError, match="cannot be read"):
        RouterModel.load(folder)


def test_bad_labels_in_data_are_errors(tmp_path: Path) -> None:
    bad = tmp_path / "r.txt"
    bad.write_text("## f | chat | expert | general | train\nhi\n## g | dance | expert | general | test\nx\n")
    with pytest.raises(InputError, match="dance"):
        load_requests(bad)
