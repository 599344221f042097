"""The first router: intents by keyword, routes by a transparent complexity score."""

import pytest

from lmgen.agent.router import complexity, detect_intent, route_text


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("나는 [MASK]에 가서 밥을 먹었다", "fill_mask"),
        ("Is 'It rained.' the next sentence after 'Clouds gathered.'?", "nsp"),
        ("What is the perplexity of this sentence?", "ppl"),
        ("이 문장의 퍼플렉서티를 계산해줘", "ppl"),
        ("draw a 7", "image"),
        ("숫자 7을 그려줘", "image"),
        ("According to the docs, what is NSP?", "rag"),
        ("문서에서 VAE 설명을 찾아줘", "rag"),
        ("hello there", "chat"),
    ],
)
def test_intents(text: str, intent: str) -> None:
    assert detect_intent(text) == intent


def test_short_questions_go_to_the_expert() -> None:
    for text in ["What is the capital of France? Answer in one word.", "한국의 수도는 어디인가요?"]:
        decision = route_text(text)
        assert decision.route == "expert" and decision.intent == "chat" and decision.score > 0.5


def test_complex_requests_go_to_the_generalist() -> None:
    text = (
        "Explain step by step why VAE samples are blurrier than GAN samples, then write a Python function "
        "that computes the KL term. What are the trade-offs? Which would you pick?"
    )
    decision = route_text(text)
    assert decision.route == "generalist"
    assert decision.features["code"] > 0 and decision.features["reasoning"] > 0


def test_korean_complex_request() -> None:
    assert route_text("VAE와 GAN의 차이를 자세히 설명하고 파이썬 코드로 구현해줘").route == "generalist"


def test_tool_intents_stay_on_the_expert_even_when_long() -> None:
    text = "Explain in detail and compare: what is the perplexity of " + "this long sentence " * 40
    decision = route_text(text)
    assert decision.intent == "ppl" and decision.route == "expert"


def test_threshold_moves_the_boundary() -> None:
    text = "Explain why the sky is blue."
    score, _ = complexity(text)
    assert route_text(text, threshold=score - 0.01).route == "generalist"
    assert route_text(text, threshold=score + 0.01).route == "expert"
