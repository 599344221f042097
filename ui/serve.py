"""``lmgen serve``: an OpenAI-compatible endpoint in front of lmgen's router.

Any OpenAI client (the ``openai`` SDK, LangChain's ``ChatOpenAI``, another lmgen) gets routed answers:

* ``GET /v1/models`` — ``lmgen`` (the router decides), ``lmgen-expert``, ``lmgen-generalist`` (forced);
* ``POST /v1/chat/completions`` — the request's messages run through the agent graph (earlier
  messages as history, the last user message as the question), streamed as server-sent events or
  returned whole. The route, intent, model, sources and tool calls travel in an extra ``lmgen``
  field of the response (the final chunk when streaming) and in ``X-Lmgen-*`` headers; standard
  clients ignore both.

Thin by design: no logic of its own beyond translating messages. One CPU runs one generation at a
time, so requests wait their turn on a lock (never interleaved); bodies are size-limited; an optional
bearer token (``LMGEN_API_KEY``) guards every route; it binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, Field

from lmgen.agent.api import Answer, Event, stream_ask
from lmgen.agent.context import Context
from lmgen.errors import InputError, LmgenError

MODELS = {"lmgen": "", "lmgen-expert": "expert", "lmgen-generalist": "generalist"}
MAX_BODY_BYTES = 256 * 1024  # a chat request far larger than any question the graph accepts
_ROLES = {"system", "user", "assistant", "developer", "tool"}


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model: str = "lmgen"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0, le=2)
    user: str | None = None


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def split_messages(messages: list[ChatMessage]) -> tuple[list[Any], str]:
    """OpenAI messages → (LangChain history, the question: the last user message).

    Raises:
        InputError: no user message last, or an unknown role.
    """
    from langchain_core.messages import AIMessage, HumanMessage

    for m in messages:
        if m.role not in _ROLES:
            raise InputError(f"unknown message role {m.role!r}")
    if messages[-1].role != "user":
        raise InputError("the last message must be the user's")
    history: list[Any] = []
    for m in messages[:-1]:
        if m.role == "user":
            history.append(HumanMessage(_text(m)))
        elif m.role == "assistant" and _text(m):
            history.append(AIMessage(_text(m)))
        # system/developer/tool messages: lmgen uses its own system prompt and tools
    return history, _text(messages[-1])


def lmgen_fields(answer: Answer) -> dict[str, Any]:
    """What travels beside the standard fields: how lmgen served the request."""
    return {
        "route": answer.route,
        "intent": answer.intent,
        "model": answer.model,
        "notice": answer.notice,
        "sources": answer.sources,
        "tool_calls": [{k: c.get(k) for k in ("name", "args")} for c in answer.tool_calls],
        "images": answer.images,
        "decision": answer.decision,
        "latency_ms": answer.latency_ms,
    }


def build_api(
    context: Context | None = None, api_key: str | None = None, max_body: int = MAX_BODY_BYTES
) -> Any:
    """The FastAPI app (not started)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from langgraph.checkpoint.memory import InMemorySaver

    from lmgen.agent.graph import builder

    base = context or Context()
    key = api_key if api_key is not None else base_key()
    # Stateless: each request carries its own conversation, so threads live only for the request.
    graph = builder.compile(checkpointer=InMemorySaver(), name="lmgen")
    lock = threading.Lock()  # one generation at a time: a CPU model cannot serve two at once
    app = FastAPI(title="lmgen", docs_url=None, redoc_url=None, openapi_url=None)

    def error(status: int, message: str, kind: str) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if key and not secrets.compare_digest(request.headers.get("authorization", ""), f"Bearer {key}"):
            return error(401, "missing or wrong API key (Authorization: Bearer …)", "authentication_error")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            return error(
                413, f"request body is {int(length):,} bytes; the limit is {max_body:,}", "too_large"
            )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(
            400, f"invalid request: {where}: {first.get('msg', 'bad value')}", "invalid_request_error"
        )

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        now = int(time.time())
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": now, "owned_by": "lmgen"} for m in MODELS],
        }

    def settings(req: ChatRequest) -> Context:
        if req.model not in MODELS:
            raise InputError(f"unknown model {req.model!r}: choose one of {', '.join(MODELS)}")
        changes: dict[str, Any] = {"force_route": MODELS[req.model] or base.force_route}
        limit = req.max_completion_tokens or req.max_tokens
        if limit:
            changes["max_tokens"] = limit
        if req.temperature is not None:
            changes["temperature"] = req.temperature
        return replace(base, **changes)

    def run(req: ChatRequest) -> Iterator[str | Event | Answer]:
        ctx = settings(req)
        history, question = split_messages(req.messages)
        with lock:
            yield from stream_ask(
                question, thread_id=f"api-{uuid.uuid4().hex[:12]}", context=ctx, graph=graph, history=history
            )

    def headers(answer_or_route: dict[str, Any]) -> dict[str, str]:
        return {
            f"X-Lmgen-{k.capitalize()}": str(v).encode("ascii", "replace").decode()
            for k, v in answer_or_route.items()
            if k in {"route", "intent", "model"} and v
        }

    @app.post("/v1/chat/completions", response_model=None)
    def chat(req: ChatRequest) -> Any:
        created, cid = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"
        try:
            items = run(req)
            if not req.stream:
                answer = next(i for i in items if isinstance(i, Answer))
                usage = {
                    "prompt_tokens": int(answer.usage.get("prompt_tokens") or 0),
                    "completion_tokens": int(answer.usage.get("completion_tokens") or 0),
                }
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                body = {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": req.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer.display},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                    "lmgen": lmgen_fields(answer),
                }
                return JSONResponse(body, headers=headers(lmgen_fields(answer)))
            # Streaming: wait for the route decision (milliseconds) so it can go in the headers.
            first = next(items)
            route = first.data if isinstance(first, Event) and first.kind == "route" else {}
        except InputError as exc:
            return error(400, exc.one_line(), "invalid_request_error")
        except LmgenError as exc:
            return error(500, exc.one_line(), "server_error")

        def chunk(
            delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None
        ) -> str:
            doc = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": req.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(doc | (extra or {}), ensure_ascii=False)}\n\n"

        def events() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            streamed = False
            try:
                for item in items:
                    if isinstance(item, str):
                        streamed = True
                        yield chunk({"content": item})
                    elif isinstance(item, Answer):
                        if not streamed:  # a tool's reply, a decline: no tokens were streamed
                            yield chunk({"content": item.display})
                        elif item.notice:
                            yield chunk({"content": f"\n\n[{item.notice}]"})
                        yield chunk({}, "stop", {"lmgen": lmgen_fields(item)})
            except LmgenError as exc:
                yield chunk({"content": f"\n\nerror: {exc.one_line()}"}, "stop")
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers(route))

    return app


def base_key() -> str:
    import os

    return os.environ.get("LMGEN_API_KEY", "")


def serve(host: str = "127.0.0.1", port: int = 8000, context: Context | None = None) -> None:
    """Run the endpoint (blocks until interrupted); closes loaded models on the way out."""
    import uvicorn

    from lmgen.ui.output import check_port_free

    check_port_free(host, port)
    app = build_api(context)
    print(f"lmgen OpenAI-compatible endpoint: http://{host}:{port}/v1", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        from lmgen.agent.models import close_models

        close_models()
