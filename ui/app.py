"""Gradio chat UI: streamed replies, and under each one the route, the model and the time it took.

Thin by design: it turns :func:`lmgen.agent.api.stream_ask` events into chat messages.
Binds 127.0.0.1 and never shares a public link.
"""

# No `from __future__ import annotations` here: Gradio injects gr.Request by the runtime annotation.
import itertools
import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from lmgen.agent.api import Answer, Event, stream_ask
from lmgen.agent.context import Context
from lmgen.errors import LmgenError
from lmgen.ui.output import check_port_free, source_lines

log = logging.getLogger(__name__)

EXAMPLES = [
    "What is the capital of France? Answer in one word.",
    "한국의 수도는 어디인가요?",
    "대한민국은 민주[MASK]이다.",
    "Draw a 7 with the diffusion model",
    "What is NSP?",
    "VAE와 GAN의 차이는?",
    "Explain step by step why a VAE's samples are blurrier than a GAN's, and compare their training.",
]


def footer(answer: Answer) -> str:
    """The one-line badge under a reply: route · intent · model · seconds (· tokens per second)."""
    speed = answer.usage.get("tokens_per_s")
    rate = f" · {speed} tok/s" if speed else ""
    return f"{answer.route} · {answer.intent} · {answer.model} · {answer.latency_ms / 1000:.1f} s{rate}"


def details(answer: Answer) -> str:
    usage = answer.usage
    parts = [
        f"intent: {answer.intent} (router confidence {answer.route_score:.2f})",
        f"thread: {answer.thread_id}",
    ]
    if usage.get("completion_tokens"):
        parts.append(
            f"tokens: {usage.get('prompt_tokens', '?')} prompt "
            f"({usage.get('reused_prompt_tokens', 0)} reused) + {usage['completion_tokens']} reply, "
            f"{usage.get('tokens_per_s', 0)} tok/s, first token after {usage.get('ttft_s', 0)} s"
        )
    if answer.sources:
        parts.append("sources: " + "; ".join(source_lines(answer.sources)))
    return "\n".join(f"- {p}" for p in parts)


def step_message(event: Event) -> tuple[dict[str, Any], str] | None:
    """A turn's step as (metadata, content) for a collapsible chat message, or None to skip it."""
    import json

    d = event.data
    if event.kind == "route":
        title = f"Router: {d['route']} · {d['intent']} ({d['method']})"
        body = (
            f"{d['why']}\n\nP(generalist) {d['p_generalist']:.2f}, threshold {d['threshold']:.2f}, "
            f"topic {d['topic']:.2f}, {d['latency_ms']:.0f} ms"
        )
        return {"title": title, "status": "done", "duration": d["latency_ms"] / 1000}, body
    if event.kind == "tool_call":
        return {"title": f"Tool: {d['name']}", "status": "pending"}, json.dumps(d["args"], ensure_ascii=False)
    if event.kind in {"tool_result", "tool_rejected"}:
        shown = d.get("error") or d.get("problem") or json.dumps(d.get("result"), ensure_ascii=False)[:1500]
        return {"title": f"Result: {d['name']}", "status": "done"}, shown
    if event.kind == "retrieval":
        lines = [f"- {h['source']} › {h['heading']} ({h['score']:.3f})" for h in d["hits"]]
        return {"title": f"Retrieval: {len(d['hits'])} chunk(s)", "status": "done"}, "\n".join(lines) or "-"
    if event.kind == "summary":
        return {"title": "Memory: older turns summarized", "status": "done"}, d["summary"]
    if event.kind == "fallback":
        return {"title": "Fallback to the expert", "status": "done"}, d["notice"]
    return None


def to_history(history: list[dict[str, Any]]) -> list[Any]:
    """The chat box's history as LangChain messages: user turns and the replies (steps, details,
    pictures and source cards left out)."""
    from langchain_core.messages import AIMessage, HumanMessage

    out: list[Any] = []
    for m in history or []:
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(
                p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
            )
        if not isinstance(content, str) or not content.strip() or (m.get("metadata") or {}).get("title"):
            continue
        out.append(HumanMessage(content) if m.get("role") == "user" else AIMessage(content))
    return out


def source_messages(answer: Answer) -> list[dict[str, Any]]:
    """One collapsible card per cited source: ``[n] file › heading``, opening to the chunk's text."""
    cited = [s for s in answer.sources if s.get("cited")] or answer.sources
    return [
        {"title": line, "text": s.get("text", ""), "score": s.get("score")}
        for line, s in zip(source_lines(cited), cited, strict=True)
    ]


