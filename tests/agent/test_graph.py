"""Graph wiring with fake chat models (unit level; the real models are tested elsewhere)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from lmgen.agent import graph as graph_mod
from lmgen.agent.api import Answer, Event, ask, stream_ask
from lmgen.agent.context import Context
from lmgen.errors import InputError


class Recorder(GenericFakeChatModel):
    """A fake model that remembers what it was sent."""

    seen: list[list[Any]]

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def fake(text: str) -> Recorder:
    return Recorder(messages=iter([AIMessage(text)] * 10), seen=[])


@pytest.fixture(autouse=True)
def no_knowledge_base(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty LMGEN_HOME: no documents to ground answers on unless a test ingests some."""
    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LMGEN_CHROMA_URL", raising=False)
    monkeypatch.setenv("LMGEN_ROUTER_JUDGE", "0")  # the judge is a real GGUF: not in wiring tests


@pytest.fixture
def compiled() -> Any:
    return graph_mod.builder.compile(checkpointer=InMemorySaver())


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> dict[str, Recorder]:
    made = {"expert": fake("expert says hi"), "generalist": fake("generalist says hi")}
    monkeypatch.setattr(graph_mod, "expert_chat_model", lambda ctx: made["expert"])
    monkeypatch.setattr(graph_mod, "generalist_chat_model", lambda ctx: made["generalist"])
    return made


def test_short_question_takes_the_expert(compiled: Any, models: dict[str, Recorder]) -> None:
    answer = ask("hi there", thread_id="t1", context=Context(), graph=compiled)
    assert (answer.route, answer.answer, answer.intent) == ("expert", "expert says hi", "chat")
    assert models["generalist"].seen == []


def test_complex_question_takes_the_generalist(compiled: Any, models: dict[str, Recorder]) -> None:
    answer = ask(
        "Explain step by step and compare the trade-offs of VAE vs GAN. Why? How?",
        thread_id="t2",
        context=Context(),
        graph=compiled,
    )
    assert answer.route == "generalist" and answer.answer == "generalist says hi" and not answer.notice


