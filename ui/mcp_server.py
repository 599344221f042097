"""``lmgen mcp``: lmgen's tools, its routed agent and its knowledge base for other agents (MCP).

Thin by design. Every tool in :data:`lmgen.tools.TOOLS` becomes an MCP tool built from the
LangChain tool's own function and ``args_schema`` (types, bounds, defaults and argument
descriptions), with a description written for a calling agent and honest annotations; ``ask``
runs the whole routed graph. The knowledge base is exposed as resources (its sources, and any
chunk's text by id, the ids ``retrieve_documents`` returns), and two prompts show how the tools
combine.

Engines load once per server (the lifespan warms the router, the embedder and the store; the
engines' own caches keep them), calls run one at a time (one CPU, models that are not
thread-safe), bad arguments and tool failures come back as ``isError`` results with one line of
reason, and logs go to stderr — stdout is the stdio transport. HTTP binds 127.0.0.1 and honours
``LMGEN_API_KEY`` as a bearer token.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import secrets
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from pydantic import Field

from lmgen.errors import InputError, LmgenError

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 20_000  # per text argument: far beyond a sentence to score, far below a flood
HIDDEN_ARGS = {"model"}  # a caller on the wire does not pick files on this machine to load
_LOCK = threading.Lock()  # one engine call at a time

INSTRUCTIONS = (
    "lmgen runs small language and generative models locally: an n-gram language model (perplexity), "
    "a BERT masked language model (fill-mask, next-sentence prediction, pseudo-perplexity), image "
    "generators trained on MNIST digits (autoencoder, VAE, GAN, diffusion) and a face GAN, a "
    "searchable knowledge base, and a routed chat agent (a 0.5B expert and a 1.5B generalist). "
    "Korean and English. Call the engine tools for measurements; call `ask` for an answer in words."
)

# What each tool tells a calling agent: what it computes, in which units, when to reach for it.
DESCRIPTIONS = {
    "score_perplexity": (
        "Perplexity of a text under an n-gram language model (Kneser-Ney smoothed; KenLM-identical "
        "scores). Use it to measure how typical or surprising a sentence is: lower perplexity = more "
        "predictable. Korean text (Hangul) is scored by the Korean model, anything else by the English "
        "Shakespeare model. Each line is a sentence. Returns perplexity (with and without out-of-"
        "vocabulary tokens), total log10 probability, OOV count, and per token the log10 probability "
        "and the n-gram length actually matched. Compare two sentences by calling it twice."
    ),
    "fill_mask": (
        "Fill every [MASK] in a text with a BERT masked language model, which reads the words on both "
        "sides of the gap. Korean or English, e.g. '대한민국은 민주[MASK]이다.' or 'I [MASK] coffee.'. "
        "Returns, per mask, the top_k candidates with probability (score 0-1), token and the completed "
        "sequence; pass targets to score only the given words. Candidates keep to the scripts of the "
        "text (Korean words for Korean text). The text must contain [MASK] (or <mask>)."
    ),
    "next_sentence": (
        "BERT next-sentence prediction: the probability (0-1) that sentence_b directly follows "
        "sentence_a in a text, with the label IsNext or NotNext. Use it to test coherence or ordering; "
        "swap the sentences to test the other order."
    ),
    "pseudo_perplexity": (
        "How natural a sentence is to the BERT model: each token is masked in turn and predicted from "
        "both sides. Returns the pseudo-log-likelihood (natural log, summed over tokens) and the "
        "pseudo-perplexity (lower = more natural). Use it to compare a fluent sentence with a "
        "scrambled or ungrammatical one; it costs one BERT pass per token."
    ),
    "generate_images": (
        "Draw images with one of lmgen's trained generators and return them as PNG image content (a "
        "grid) plus where the files were written. model: 'ae' (autoencoder decoder on random codes, "
        "often garbled), 'vae' (smooth but blurry digits), 'gan' (DCGAN, sharp), 'ddpm' (diffusion, "
        "the best digits, slower; digit picks the class, steps the DDIM steps), 'faces' (64x64 colour "
        "face GAN). dataset 'fashion' draws Fashion-MNIST clothes instead of digits (digit is then the "
        "class: 0 T-shirt … 9 ankle boot). The same seed gives the same images. Use it to show how "
        "the families differ."
    ),
    "retrieve_documents": (
        "Search the knowledge base (lmgen's own documentation by default, plus whatever the user "
        "ingested; Korean and English) and return the best chunks with their text, source file, "
        "heading, page, score and id (read a whole chunk as the resource lmgen://chunks/{id}). "
        "mode: 'hybrid' (BM25 keywords + embeddings fused, best), 'dense' or 'bm25'. Use it to ground "
        "an answer and cite sources."
    ),
    "compare_compression": (
        "Return lmgen's compression table: each compressed variant of its models next to the "
        "original, with parameters, bytes, latency, throughput and quality, and each figure's ratio "
        "to the original. It covers int8 BERT and GAN, pruned BERT (weights, heads, feed-forward "
        "neurons) and GAN (weights, channels), a distilled half-size BERT and GGUF types of the "
        "expert. Quality is held-out MLM top-5 (higher is better), FID or perplexity (lower is "
        "better). family picks 'bert', 'gan', 'gguf' or 'all'. remeasure=true runs a "
        "quick measurement (minutes) and writes the report files."
    ),
}

READ_ONLY = {"score_perplexity", "fill_mask", "next_sentence", "pseudo_perplexity", "retrieve_documents"}
RETURNS: dict[str, Any] = {
    "score_perplexity": dict[str, Any],
    "fill_mask": list[Any],
    "next_sentence": dict[str, Any],
    "pseudo_perplexity": dict[str, Any],
    "retrieve_documents": list[dict[str, Any]],
    "compare_compression": dict[str, Any],
}


def _check_sizes(arguments: dict[str, Any]) -> None:
    for name, value in arguments.items():
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            raise InputError(f"{name} is {len(value):,} characters; the limit is {MAX_TEXT_CHARS:,}")


def _guarded(call: Callable[[], Any], arguments: dict[str, Any]) -> Any:
    """Run one engine call under the lock; lmgen's typed errors become an MCP tool error."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        _check_sizes(arguments)
        with _LOCK:
            return call()
    except LmgenError as exc:
        raise ToolError(exc.one_line()) from None


