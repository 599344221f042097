"""The agent graph: ``route_request → run_tool | call_expert | call_generalist → END``.

A request that names a tool's work with its arguments in plain sight (a ``[MASK]`` text, two
quoted sentences, "draw a 7") runs that tool directly (:mod:`lmgen.agent.tool_requests`);
everything else goes to a model. The generalist may be remote and may fail; then the expert
answers and the state's ``notice`` says why, so the UI and the CLI can show it next to the reply.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

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
from lmgen.errors import LmgenError

log = logging.getLogger(__name__)


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
    }


def choose_next(state: State) -> Literal["run_tool", "call_expert", "call_generalist"]:
    if plan_tool_call(state.get("intent", "chat"), last_user_text(state)) is not None:
        return "run_tool"
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


def call_generalist(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer with the generalist; if it is unreachable or fails, the expert answers and says so."""
    ctx = _context(runtime)
    try:
        model = generalist_chat_model(ctx)
        reply = _answer(model, state, ctx)
        return {"messages": [reply], "model": model_label(model)}
    except _remote_errors() as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        log.warning("generalist failed, falling back to the expert: %s", reason)
        notice = prompts.FALLBACK_NOTICE.format(generalist=ctx.generalist, reason=reason)
        expert = expert_chat_model(ctx)
        return {"messages": [_answer(expert, state, ctx)], "model": model_label(expert), "notice": notice}


builder = StateGraph(State, context_schema=Context, input_schema=InputState)
builder.add_node(route_request)
builder.add_node(call_expert)
builder.add_node(call_generalist)
builder.add_node(run_tool)
builder.add_edge(START, "route_request")
builder.add_conditional_edges("route_request", choose_next)
builder.add_edge("run_tool", END)
builder.add_edge("call_expert", END)
builder.add_edge("call_generalist", END)

# Deployments (langgraph.json) bring their own checkpointer; the CLI and UI compile with SQLite.
graph = builder.compile(name="lmgen")
