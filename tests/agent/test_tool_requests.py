"""Requests that name a tool's work run that tool: planning from the text, and the graph's tool node."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from lmgen.agent import graph as graph_mod
from lmgen.agent.api import ask
from lmgen.agent.context import Context
from lmgen.agent.router import detect_intent
from lmgen.agent.tool_requests import plan_tool_call


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("나는 [MASK]에 가서 밥을 먹었다", "fill_mask", {"text": "나는 [MASK]에 가서 밥을 먹었다"}),
        ("Fill the blank: good [MASK], my lord.", "fill_mask", {"text": "good [MASK], my lord."}),
        ('What goes in "the [MASK] of Denmark" here?', "fill_mask", {"text": "the [MASK] of Denmark"}),
        (
            'Is "Where is the king?" followed by "He is in the garden."? (next sentence)',
            "next_sentence",
            {"sentence_a": "Where is the king?", "sentence_b": "He is in the garden."},
        ),
        (
            "What is the perplexity of 'to be or not to be'?",
            "score_perplexity",
            {"text": "to be or not to be"},
        ),
        ("draw a 7", "generate_images", {"model": "ddpm", "count": 8, "seed": 0, "digit": 7}),
        ("숫자 3을 그려줘", "generate_images", {"model": "ddpm", "count": 8, "seed": 0, "digit": 3}),
        ("generate 4 images with the GAN", "generate_images", {"model": "gan", "count": 4, "seed": 0}),
        ("draw faces", "generate_images", {"model": "faces", "count": 8, "seed": 0}),
        (
            "sample 16 digits with ddim in 20 steps",
            "generate_images",
            {"model": "ddpm", "count": 16, "seed": 0, "steps": 20},
        ),
    ],
)
def test_plans(text: str, name: str, args: dict[str, Any]) -> None:
    plan = plan_tool_call(detect_intent(text), text)
    assert plan is not None and plan.name == name and plan.args == args


@pytest.mark.parametrize("text", ["What is NSP?", "Explain perplexity.", "what does fill-mask mean?"])
def test_questions_about_a_tool_go_to_a_model(text: str) -> None:
    assert plan_tool_call(detect_intent(text), text) is None


def test_tool_node_answers_without_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(ctx: Context) -> Any:
        raise AssertionError("a model was called for a tool request")

    monkeypatch.setattr(graph_mod, "expert_chat_model", no_model)
    monkeypatch.setattr(graph_mod, "generalist_chat_model", no_model)
    compiled = graph_mod.builder.compile(checkpointer=InMemorySaver())
    answer = ask("What is the perplexity of 'to be or not to be'?", context=Context(), graph=compiled)
    assert answer.model == "tool:score_perplexity" and answer.answer.startswith("N-gram perplexity")
    assert answer.tool_calls[0]["name"] == "score_perplexity" and answer.tool_calls[0]["result"]["ppl"] > 1
    bad = ask("Fill in: [MASK] " + "and so on " * 100 + "[MASK]", context=Context(), graph=compiled)
    assert "could not run" in bad.answer and "error" in bad.tool_calls[0]["result"]