def _parameters(tool: Any) -> list[inspect.Parameter]:
    """The tool's visible parameters, typed from its ``args_schema`` (bounds and descriptions kept)."""
    fields = tool.args_schema.model_fields
    params = []
    for name, param in inspect.signature(tool.func, eval_str=True).parameters.items():
        if name in HIDDEN_ARGS:
            continue
        info = fields[name]
        annotation = param.annotation
        if info.description:
            annotation = Annotated[annotation, Field(description=info.description)]
        params.append(param.replace(annotation=annotation, kind=inspect.Parameter.KEYWORD_ONLY))
    return params


_PYDANTIC_HEAD = re.compile(r"^Error executing tool (\S+): \d+ validation errors? for \S+$")


def one_line_error(text: str) -> str:
    """An MCP error text on one line; pydantic's multi-line report becomes ``field: problem; …``."""
    lines = text.splitlines()
    head = _PYDANTIC_HEAD.match(lines[0]) if lines else None
    if not head:
        return " ".join(text.split())
    problems, field = [], ""
    for line in lines[1:]:
        if not line.startswith(" "):
            field = line.strip()
        elif line.startswith("  ") and not line.startswith("    "):
            problems.append(f"{field}: {line.split(' [type=')[0].strip()}")
    return f"invalid arguments for {head.group(1)}: " + "; ".join(problems)


async def _one_line_errors(ctx: Any, call_next: Any) -> Any:
    """Server middleware: tool errors reach the caller as one line (never a multi-line report)."""
    result = await call_next(ctx)
    if isinstance(result, dict) and result.get("isError"):
        for block in result.get("content") or []:
            if block.get("type") == "text":
                block["text"] = one_line_error(str(block.get("text", "")))
    elif getattr(result, "is_error", False):
        for block in result.content:
            if getattr(block, "type", "") == "text":
                block.text = one_line_error(block.text)
    return result


