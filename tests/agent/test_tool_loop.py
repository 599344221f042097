"""Wiring of the tool paths with scripted chat models (unit level; real models: test_agent_tools.py and
test_generalist_server.py): tool errors, rejected arguments, the step limit, repeated calls, fallback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver

from lmgen.agent import graph as graph_mod
from lmgen.agent.api import ask
from lmgen.agent.context import Context


class Scripted:
    """A chat model whose forced tool calls follow a script: ``{tool name: iterator of args}``."""

    def __init__(self, script: dict[str, Iterator[dict[str, Any]]], reply: str = "done") -> None:
        self.script = script
        self.reply = reply
        self.calls: list[str] = []

    def bind_tools(self, tools: list[dict[str, Any]], tool_choice: dict[str, Any]) -> Any:
        name = tool_choice["function"]["name"]

        def answer(messages: Any) -> AIMessage:
            self.calls.append(name)
            args = next(self.script[name])
            return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "c1"}])

        return RunnableLambda(answer)

    def invoke(self, messages: Any, **kwargs: Any) -> AIMessage:
        self.calls.append("reply")
        return AIMessage(content=self.reply)


@pytest.fixture(autouse=True)
def _env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LMGEN_ROUTER_JUDGE", "0")


@pytest.fixture
def compiled() -> Any:
    return graph_mod.builder.compile(checkpointer=InMemorySaver())


def use(monkeypatch: pytest.MonkeyPatch, expert: Any, generalist: Any = None) -> None:
    monkeypatch.setattr(graph_mod, "expert_chat_model", lambda ctx: expert)
    monkeypatch.setattr(graph_mod, "generalist_chat_model", lambda ctx: generalist or expert)
    monkeypatch.setattr(graph_mod, "model_label", lambda m: "scripted")


def test_a_failing_tool_is_named_and_the_turn_completes(
    compiled: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "Fill in: [MASK] " + "and so on " * 100 + "[MASK]"
    use(monkeypatch, Scripted({"fill_mask": iter([{"text": text}])}))
    answer = ask(text, context=Context(force_route="expert"), graph=compiled)
    assert answer.answer.startswith("The tool fill_mask could not run:")
    assert "error" in answer.tool_calls[0]["result"]


def test_invented_arguments_are_rejected_with_a_clarifying_reply(
    compiled: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, Scripted({"score_perplexity": iter([{"text": "a sentence nobody wrote"}])}))
    answer = ask('What is the perplexity of "to be or not to be"?', context=Context(), graph=compiled)
    assert answer.intent == "ppl" and "rejected" in answer.tool_calls[0]["result"]
    assert "Which text should I score?" in answer.answer


def test_optional_arguments_the_user_never_gave_are_dropped(
    compiled: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = {"score_perplexity": iter([{"text": "to be or not to be", "order": 10**15}])}
    use(monkeypatch, Scripted(script))
    answer = ask('What is the perplexity of "to be or not to be"?', context=Context(), graph=compiled)
    assert answer.tool_calls[0]["args"] == {"text": "to be or not to be"}
    assert answer.tool_calls[0]["result"]["ppl"] > 1


def test_the_loop_stops_at_the_step_limit(compiled: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sentences = [f"the king is number {n}" for n in ("one", "two", "three", "four", "five", "six")]
    request = "Compare the perplexity of " + ", ".join(f'"{s}"' for s in sentences) + " and explain."
    model = Scripted(
        {
            "choose_next_step": iter([{"tool": "score_perplexity"}] * 10),
            "score_perplexity": iter({"text": s} for s in sentences),
        },
        reply="The second is the most predictable.",
    )
    use(monkeypatch, model)
    answer = ask(request, context=Context(force_route="generalist", max_tool_steps=3), graph=compiled)
    assert [c["name"] for c in answer.tool_calls] == ["score_perplexity"] * 3
    assert answer.answer == "The second is the most predictable." and model.calls[-1] == "reply"


def test_a_repeated_call_ends_the_loop(compiled: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = Scripted(
        {
            "choose_next_step": iter([{"tool": "score_perplexity"}] * 5),
            "score_perplexity": iter([{"text": "the king is dead"}] * 5),
        }
    )
    use(monkeypatch, model)
    request = 'Score "the king is dead" with the n-gram model and explain what the number means.'
    answer = ask(request, context=Context(force_route="generalist"), graph=compiled)
    assert len(answer.tool_calls) == 1 and answer.answer == "done"


def test_a_repeat_is_told_once_and_the_next_measurement_follows(
    compiled: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small planner often copies its last call, here with an optional argument the request never
    gave (dropped when run, so the call is the same): it is told so once, and its next call runs."""
    model = Scripted(
        {
            "choose_next_step": iter([{"tool": "score_perplexity"}] * 2 + [{"tool": "answer"}]),
            "score_perplexity": iter(
                [
                    {"text": "the king is dead"},
                    {"text": "the king is dead", "order": 7},
                    {"text": "long live"},
                ]
            ),
        }
    )
    use(monkeypatch, model)
    request = 'Compare the n-gram perplexity of "the king is dead" and "long live".'
    answer = ask(request, context=Context(force_route="generalist"), graph=compiled)
    assert [c["args"]["text"] for c in answer.tool_calls] == ["the king is dead", "long live"]
    assert model.calls.count("score_perplexity") == 3, model.calls  # the repeat, then the retry


def test_a_dead_generalist_hands_the_loop_to_the_expert(
    compiled: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    expert = Scripted(
        {
            "choose_next_step": iter([{"tool": "next_sentence"}, {"tool": "answer"}]),
            "next_sentence": iter([{"sentence_a": "It rained.", "sentence_b": "The streets were wet."}]),
        },
        reply="IsNext, clearly.",
    )

    def down(ctx: Any) -> Any:
        raise httpx.ConnectError("connection refused")

    use(monkeypatch, expert)
    monkeypatch.setattr(graph_mod, "generalist_chat_model", down)
    request = 'Score "It rained." then "The streets were wet." with NSP and explain what it learned.'
    answer = ask(request, context=Context(force_route="generalist"), graph=compiled)
    assert answer.tool_calls[0]["name"] == "next_sentence" and answer.answer.endswith("IsNext, clearly.")
    assert "unavailable" in answer.notice and answer.display.startswith("[The generalist")