def chat_tab(context: Context | None, live: dict[str, Any] | None = None) -> None:
    import gradio as gr
    from langgraph.checkpoint.memory import InMemorySaver

    from lmgen.agent.graph import builder
    from lmgen.ui import tabs

    # The browser keeps the threads (new / switch / delete, restored after a reload or a restart):
    # each turn brings its conversation, like the OpenAI endpoint, so switching threads is exact.
    graph = builder.compile(checkpointer=InMemorySaver(), name="lmgen")
    counter = itertools.count()
    base = context or Context()

    def respond(
        message: str, history: list[dict[str, Any]], route: str, request: gr.Request
    ) -> Iterator[Any]:
        session = getattr(request, "session_hash", None) or "anon"
        thread_id = f"ui-{session}-{next(counter)}"
        # what the Settings tab changed, then this message's route
        ctx = replace(base, **(live or {}), force_route="" if route == "auto" else route)
        text = ""
        steps: list[Any] = []  # one collapsible message per step (router decision, tool calls, …)
        try:
            for item in stream_ask(
                message, thread_id=thread_id, context=ctx, graph=graph, history=to_history(history)
            ):
                if isinstance(item, Event):
                    step = step_message(item)
                    if step is not None:
                        meta: Any = step[0]  # a gr MetadataDict: title, status, duration
                        steps.append(gr.ChatMessage(role="assistant", content=step[1], metadata=meta))
                        yield [*steps, gr.ChatMessage(role="assistant", content=text or "…")]
                    continue
                if isinstance(item, Answer):
                    body = f"*{item.notice}*\n\n{item.answer}" if item.notice else item.answer
                    # generated images are shown inline (files under $LMGEN_HOME/images, served read-only)
                    pictures = [
                        gr.ChatMessage(role="assistant", content=gr.FileData(path=p)) for p in item.images
                    ]
                    cards = [
                        gr.ChatMessage(
                            role="assistant",
                            content=c["text"] or "-",
                            metadata={"title": f"Source {c['title']}", "status": "done"},
                        )
                        for c in source_messages(item)
                    ]
                    yield [
                        *steps,
                        gr.ChatMessage(role="assistant", content=body),
                        *pictures,
                        *cards,
                        gr.ChatMessage(
                            role="assistant",
                            content=details(item),
                            metadata={"title": footer(item), "status": "done"},
                        ),
                    ]
                    return
                text += item
                yield [*steps, gr.ChatMessage(role="assistant", content=text)]
        except LmgenError as exc:
            yield f"error: {exc.one_line()}"

    route = gr.Radio(
        ["auto", "expert", "generalist"], value="auto", label=tabs.t("Route (model)"), render=False
    )
    gr.ChatInterface(
        respond,
        additional_inputs=[route],
        additional_inputs_accordion="Route",
        examples=[[e, "auto"] for e in EXAMPLES],
        cache_examples=False,
        api_name="chat",
        save_history=True,
        fill_height=True,
    )


def build_app(context: Context | None = None) -> Any:
    """The Blocks app (not launched): chat first, then one tab per idea."""
    import gradio as gr

    from lmgen.ui import tabs

    live: dict[str, Any] = {}  # safe settings changed in the Settings tab, read by the chat
    with gr.Blocks(title="lmgen") as demo:
        gr.Markdown(
            "## lmgen — expert sLM ⇄ generalist LLM\nAsk in English or Korean. Under each reply: the route, "
            "the model, the time it took, and the steps — router decision, tool calls, retrieval."
        )
        with gr.Tabs():
            with gr.Tab(tabs.t("chat"), id="chat"):
                chat_tab(context, live)
            with gr.Tab(tabs.t("documents"), id="documents"):
                tabs.documents_tab()
            with gr.Tab(tabs.t("ngram"), id="ngram"):
                tabs.ngram_tab()
            with gr.Tab(tabs.t("bert"), id="bert"):
                tabs.bert_tab()
            with gr.Tab(tabs.t("generators"), id="generators"):
                tabs.generators_tab()
            with gr.Tab(tabs.t("router"), id="router"):
                tabs.router_tab()
            with gr.Tab(tabs.t("compression"), id="compression"):
                tabs.compression_tab()
            with gr.Tab(tabs.t("settings"), id="settings"):
                tabs.settings_tab(live)
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, context: Context | None = None) -> None:
    """Start the UI and print its URL (blocks until interrupted)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from lmgen.models.llm import backend_summary

    check_port_free(host, port)
    demo = build_app(context)
    print(backend_summary(), flush=True)
    print(f"lmgen UI: http://{host}:{port}", flush=True)
    from lmgen.stores.models import lmgen_home

    images = lmgen_home() / "images"
    images.mkdir(parents=True, exist_ok=True)
    import gradio as gr

    from lmgen.ui.lab import MAX_UPLOAD_BYTES

    demo.queue(default_concurrency_limit=1, max_size=64).launch(
        server_name=host,
        server_port=port,
        share=False,
        show_error=True,
        inbrowser=False,
        allowed_paths=[str(images)],  # only generated images, nothing else on disk
        auth=ui_auth(),
        max_file_size=MAX_UPLOAD_BYTES,
        # system fonts only: the page makes no request outside this machine
        theme=gr.themes.Default(
            font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
        ),
        i18n=tabs_i18n(),
        footer_links=[],
    )


def ui_auth() -> tuple[str, str] | None:
    """``LMGEN_UI_AUTH=user:password`` turns on a login page; unset, the UI is open (on 127.0.0.1)."""
    value = os.environ.get("LMGEN_UI_AUTH", "")
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise LmgenError("LMGEN_UI_AUTH must look like user:password")
    return user, password


def tabs_i18n() -> Any:
    from lmgen.ui.tabs import I18N

    return I18N