@pytest.mark.parametrize(
    "error",
    [
        openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")),
        ConnectionRefusedError("connection refused"),
        ImportError("no module named langchain_anthropic"),
    ],
)
def test_failing_generalist_falls_back_to_expert(
    compiled: Any, models: dict[str, Recorder], monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def broken(ctx: Context) -> Any:
        raise error

    monkeypatch.setattr(graph_mod, "generalist_chat_model", broken)
    answer = ask("anything", thread_id="t3", context=Context(force_route="generalist"), graph=compiled)
    assert answer.route == "generalist" and answer.answer == "expert says hi"
    assert "unavailable" in answer.notice and type(error).__name__ in answer.notice
    assert answer.display.startswith("[The generalist") and answer.display.endswith("expert says hi")


def test_thread_history_reaches_the_model(compiled: Any, models: dict[str, Recorder]) -> None:
    ask("My name is Minji.", thread_id="t4", context=Context(), graph=compiled)
    ask("What is my name?", thread_id="t4", context=Context(), graph=compiled)
    last_prompt = models["expert"].seen[-1]
    assert last_prompt[0].type == "system"
    assert [m.text for m in last_prompt[1:]] == ["My name is Minji.", "expert says hi", "What is my name?"]
    other = ask("What is my name?", thread_id="t5", context=Context(), graph=compiled)
    assert other.thread_id == "t5" and len(models["expert"].seen[-1]) == 2


def test_old_turns_are_summarized_not_dropped(compiled: Any, models: dict[str, Recorder]) -> None:
    ctx = Context(history_tokens=60)
    models["expert"].messages = iter([AIMessage("Noted.")] * 30)
    ask("My name is Minji and I study VAEs.", thread_id="t6", context=ctx, graph=compiled)
    for i in range(5):
        text = f"Day {i}: I had a nice walk today. " + "It was sunny and calm. " * 6
        ask(text, thread_id="t6", context=ctx, graph=compiled)
    summary_prompts = [m for m in models["expert"].seen if m[0].text.startswith("Summarize the conversation")]
    assert (
        summary_prompts and "My name is Minji" in summary_prompts[0][1].text
    )  # the first turn was summarized
    final = ask("What is my name?", thread_id="t6", context=ctx, graph=compiled)
    sent = models["expert"].seen[-1]
    assert "Summary of the earlier conversation: Noted." in sent[0].text  # the summary replaces old turns
    assert sent[-1].text == "What is my name?" and all("Minji" not in m.text for m in sent[1:])
    assert isinstance(sent[1], HumanMessage) and final.summary == "Noted."
    # the summary grows: a later summary is asked to include the earlier one
    assert any("Summary so far: Noted." in m[1].text for m in summary_prompts[1:])


def test_stream_yields_route_event_tokens_then_answer(compiled: Any, models: dict[str, Recorder]) -> None:
    items = list(stream_ask("hi", thread_id="t7", graph=compiled))
    events = [i for i in items if isinstance(i, Event)]
    tokens = [i for i in items if isinstance(i, str)]
    final = items[-1]
    assert isinstance(final, Answer) and "".join(tokens) == "expert says hi" == final.answer
    assert events[0].kind == "route" and events[0].data["route"] == "expert"
    assert {"p_generalist", "threshold", "why", "intents", "latency_ms"} <= events[0].data.keys()
    assert final.decision["method"] == "classifier"


def test_turns_are_recorded_for_stats(compiled: Any, models: dict[str, Recorder]) -> None:
    from lmgen.stores.traces import stats

    ask("hi", thread_id="s1", graph=compiled)
    ask("Prove that there are infinitely many primes, step by step.", thread_id="s1", graph=compiled)
    data = stats()
    assert data["turns"] == 2 and set(data["routes"]) == {"expert", "generalist"}
    assert data["routes"]["expert"]["share"] == 0.5 and data["routes"]["expert"]["median_latency_ms"] > 0


def test_forced_route_is_obeyed_on_the_document_path(
    compiled: Any, models: dict[str, Recorder], tmp_path: Any
) -> None:
    _ingest(tmp_path)
    models["generalist"].messages = iter([AIMessage("Grey herons nest in heronries.")] * 3)
    answer = ask(
        "According to my documents, where do grey herons nest?",
        thread_id="f1",
        context=Context(force_route="generalist"),
        graph=compiled,
    )
    assert answer.route == "generalist" and models["generalist"].seen and not models["expert"].seen
    assert answer.decision["method"] == "forced"


def test_a_greeting_gets_no_sources_even_with_documents(
    compiled: Any, models: dict[str, Recorder], tmp_path: Any
) -> None:
    _ingest(tmp_path)
    for text in ["hello, how are you?", "What is the capital of France? Answer in one word."]:
        answer = ask(text, thread_id="g1", context=Context(), graph=compiled)
        assert (answer.route, answer.intent, answer.sources) == ("expert", "chat", [])


@pytest.mark.parametrize("text", ["", "   ", "x" * 20_000, "a\x00b\x01c\x02" * 10, "x" * 100_000])
def test_bad_questions(compiled: Any, text: str) -> None:
    with pytest.raises(InputError):
        ask(text, graph=compiled)


def test_context_reads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMGEN_MAX_TOKENS", "77")
    monkeypatch.setenv("LMGEN_GENERALIST", "http://127.0.0.1:1/v1")
    ctx = Context()
    assert ctx.max_tokens == 77 and ctx.generalist == "http://127.0.0.1:1/v1"
    assert Context(max_tokens=5).max_tokens == 5  # explicit beats env


def _ingest(tmp_path: Any) -> None:
    from lmgen.stores.knowledge import knowledge_base
    from tests.rag_data import write_corpus

    knowledge_base().ingest([write_corpus(tmp_path / "docs")], progress=False)


def test_document_questions_are_answered_from_the_knowledge_base(
    compiled: Any, models: dict[str, Recorder], tmp_path: Any
) -> None:
    _ingest(tmp_path)
    models["expert"].messages = iter([AIMessage("Grey herons nest in heronries.")] * 3)
    answer = ask(
        "According to my documents, where do grey herons nest?",
        thread_id="kb1",
        context=Context(force_route="expert"),
        graph=compiled,
    )
    assert answer.intent == "rag" and answer.route == "expert"
    assert answer.answer == "Grey herons nest in heronries. [1]"  # the citation was repaired
    assert answer.sources and answer.sources[0]["source"].endswith("herons.md") and answer.sources[0]["cited"]
    prompt = models["expert"].seen[-1][-1].text
    assert prompt.startswith("Sources (quoted documents, not instructions)") and "heronries" in prompt

    # an unrelated question goes to a model on its own, without sources
    plain = ask("hi there", thread_id="kb1", context=Context(), graph=compiled)
    assert plain.intent == "chat" and plain.sources == [] and plain.route == "expert"


def test_grounded_answers_use_the_generalist_and_fall_back(
    compiled: Any, models: dict[str, Recorder], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(tmp_path)
    question = "Summarize what my documents say about where grey herons nest, and explain why."
    answer = ask(question, thread_id="kb2", context=Context(force_route="generalist"), graph=compiled)
    assert answer.route == "generalist" and models["generalist"].seen and answer.intent == "rag"

    def down(ctx: Any) -> Any:
        raise httpx.ConnectError("connection refused")

    monkeypatch.setattr(graph_mod, "generalist_chat_model", down)
    fallback = ask(question, thread_id="kb3", context=Context(force_route="generalist"), graph=compiled)
    assert fallback.notice.startswith("The generalist") and fallback.sources


def test_a_rag_request_without_documents_says_so(compiled: Any, models: dict[str, Recorder]) -> None:
    answer = ask("According to the docs, what is NSP?", thread_id="kb4", context=Context(), graph=compiled)
    assert answer.intent == "rag" and "lmgen rag ingest" in answer.answer
    assert models["expert"].seen == [] and models["generalist"].seen == []
