"""The public Python API: ask a question, optionally in a persistent thread, and stream the reply.

>>> from lmgen.agent.api import ask
>>> answer = ask("What is perplexity?", thread_id="demo")
>>> answer.route, answer.model, answer.answer
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any, cast

from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamMode

from lmgen.agent.context import Context
from lmgen.agent.graph import builder
from lmgen.errors import InputError
from lmgen.stores.threads import open_checkpointer

AgentGraph = CompiledStateGraph[Any, Any, Any, Any]
MAX_QUESTION_CHARS = 16_000  # beyond this a CPU prompt takes minutes; reject instead
_ANSWER_NODES = {"call_expert", "call_generalist", "answer_from_docs"}


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
        InputError: empty or longer than ``MAX_QUESTION_CHARS``.
    """
    if not text or not text.strip():
        raise InputError("empty question")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(f"question has {len(text):,} characters; the limit is {MAX_QUESTION_CHARS:,}")
    return text.strip()


def stream_ask(
    text: str,
    thread_id: str | None = None,
    context: Context | None = None,
    graph: AgentGraph | None = None,
) -> Iterator[str | Answer]:
    """Stream reply tokens (``str``) as they come, then yield the final :class:`Answer`.

    Args:
        text: The question.
        thread_id: Conversation to continue (kept across processes); a new one when omitted.
        context: Settings; defaults read ``LMGEN_*`` env vars.
        graph: A compiled graph; defaults to the persistent one.
    """
    question = check_question(text)
    thread_id = thread_id or uuid.uuid4().hex[:12]
    graph = graph or persistent_graph()
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    modes: list[StreamMode] = ["messages", "values"]
    start = time.perf_counter()
    final: dict[str, Any] = {}
    # With a list of modes, stream() yields (mode, payload) pairs.
    events = graph.stream(
        {"messages": [HumanMessage(question)]}, config, context=context or Context(), stream_mode=modes
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
        else:
            final = payload
    reply = final["messages"][-1]
    yield Answer(
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
    )


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
