"""Graph state: what flows between nodes and what the checkpointer keeps per thread."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict, get_args

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

Route = Literal["expert", "generalist"]
Intent = Literal["chat", "ppl", "fill_mask", "nsp", "rag", "image"]
ROUTES: tuple[str, ...] = get_args(Route)
INTENTS: tuple[str, ...] = get_args(Intent)


class InputState(TypedDict):
    """What a caller provides: the new message(s)."""

    messages: Annotated[list[AnyMessage], add_messages]


class State(InputState, total=False):
    """Everything nodes read and write during one turn."""

    route: Route
    intent: Intent
    route_score: float
    model: str  # the model that actually answered
    notice: str  # e.g. why the generalist was skipped
    tool_calls: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    hits: list[dict[str, Any]]  # chunks retrieved for this turn that passed the relevance gate
    retrieval_ms: float
    images: list[str]
    decision: dict[str, Any]  # the router's decision (scores, threshold, method, why)
    pending: dict[str, Any] | None  # the tool call the generalist chose and has not run yet
    summary: str  # the expert's summary of the turns that no longer fit the history budget
    summarized: int  # how many earlier messages the summary covers
