"""The agent graph (``lmgen graph`` prints it as Mermaid)::

    route_request ─┬─ fill_tool_args ──────────────────────────────► END   (a plain tool request)
                   ├─ plan_step ⇄ run_step ─► write_answer ─────────► END   (tools, then reasoning)
                   ├─ retrieve_docs ─┬─ answer_from_docs ───────────► END   (documents; lmgen's subjects)
                   │                 └─ summarize_history ─┐
                   └─ summarize_history ───────────────────┴─ call_expert | call_generalist ─► END

* ``route_request`` — the learned router (:mod:`lmgen.agent.router`); ``force_route`` wins.
* A tool intent on the expert route: the expert fills that tool's arguments as grammar-constrained
  JSON (:mod:`lmgen.agent.tool_calls`), the tool runs, the reply states the result; an unreadable
  request gets a clarifying reply instead of a wrong call.
* A tool intent on the generalist route: a tool-calling loop — the generalist picks the next tool
  (or "answer"), fills its arguments, the tool runs, up to ``max_tool_steps`` times; then it writes
  the answer from the results.
* Document questions (intent ``rag``) and chat on lmgen's own subjects search the knowledge base;
  relevant chunks give a grounded answer with citations. Greetings and general facts never do.
* Before a plain answer, history beyond the model's budget is summarized by the expert.

The generalist may be remote and may fail; then the expert answers and ``notice`` says why.
Each node reports what it did on LangGraph's ``custom`` stream (route decision, tool calls and
results, retrieval, summaries), which the CLI and the UI show as steps.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from lmgen.agent import prompts
from lmgen.agent.context import Context
from lmgen.agent.models import (
    count_tokens,
    expert_chat_model,
    expert_runtime,
    generalist_chat_model,
    model_label,
    query_translator,
    remote_errors,
)
from lmgen.agent.router import load_router, route_text, router_threshold
from lmgen.agent.state import InputState, State
from lmgen.agent.tool_calls import (
    INTENT_TOOLS,
    CheckedCall,
    arguments_text,
    check_call,
    compact_result,
    force_tool_call,
    openai_tool,
    run_checked,
)
from lmgen.chains.chat import build_chat_chain, recent_history
from lmgen.errors import InputError, LmgenError, brief

log = logging.getLogger(__name__)
T = TypeVar("T")
ANSWER = "answer"  # the agent loop's "no more tools" choice


def _context(runtime: Runtime[Context]) -> Context:
    return runtime.context if runtime.context is not None else Context()


def _emit(event: str, **data: Any) -> None:
    """Report a step on the ``custom`` stream (a no-op outside streaming)."""
    try:
        writer = get_stream_writer()
    except RuntimeError:  # invoked outside a LangGraph run
        return
    writer({"event": event, **data})


def last_user_text(state: State) -> str:
    for message in reversed(state["messages"]):
        if message.type == "human":
            return message.text
    return ""


def _tools_by_name() -> dict[str, Any]:
    from lmgen.tools import TOOLS

    return {t.name: t for t in TOOLS}


# --------------------------------------------------------------------------- routing
def route_request(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pick the route and intent of the newest user message (the learned router; force_route wins)."""
    ctx = _context(runtime)
    text = last_user_text(state)
    router = load_router(ctx.router_model)
    threshold = router_threshold(router, ctx.route_threshold, ctx.generalist_share)
    judge = expert_runtime(ctx, prompts.JUDGE_PROMPT) if ctx.router_judge and not ctx.force_route else None
    decision = route_text(text, threshold, model=router, judge=judge, judge_margin=ctx.judge_margin)
    if ctx.force_route:
        if ctx.force_route not in {"expert", "generalist"}:
            raise InputError(f"force_route must be 'expert' or 'generalist', not {ctx.force_route!r}")
        decision.route = ctx.force_route  # type: ignore[assignment]
        decision.method = "forced"
        decision.why = f"--route {ctx.force_route}; the router said " + decision.why
    _emit("route", **decision.to_json())
    return {
        "route": decision.route,
        "intent": decision.intent,
        "route_score": decision.score,
        "decision": decision.to_json(),
        "notice": "",
        "tool_calls": [],
        "sources": [],
        "images": [],
        "hits": [],
        "retrieval_ms": 0.0,
        "pending": None,
    }


