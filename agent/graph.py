"""The agent graph::

    route_request → run_tool → END
                  → retrieve_docs → answer_from_docs | call_expert | call_generalist → END

A request that names a tool's work with its arguments in plain sight (a ``[MASK]`` text, two
quoted sentences, "draw a 7") runs that tool directly (:mod:`lmgen.agent.tool_requests`).
Everything else first searches the knowledge base: when it holds chunks that clear the relevance
gate (or the user asked about the documents), the RAG chain answers with numbered citations and
the chunks go to ``sources``; otherwise a model answers on its own. The generalist may be remote
and may fail; then the expert answers and the state's ``notice`` says why, so the UI and the CLI
can show it next to the reply.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from lmgen.agent import prompts
from lmgen.agent.context import Context
from lmgen.agent.models import count_tokens, expert_chat_model, generalist_chat_model, model_label
from lmgen.agent.router import route_text
from lmgen.agent.state import InputState, State
from lmgen.agent.tool_requests import describe_result, plan_tool_call
from lmgen.chains.chat import build_chat_chain
from lmgen.errors import InputError, LmgenError

log = logging.getLogger(__name__)
T = TypeVar("T")


def _context(runtime: Runtime[Context]) -> Context:
    return runtime.context if runtime.context is not None else Context()


def last_user_text(state: State) -> str:
    for message in reversed(state["messages"]):
        if message.type == "human":
            return message.text
    return ""


def route_request(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pick the route and intent of the newest user message."""
    ctx = _context(runtime)
    decision = route_text(last_user_text(state), ctx.route_threshold)
    route = ctx.force_route or decision.route
    return {
        "route": route,
        "intent": decision.intent,
        "route_score": decision.score,
        "notice": "",
        "tool_calls": [],
        "sources": [],
        "images": [],
        "hits": [],
        "retrieval_ms": 0.0,
    }


def choose_next(state: State) -> Literal["run_tool", "retrieve_docs"]:
    if plan_tool_call(state.get("intent", "chat"), last_user_text(state)) is not None:
        return "run_tool"
    return "retrieve_docs"


def _knowledge(ctx: Context) -> Any:
    """The knowledge base, or None when RAG is off or nothing was ever ingested (no store to open)."""
    from lmgen.stores.knowledge import knowledge_base, store_exists

    if not ctx.rag or not (ctx.chroma_url or store_exists()):
        return None
    return knowledge_base(ctx.embeddings, ctx.chroma_url)