def _generate_images_result(text: str, result: dict[str, Any]) -> list[Any]:
    from mcp.server.mcpserver import Image

    return [text, Image(path=result["grid"])]


def mcp_function(tool: Any) -> Callable[..., Any]:
    """A plain function with the tool's signature (minus hidden arguments) that an MCP server can register."""
    from mcp.server.mcpserver import Image

    def call(**arguments: Any) -> Any:
        result = _guarded(lambda: tool.func(**arguments), arguments)
        if tool.name == "generate_images":
            return _generate_images_result(*result)
        return result

    returns = RETURNS.get(tool.name, list[str | Image])
    call.__signature__ = inspect.Signature(_parameters(tool), return_annotation=returns)  # type: ignore[attr-defined]
    call.__name__ = tool.name
    call.__doc__ = DESCRIPTIONS[tool.name]
    return call


def ask_function(generalist_remote: bool) -> tuple[Callable[..., Any], Any]:
    """The ``ask`` tool (the routed graph) and its annotations."""
    from langgraph.checkpoint.memory import InMemorySaver
    from mcp_types import ToolAnnotations

    from lmgen.agent.api import ask
    from lmgen.agent.context import Context
    from lmgen.agent.graph import builder

    graph = builder.compile(checkpointer=InMemorySaver(), name="lmgen")  # threads live as long as the server

    def ask_tool(
        question: Annotated[str, Field(description="The request, in Korean or English.")],
        route: Annotated[
            Literal["auto", "expert", "generalist"],
            Field(description="auto: lmgen's router decides; expert/generalist: force that model."),
        ] = "auto",
        thread_id: Annotated[
            str | None,
            Field(description="Continue a conversation: pass the thread_id an earlier call returned."),
        ] = None,
    ) -> dict[str, Any]:
        ctx = Context(force_route="" if route == "auto" else route)
        thread = thread_id or f"mcp-{uuid.uuid4().hex[:12]}"
        answer = _guarded(
            lambda: ask(question, thread_id=thread, context=ctx, graph=graph), {"question": question}
        )
        return {
            "answer": answer.display,
            "route": answer.route,
            "intent": answer.intent,
            "model": answer.model,
            "sources": answer.sources,
            "tool_calls": [{k: c.get(k) for k in ("name", "args")} for c in answer.tool_calls],
            "images": answer.images,
            "decision": answer.decision,
            "thread_id": answer.thread_id,
            "latency_ms": answer.latency_ms,
        }

    ask_tool.__name__ = "ask"
    ask_tool.__doc__ = (
        "Ask lmgen's agent. A router sends the request to the 0.5B expert (chat, short facts, a plain "
        "tool request) or to the 1.5B generalist (reasoning, maths, code, several tool steps); tool "
        "requests run lmgen's engines and document questions are answered from the knowledge base with "
        "sources. Returns the answer, the route and why, the model, the tools called, the sources and a "
        "thread_id for follow-ups. Slower than the engine tools (seconds on a CPU)."
    )
    notes = ToolAnnotations(
        title="Ask lmgen's routed agent",
        read_only_hint=False,  # every turn is recorded (traces, the thread)
        destructive_hint=False,
        idempotent_hint=False,
        open_world_hint=generalist_remote,  # a generalist on another server is an outside system
    )
    return ask_tool, notes