def after_route(
    state: State, runtime: Runtime[Context]
) -> Literal["fill_tool_args", "plan_step", "retrieve_docs", "summarize_history"]:
    ctx = _context(runtime)
    intent = state.get("intent", "chat")
    if intent in INTENT_TOOLS:
        return "plan_step" if state.get("route") == "generalist" else "fill_tool_args"
    if intent == "rag":
        return "retrieve_docs"
    on_topic = float(state.get("decision", {}).get("topic", 0.0)) >= 0.5
    return "retrieve_docs" if ctx.rag and on_topic else "summarize_history"


# --------------------------------------------------------------------------- fallback
def _with_fallback(ctx: Context, route: str, run: Callable[[BaseChatModel], T]) -> tuple[T, str, str]:
    """``run`` with the route's model; a failing generalist hands over to the expert.

    Returns the result, the label of the model that produced it, and a notice (empty unless it fell back).
    """
    if route == "generalist":
        try:
            model = generalist_chat_model(ctx)
            return run(model), model_label(model), ""
        except remote_errors() as exc:
            reason = brief(exc)
            log.warning("generalist failed, falling back to the expert: %s", reason)
            notice = prompts.FALLBACK_NOTICE.format(generalist=ctx.generalist, reason=reason)
            _emit("fallback", notice=notice)
            expert = expert_chat_model(ctx)
            return run(expert), model_label(expert), notice
    expert = expert_chat_model(ctx)
    return run(expert), model_label(expert), ""


def _merge_notice(state: State, notice: str) -> dict[str, str]:
    if not notice:
        return {}
    old = state.get("notice", "")
    return {"notice": old if notice in old else f"{old} {notice}".strip()}


# --------------------------------------------------------------------------- one tool (expert)
def _run_call(call: CheckedCall) -> tuple[str, dict[str, Any], list[str]]:
    """Run a checked call; a tool that fails says which tool and why instead of ending the turn."""
    _emit("tool_call", name=call.name, args=call.args)
    start = time.perf_counter()
    try:
        text, result, images = run_checked(call)
    except LmgenError as exc:
        reason = exc.one_line()
        _emit("tool_result", name=call.name, error=reason)
        text = prompts.TOOL_FAILED.format(name=call.name, reason=reason)
        return text, {"name": call.name, "args": call.args, "result": {"error": reason}}, []
    ms = round((time.perf_counter() - start) * 1000, 1)
    _emit("tool_result", name=call.name, result=compact_result(call.name, result), ms=ms)
    return text, {"name": call.name, "args": call.args, "result": result, "ms": ms}, images


def fill_tool_args(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """The expert fills the tool arguments (constrained JSON); the tool runs; the reply states its result."""
    ctx = _context(runtime)
    name = INTENT_TOOLS[state.get("intent", "chat")]
    tool = _tools_by_name()[name]
    request = last_user_text(state)
    messages: list[BaseMessage] = [
        SystemMessage(
            prompts.FILL_ARGS_PROMPT.format(
                name=name, description=tool.description, arguments=arguments_text(tool)
            )
        ),
        HumanMessage(request),
    ]
    model = expert_chat_model(ctx)
    try:
        raw = force_tool_call(model, openai_tool(tool), messages)
    except LmgenError as exc:
        raw, problem = {}, exc.one_line()
    else:
        problem = ""
    call = check_call(name, raw, request) if not problem else CheckedCall(name, problem=problem)
    label = f"{model_label(model)} → tool:{name}"
    if call.problem:
        _emit("tool_rejected", name=name, args=raw, problem=call.problem)
        text = prompts.CLARIFY[name]
        return {
            "messages": [AIMessage(content=text)],
            "model": model_label(model),
            "tool_calls": [{"name": name, "args": raw, "result": {"rejected": call.problem}}],
        }
    text, record, images = _run_call(call)
    return {"messages": [AIMessage(content=text)], "model": label, "tool_calls": [record], "images": images}


# --------------------------------------------------------------------------- the tool loop (generalist)
def _steps_text(calls: list[dict[str, Any]]) -> str:
    if not calls:
        return prompts.NO_STEPS_YET
    lines = []
    for i, c in enumerate(calls, 1):
        result = c["result"]
        shown = result if "error" in result or "rejected" in result else compact_result(c["name"], result)
        lines.append(
            f"{i}. {c['name']}({json.dumps(c['args'], ensure_ascii=False)}) → "
            f"{json.dumps(shown, ensure_ascii=False, default=str)[:600]}"
        )
    return "\n".join(lines)


def _choice_spec(names: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": "choose_next_step",
            "description": "Pick the tool to call next, or 'answer' when the results so far are enough.",
            "parameters": {
                "type": "object",
                "properties": {"tool": {"type": "string", "enum": [*names, ANSWER]}},
                "required": ["tool"],
            },
        },
    }


