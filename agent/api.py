"""The public Python API: ask a question, optionally in a persistent thread, and stream the reply.

>>> from lmgen.agent.api import ask
>>> answer = ask("What is perplexity?", thread_id="demo")
>>> answer.route, answer.model, answer.answer
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any, cast

from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamMode

from lmgen.agent.context import Context
from lmgen.agent.graph import builder
from lmgen.errors import InputError
from lmgen.stores.threads import open_checkpointer

log = logging.getLogger(__name__)
AgentGraph = CompiledStateGraph[Any, Any, Any, Any]
MAX_QUESTION_CHARS = 16_000  # beyond this a CPU prompt takes minutes; reject instead
_ANSWER_NODES = {"call_expert", "call_generalist", "answer_from_docs", "write_answer"}


@dataclass
class Event:
    """A step of a turn as it happens: ``route``, ``tool_call``, ``tool_result``, ``tool_rejected``,
    ``retrieval``, ``summary`` or ``fallback``, with what the node reported."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Answer:
    """One turn's result; ``to_json()`` gives the CLI contract's keys (plus a few extras)."""

    route: str
    model: str
    answer: str
    intent: str = "chat"
    route_score: float = 0.0
    notice: str = ""
    thread_id: str = ""
    latency_ms: float = 0.0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] = field(default_factory=dict)  # the router's scores, threshold, method, why
    summary: str = ""  # the summary of older turns the model saw, when the history overflowed

    @property
    def display(self) -> str:
        """The reply as a person should read it: the notice (if any) first."""
        return f"[{self.notice}]\n\n{self.answer}" if self.notice else self.answer

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["answer"] = self.display
        return data


@cache
def persistent_graph() -> AgentGraph:
    """The graph compiled with the SQLite checkpointer (once per process)."""
    return builder.compile(checkpointer=open_checkpointer(), name="lmgen")


def check_question(text: str) -> str:
    """Reject input no model should see.

    Raises:
        InputError: empty, binary (NUL or other control bytes) or longer than ``MAX_QUESTION_CHARS``.
    """
    if not text or not text.strip():
        raise InputError("empty question")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(
            f"question has {len(text):,} characters; the limit is {MAX_QUESTION_CHARS:,}",
            hint="put long documents in the knowledge base (lmgen rag ingest) and ask about them",
        )
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t")
    if "\x00" in text or controls > max(2, len(text) // 100):
        raise InputError("the question looks like binary data (control characters), not text")
    return text.strip()


def stream_ask(
    text: str,
    thread_id: str | None = None,
    context: Context | None = None,
    graph: AgentGraph | None = None,
    history: Sequence[BaseMessage] = (),
) -> Iterator[str | Event | Answer]:
    """Stream a turn: :class:`Event` steps and reply tokens (``str``) as they come, then the :class:`Answer`.

    Args:
        text: The question.
        thread_id: Conversation to continue (kept across processes); a new one when omitted.
        context: Settings; defaults read ``LMGEN_*`` env vars.
        graph: A compiled graph; defaults to the persistent one.
        history: Earlier messages sent with the question (a stateless client such as an OpenAI-style
            request carries its own conversation); they are added to the thread before the question.
    """
    question = check_question(text)
    thread_id = thread_id or uuid.uuid4().hex[:12]
    graph = graph or persistent_graph()
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    modes: list[StreamMode] = ["messages", "values", "custom"]
    start = time.perf_counter()
    final: dict[str, Any] = {}
    # With a list of modes, stream() yields (mode, payload) pairs.
    events = graph.stream(
        {"messages": [*history, HumanMessage(question)]},
        config,
        context=context or Context(),
        stream_mode=modes,
    )
    for mode, payload in cast(Iterator[tuple[str, Any]], events):
        if mode == "messages":
            chunk, meta = payload
            # Only streamed pieces: the node's finished AIMessage arrives here too and would repeat them.
            if (
                isinstance(chunk, AIMessageChunk)
                and chunk.text
                and meta.get("langgraph_node") in _ANSWER_NODES
            ):
                yield chunk.text
        elif mode == "custom":
            data = dict(payload)
            yield Event(str(data.pop("event", "step")), data)
        else:
            final = payload
    reply = final["messages"][-1]
    answer = Answer(
        route=final.get("route", "expert"),
        model=final.get("model", ""),
        answer=reply.text,
        intent=final.get("intent", "chat"),
        route_score=final.get("route_score", 0.0),
        notice=final.get("notice", ""),
        thread_id=thread_id,
        latency_ms=round((time.perf_counter() - start) * 1000, 1),
        tool_calls=final.get("tool_calls", []),
        sources=final.get("sources", []),
        images=final.get("images", []),
        usage=dict(reply.response_metadata),
        decision=final.get("decision", {}),
        summary=final.get("summary", "") if final.get("summarized") else "",
    )
    _trace(answer, question)
    yield answer


def _trace(answer: Answer, question: str) -> None:
    """Record the turn for ``lmgen stats`` (a trace store that cannot be written never fails a turn)."""
    import sqlite3

    from lmgen.agent.router_data import language_of
    from lmgen.stores.traces import record_turn

    try:
        record_turn(
            {
                "thread": answer.thread_id,
                "route": answer.route,
                "intent": answer.intent,
                "method": answer.decision.get("method"),
                "p_generalist": answer.decision.get("p_generalist"),
                "threshold": answer.decision.get("threshold"),
                "model": answer.model,
                "tools": [c["name"] for c in answer.tool_calls],
                "prompt_tokens": answer.usage.get("prompt_tokens"),
                "completion_tokens": answer.usage.get("completion_tokens"),
                "latency_ms": answer.latency_ms,
                "route_ms": answer.decision.get("latency_ms"),
                "notice": answer.notice,
                "language": language_of(question),
            }
        )
    except (OSError, sqlite3.Error) as exc:
        log.warning("could not record the turn: %s", exc)


def ask(
    text: str,
    thread_id: str | None = None,
    context: Context | None = None,
    graph: AgentGraph | None = None,
) -> Answer:
    """Ask a question and wait for the whole :class:`Answer` (see :func:`stream_ask`)."""
    for item in stream_ask(text, thread_id, context, graph):
        if isinstance(item, Answer):
            return item
    raise AssertionError("stream_ask ended without an answer")