def build_server(context_generalist: str | None = None) -> Any:
    """The MCP server with lmgen's tools, ``ask``, the knowledge-base resources and the prompts."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError
    from mcp_types import ToolAnnotations

    from lmgen.agent.context import Context
    from lmgen.tools import TOOLS

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[dict[str, Any]]:
        import anyio

        def warm() -> None:
            from lmgen.agent.router import load_router
            from lmgen.stores.knowledge import knowledge_base

            load_router()
            knowledge_base()

        await anyio.to_thread.run_sync(warm)
        log.info("lmgen MCP server ready")
        try:
            yield {}
        finally:
            from lmgen.agent.models import close_models

            close_models()

    server: Any = MCPServer(
        name="lmgen",
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level="WARNING",
        middleware=[_one_line_errors],
    )
    for tool in TOOLS:
        read_only = tool.name in READ_ONLY
        server.add_tool(
            mcp_function(tool),
            name=tool.name,
            description=DESCRIPTIONS[tool.name],
            annotations=ToolAnnotations(
                title=tool.name.replace("_", " ").capitalize(),
                read_only_hint=read_only,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=False,
            ),
        )
    generalist = context_generalist if context_generalist is not None else Context().generalist
    ask_tool, notes = ask_function(generalist.startswith(("http://", "https://")) or ":" in generalist)
    server.add_tool(ask_tool, name="ask", description=ask_tool.__doc__, annotations=notes)

    @server.resource(
        "lmgen://sources",
        name="sources",
        description="The knowledge base's source files and how many chunks each has (JSON).",
        mime_type="application/json",
    )
    def sources() -> dict[str, Any]:
        from lmgen.stores.knowledge import knowledge_base

        with _LOCK:
            kb = knowledge_base()
            return {"chunks": kb.count(), "sources": kb.sources()}

    @server.resource(
        "lmgen://chunks/{chunk_id}",
        name="chunk",
        description="One knowledge-base chunk by id (from retrieve_documents): its text, source and heading.",
        mime_type="application/json",
    )
    def chunk(chunk_id: str) -> dict[str, Any]:
        from lmgen.stores.knowledge import knowledge_base

        with _LOCK:
            hit = knowledge_base().chunk(chunk_id)
        if hit is None:
            raise ResourceError(f"no chunk with id {chunk_id!r} in the knowledge base")
        return hit.to_json()

    @server.prompt(
        name="explain_perplexity",
        description="Score a text with the n-gram model and explain the result for a learner.",
    )
    def explain_perplexity(text: str) -> str:
        return (
            f"Call the score_perplexity tool on this text:\n\n{text}\n\n"
            "Then explain the result to a student: what the perplexity number means (the model's "
            "average branching factor), which tokens were the most surprising (lowest log10 "
            "probability) and why, which were out of vocabulary, and how long an n-gram the model could "
            "match at each position. Finish with one sentence on what an n-gram model cannot see."
        )

    @server.prompt(
        name="compare_generators",
        description="Draw the same digit budget with the VAE, the GAN and diffusion, and compare them.",
    )
    def compare_generators(count: str = "8", seed: str = "0") -> str:
        return (
            f"Call generate_images three times with count={count} and seed={seed}: model 'vae', model "
            "'gan' and model 'ddpm'. Look at the three grids and compare them for a learner: sharpness "
            "(the VAE's blur comes from its pixel-wise likelihood and averaging over the posterior), "
            "variety and mode collapse (the GAN), and quality against sampling cost (diffusion's steps)."
        )

    return server


def _bearer_guard(app: Any, key: str) -> Any:
    """ASGI wrapper: every HTTP request needs ``Authorization: Bearer <key>``."""
    from starlette.responses import JSONResponse

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"").decode("latin-1")
            if not secrets.compare_digest(given, f"Bearer {key}"):
                response = JSONResponse({"error": "missing or wrong API key (Authorization: Bearer …)"}, 401)
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded


def run_mcp(transport: str = "stdio", host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve over stdio (the default) or streamable HTTP at ``http://host:port/mcp``."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    server = build_server()
    if transport == "stdio":
        server.run("stdio")
        return
    if transport != "streamable-http":
        raise InputError(f"unknown transport {transport!r}: stdio or streamable-http")
    import uvicorn

    from lmgen.ui.output import check_port_free

    check_port_free(host, port)
    app = server.streamable_http_app(host=host)
    key = os.environ.get("LMGEN_API_KEY", "")
    if key:
        app = _bearer_guard(app, key)
    print(f"lmgen MCP server: http://{host}:{port}/mcp", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