def retrieve_docs(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Search the knowledge base for the newest user message (hybrid) and keep the relevant chunks."""
    from lmgen.chains.rag import relevant

    ctx = _context(runtime)
    question = last_user_text(state)
    start = time.perf_counter()
    try:
        kb = _knowledge(ctx)
        hits = relevant(kb.search(question, k=ctx.rag_k), question) if kb is not None else []
    except LmgenError as exc:
        log.warning("knowledge base unavailable: %s", exc.one_line())
        return {"hits": [], "notice": f"The knowledge base is unavailable ({exc.one_line()})."}
    return {
        "hits": [asdict(h) for h in hits],  # with the stored terms the citation check reuses
        "retrieval_ms": round((time.perf_counter() - start) * 1000, 1),
    }


def after_retrieval(state: State) -> Literal["answer_from_docs", "call_expert", "call_generalist"]:
    if state.get("intent") == "rag" or state.get("hits"):
        return "answer_from_docs"
    return "call_generalist" if state.get("route") == "generalist" else "call_expert"


def run_tool(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run the planned tool; its result (and any images) become the reply."""
    from lmgen.tools import TOOLS

    plan = plan_tool_call(state.get("intent", "chat"), last_user_text(state))
    assert plan is not None
    tool = next(t for t in TOOLS if t.name == plan.name)
    images: list[str] = []
    try:
        if plan.name == "generate_images":
            message = tool.invoke(
                {"type": "tool_call", "id": "run_tool", "name": plan.name, "args": plan.args}
            )
            text, artifact = str(message.content), message.artifact
            images = [artifact["grid"]]
            result: Any = {k: artifact[k] for k in ("grid", "model", "seconds")} | {
                "count": len(artifact["files"])
            }
        else:
            result = tool.invoke(plan.args)
            text = describe_result(plan.name, result)
    except LmgenError as exc:
        text, result = f"{plan.name} could not run: {exc.one_line()}", {"error": exc.one_line()}
    call = {"name": plan.name, "args": plan.args, "result": result}
    return {
        "messages": [AIMessage(content=text)],
        "model": f"tool:{plan.name}",
        "tool_calls": [call],
        "images": images,
    }


def _answer(model: BaseChatModel, state: State, ctx: Context) -> AIMessage:
    chain = build_chat_chain(model, ctx.system_prompt, ctx.history_tokens, lambda t: count_tokens(model, t))
    reply: AIMessage = chain.invoke(state["messages"])
    return reply


def call_expert(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer with the local expert sLM."""
    ctx = _context(runtime)
    model = expert_chat_model(ctx)
    return {"messages": [_answer(model, state, ctx)], "model": model_label(model)}


def _remote_errors() -> tuple[type[BaseException], ...]:
    """What a generalist may raise when it is down or misbehaves (provider SDKs imported lazily)."""
    errors: list[type[BaseException]] = [OSError, TimeoutError, LmgenError, ImportError]
    try:
        import httpx
        import openai

        errors += [openai.OpenAIError, httpx.HTTPError]
    except ImportError:
        pass
    return tuple(errors)


def _with_fallback(ctx: Context, route: str, run: Callable[[BaseChatModel], T]) -> tuple[T, str, str]:
    """``run`` with the route's model; a failing generalist hands over to the expert.

    Returns the result, the label of the model that produced it, and a notice (empty unless it fell back).
    """
    if route == "generalist":
        try:
            model = generalist_chat_model(ctx)
            return run(model), model_label(model), ""
        except _remote_errors() as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            log.warning("generalist failed, falling back to the expert: %s", reason)
            notice = prompts.FALLBACK_NOTICE.format(generalist=ctx.generalist, reason=reason)
            expert = expert_chat_model(ctx)
            return run(expert), model_label(expert), notice
    expert = expert_chat_model(ctx)
    return run(expert), model_label(expert), ""


def call_generalist(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer with the generalist; if it is unreachable or fails, the expert answers and says so."""
    ctx = _context(runtime)
    reply, label, notice = _with_fallback(ctx, "generalist", lambda m: _answer(m, state, ctx))
    return {"messages": [reply], "model": label} | ({"notice": notice} if notice else {})


def grounded_chain(kb: Any, model: BaseChatModel, ctx: Context) -> Any:
    """The RAG answer chain over ``kb`` with ``model``, sized by the context's settings."""
    from lmgen.chains.rag import build_rag_chain

    return build_rag_chain(
        kb,
        model,
        lambda t: count_tokens(model, t),
        k=ctx.rag_k,
        budget=ctx.rag_tokens,
        max_tokens=ctx.rag_max_tokens,
    )


def answer_from_docs(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """A grounded answer with numbered citations (or a decline) from the retrieved chunks."""
    from lmgen.chains.rag import decline_text
    from lmgen.stores.knowledge import Hit

    ctx = _context(runtime)
    question = last_user_text(state)
    kb = _knowledge(ctx)
    hits = [Hit(**h) for h in state.get("hits", [])]
    if kb is None or not hits:  # nothing to ground an answer on: decline without a model
        text = decline_text(question) + (f" ({prompts.EMPTY_KB_NOTICE})" if kb is None else "")
        return {"messages": [AIMessage(content=text)], "model": "rag", "intent": "rag", "sources": []}

    def run(model: BaseChatModel) -> Any:
        return grounded_chain(kb, model, ctx).invoke(
            {"question": question, "hits": hits, "retrieval_ms": state.get("retrieval_ms", 0.0)}
        )

    route = state.get("route", "expert") if ctx.rag_route == "route" else ctx.rag_route
    if route not in {"expert", "generalist"}:
        raise InputError(f"rag_route must be 'generalist', 'expert' or 'route', not {ctx.rag_route!r}")
    result, label, notice = _with_fallback(ctx, route, run)
    if result.flagged:
        extra = prompts.INJECTION_NOTICE.format(n=len(result.flagged))
        notice = f"{notice} {extra}".strip()
    message = AIMessage(content=result.answer, response_metadata=result.usage or {"model_name": label})
    return {
        "messages": [message],
        "model": label,
        "route": route,
        "intent": "rag",
        "sources": result.sources,
    } | ({"notice": notice} if notice else {})


builder = StateGraph(State, context_schema=Context, input_schema=InputState)
builder.add_node(route_request)
builder.add_node(call_expert)
builder.add_node(call_generalist)
builder.add_node(run_tool)
builder.add_node(retrieve_docs)
builder.add_node(answer_from_docs)
builder.add_edge(START, "route_request")
builder.add_conditional_edges("route_request", choose_next)
builder.add_conditional_edges("retrieve_docs", after_retrieval)
builder.add_edge("answer_from_docs", END)
builder.add_edge("run_tool", END)
builder.add_edge("call_expert", END)
builder.add_edge("call_generalist", END)

# Deployments (langgraph.json) bring their own checkpointer; the CLI and UI compile with SQLite.
graph = builder.compile(name="lmgen")