def plan_step(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """The generalist chooses the next tool (or to answer) and fills its arguments."""
    ctx = _context(runtime)
    request = last_user_text(state)
    calls = list(state.get("tool_calls", []))
    tools = _tools_by_name()
    if len(calls) >= ctx.max_tool_steps:
        return {"pending": None}
    catalogue = "\n".join(f"- {n}: {t.description.splitlines()[0]}" for n, t in tools.items())
    base: list[BaseMessage] = [
        SystemMessage(prompts.AGENT_PROMPT.format(tools=catalogue, limit=ctx.max_tool_steps)),
        HumanMessage(request),
        SystemMessage(prompts.STEPS_SO_FAR.format(steps=_steps_text(calls))),
    ]

    def repeats(name: str, args: dict[str, Any]) -> bool:
        """The call was made already (compared as run: after the same checks, defaults dropped)."""
        checked = check_call(name, dict(args), request)
        done = checked.args if not checked.problem else args
        return any(c["name"] == name and c["args"] == done for c in calls)

    def decide(model: BaseChatModel) -> dict[str, Any]:
        choice = force_tool_call(model, _choice_spec(list(tools)), base)
        name = str(choice.get("tool", ANSWER))
        if name not in tools:
            return {"name": ANSWER}
        fill = prompts.FILL_NEXT.format(name=name, arguments=arguments_text(tools[name]))
        ask = [*base, SystemMessage(fill)]
        args = force_tool_call(model, openai_tool(tools[name]), ask)
        if repeats(name, args):  # a small model often copies its last call: say so once, ask again
            again = prompts.ALREADY_DONE.format(name=name, args=json.dumps(args, ensure_ascii=False))
            args = force_tool_call(model, openai_tool(tools[name]), [*ask, SystemMessage(again)])
        return {"name": name, "args": args}

    try:
        step, label, notice = _with_fallback(ctx, state.get("route", "generalist"), decide)
    except LmgenError as exc:  # the model could not produce a step at all: answer with what we have
        log.warning("agent step failed: %s", exc.one_line())
        return {"pending": None}
    out: dict[str, Any] = {"model": label} | _merge_notice(state, notice)
    if step["name"] == ANSWER:
        return out | {"pending": None}
    if repeats(step["name"], step["args"]):
        return out | {"pending": None}  # the same call again adds nothing: time to answer
    return out | {"pending": step}


def after_plan(state: State) -> Literal["run_step", "write_answer"]:
    return "run_step" if state.get("pending") else "write_answer"


def run_step(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run the tool call the generalist chose; rejected or failing calls are recorded for it to see."""
    step = state["pending"] or {}
    call = check_call(step["name"], dict(step.get("args") or {}), last_user_text(state))
    if call.problem:
        _emit("tool_rejected", name=call.name, args=step.get("args"), problem=call.problem)
        record = {"name": call.name, "args": step.get("args"), "result": {"rejected": call.problem}}
        return {"tool_calls": [*state.get("tool_calls", []), record], "pending": None}
    _, record, images = _run_call(call)
    return {
        "tool_calls": [*state.get("tool_calls", []), record],
        "images": [*state.get("images", []), *images],
        "pending": None,
    }


def write_answer(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """The generalist answers the request from the tool results (streamed)."""
    ctx = _context(runtime)
    calls = state.get("tool_calls", [])
    messages: list[BaseMessage] = [
        SystemMessage(ctx.system_prompt),
        HumanMessage(
            prompts.ANSWER_FROM_STEPS.format(request=last_user_text(state), steps=_steps_text(calls))
        ),
    ]
    reply, label, notice = _with_fallback(ctx, state.get("route", "generalist"), lambda m: m.invoke(messages))
    used = " + ".join(dict.fromkeys(f"tool:{c['name']}" for c in calls))
    return {
        "messages": [AIMessage(content=reply.text, response_metadata=dict(reply.response_metadata))],
        "model": f"{label} → {used}" if used else label,
    } | _merge_notice(state, notice)


# --------------------------------------------------------------------------- documents
def _knowledge(ctx: Context) -> Any:
    """The knowledge base, or None when RAG is off or nothing was ever ingested (no store to open)."""
    from lmgen.stores.knowledge import knowledge_base, store_exists

    if not ctx.rag or not (ctx.chroma_url or store_exists()):
        return None
    return knowledge_base(ctx.embeddings, ctx.chroma_url)


def retrieve_docs(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Search the knowledge base for the newest user message (hybrid) and keep the relevant chunks."""
    from lmgen.chains.crosslingual import search_across_languages
    from lmgen.chains.rag import relevant_to_any

    ctx = _context(runtime)
    question = last_user_text(state)
    start = time.perf_counter()
    translated = ""
    try:
        kb = _knowledge(ctx)
        hits = []
        if kb is not None:
            translator = query_translator(ctx) if ctx.rag_translate else None
            found, info = search_across_languages(kb, question, translator, k=ctx.rag_k)
            translated = info.translated
            # the gate judges the chunks against the question and, across languages, its translation
            hits = relevant_to_any(found, [question, translated])
    except LmgenError as exc:
        log.warning("knowledge base unavailable: %s", exc.one_line())
        return {"hits": [], "notice": f"The knowledge base is unavailable ({exc.one_line()})."}
    ms = round((time.perf_counter() - start) * 1000, 1)
    _emit(
        "retrieval",
        hits=[{"source": h.source, "heading": h.heading, "score": h.score} for h in hits],
        ms=ms,
        **({"translated": translated} if translated else {}),
    )
    return {"hits": [asdict(h) for h in hits], "retrieval_ms": ms}


def after_retrieval(state: State) -> Literal["answer_from_docs", "summarize_history"]:
    if state.get("intent") == "rag" or state.get("hits"):
        return "answer_from_docs"
    return "summarize_history"


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
        return {"messages": [AIMessage(content=text)], "model": "rag", "sources": []}

    def run(model: BaseChatModel) -> Any:
        return grounded_chain(kb, model, ctx).invoke(
            {"question": question, "hits": hits, "retrieval_ms": state.get("retrieval_ms", 0.0)}
        )

    route = state.get("route", "expert")
    if not ctx.force_route and ctx.rag_route != "route":
        route = ctx.rag_route  # type: ignore[assignment]
    if route not in {"expert", "generalist"}:
        raise InputError(f"rag_route must be 'generalist', 'expert' or 'route', not {ctx.rag_route!r}")
    result, label, notice = _with_fallback(ctx, route, run)
    if result.flagged:
        notice = f"{notice} {prompts.INJECTION_NOTICE.format(n=len(result.flagged))}".strip()
    message = AIMessage(content=result.answer, response_metadata=result.usage or {"model_name": label})
    return {
        "messages": [message],
        "model": label,
        "route": route,
        "sources": result.sources,
    } | _merge_notice(state, notice)


# --------------------------------------------------------------------------- memory and plain answers
def _history(state: State) -> list[BaseMessage]:
    """Earlier turns (not the newest request), without system messages."""
    messages: list[BaseMessage] = [m for m in state["messages"] if m.type != "system"]
    return messages[:-1] if messages and messages[-1].type == "human" else messages


def summarize_history(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """When the history no longer fits the budget, the expert summarizes the turns that fall out.

    The summary grows turn by turn (the old summary + the newly dropped turns → a new summary), so
    no turn is silently lost; ``summarized`` counts the messages it covers.
    """
    ctx = _context(runtime)
    history = _history(state)
    done = int(state.get("summarized", 0))
    pending = history[done:]
    expert = expert_chat_model(ctx)

    def count(text: str) -> int:
        return count_tokens(expert, text)

    if sum(count(m.text) + 4 for m in pending) <= ctx.history_tokens:
        return {}
    kept = recent_history(pending, ctx.history_tokens // 2, count)  # room for the summary and the reply
    dropped = pending[: len(pending) - len(kept)]
    if not dropped:
        return {}
    transcript = "\n".join(f"{'User' if m.type == 'human' else 'Assistant'}: {m.text}" for m in dropped)
    previous = state.get("summary", "")
    prompt = [
        SystemMessage(prompts.SUMMARY_PROMPT),
        HumanMessage(
            (f"Summary so far: {previous}\n\n" if previous else "") + f"Conversation to add:\n{transcript}"
        ),
    ]
    start = time.perf_counter()
    summary = expert.invoke(prompt, max_tokens=ctx.summary_tokens).text.strip()
    _emit(
        "summary",
        summary=summary,
        covered=done + len(dropped),
        ms=round((time.perf_counter() - start) * 1000, 1),
    )
    return {"summary": summary, "summarized": done + len(dropped)}


def after_summary(state: State) -> Literal["call_expert", "call_generalist"]:
    return "call_generalist" if state.get("route") == "generalist" else "call_expert"


def _answer(model: BaseChatModel, state: State, ctx: Context) -> AIMessage:
    done = int(state.get("summarized", 0))
    messages = [m for m in state["messages"] if m.type != "system"][done:]
    system = ctx.system_prompt
    if state.get("summary"):
        system += "\n\n" + prompts.SUMMARY_IN_PROMPT.format(summary=state["summary"])
    chain = build_chat_chain(model, system, ctx.history_tokens, lambda t: count_tokens(model, t))
    reply: AIMessage = chain.invoke(messages)
    return reply


def call_expert(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer with the local expert sLM."""
    ctx = _context(runtime)
    model = expert_chat_model(ctx)
    return {"messages": [_answer(model, state, ctx)], "model": model_label(model)}


def call_generalist(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer with the generalist; if it is unreachable or fails, the expert answers and says so."""
    ctx = _context(runtime)
    reply, label, notice = _with_fallback(ctx, "generalist", lambda m: _answer(m, state, ctx))
    return {"messages": [reply], "model": label} | _merge_notice(state, notice)


builder = StateGraph(State, context_schema=Context, input_schema=InputState)
for node in (
    route_request,
    fill_tool_args,
    plan_step,
    run_step,
    write_answer,
    retrieve_docs,
    answer_from_docs,
    summarize_history,
    call_expert,
    call_generalist,
):
    builder.add_node(node)
builder.add_edge(START, "route_request")
builder.add_conditional_edges("route_request", after_route)
builder.add_conditional_edges("plan_step", after_plan)
builder.add_edge("run_step", "plan_step")
builder.add_conditional_edges("retrieve_docs", after_retrieval)
builder.add_conditional_edges("summarize_history", after_summary)
for last in ("fill_tool_args", "write_answer", "answer_from_docs", "call_expert", "call_generalist"):
    builder.add_edge(last, END)

# Deployments (langgraph.json) bring their own checkpointer; the CLI and UI compile with SQLite.
graph = builder.compile(name="lmgen")
