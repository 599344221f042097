"""Chat-model factory: the local expert, and a generalist that can be anything.

* expert — the packaged (or configured) GGUF through :class:`LocalLlamaChatModel`;
* generalist — ``local`` (packaged GGUF), a GGUF path, ``provider:model`` for LangChain's
  ``init_chat_model``, or the base URL of any OpenAI-compatible server (vLLM, llama.cpp
  server, Ollama).

Loaded runtimes live in one explicit cache keyed by their load settings, so the CLI, the
UI and the benchmarks reuse a model instead of loading it again.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

from lmgen.agent.context import Context
from lmgen.errors import InputError
from lmgen.models.llm import GenerationStats, LlamaConfig, LlamaRuntime
from lmgen.stores.models import ModelStore

log = logging.getLogger(__name__)

_ROLE_OF = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def to_chat_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages → ``{"role", "content"}`` dicts for a chat template."""
    out = []
    for m in messages:
        content = m.content if isinstance(m.content, str) else m.text
        out.append({"role": _ROLE_OF.get(m.type, "user"), "content": content})
    return out


class LocalLlamaChatModel(BaseChatModel):
    """A LangChain chat model over an lmgen :class:`LlamaRuntime` (streaming, real token counts)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    runtime: LlamaRuntime
    role: str = "expert"
    max_tokens: int = 384
    temperature: float = 0.2

    @property
    def _llm_type(self) -> str:
        return "lmgen-llama-cpp"

    @property
    def model_name(self) -> str:
        return self.runtime.name

    def get_num_tokens(self, text: str) -> int:
        return self.runtime.count_tokens(text)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; a ``tool_choice`` naming one of them makes every reply a call of that tool.

        The call is generated under a llama.cpp grammar built from the tool's parameter schema, so its
        arguments always parse. Without a named choice the tools are ignored (the packaged models'
        free tool calling is unreliable) and the model answers in text.
        """
        specs = [t if isinstance(t, dict) else convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=specs, tool_choice=tool_choice, **kwargs)

    def _forced_tool(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        choice = kwargs.get("tool_choice")
        if not isinstance(choice, dict):
            return None
        name = choice.get("function", {}).get("name")
        for spec in kwargs.get("tools") or []:
            if spec["function"]["name"] == name:
                return dict(spec["function"])
        raise InputError(f"tool_choice names {name!r}, which is not among the bound tools")

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        forced = self._forced_tool(kwargs)
        if forced is not None:
            args = self.runtime.chat_json(
                to_chat_dicts(messages), forced.get("parameters") or {"type": "object"}, max_tokens=256
            )
            chunk = tool_call_chunk(
                name=forced["name"], args=json.dumps(args, ensure_ascii=False), id=_call_id(), index=0
            )
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[chunk],
                    response_metadata={"model_name": self.runtime.name, "role": self.role},
                    chunk_position="last",
                )
            )
            return
        stats = GenerationStats()
        pieces = self.runtime.stream_chat(
            to_chat_dicts(messages),
            stop=stop,
            stats=stats,
            max_tokens=kwargs.get("max_tokens", self.max_tokens),
            temperature=kwargs.get("temperature", self.temperature),
        )
        # BaseChatModel reports each chunk to the callbacks (LangGraph's token stream) itself.
        for piece in pieces:
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        meta = {
            "model_name": self.runtime.name,
            "role": self.role,
            "finish_reason": stats.finish_reason,
            "prompt_tokens": stats.prompt_tokens,
            "reused_prompt_tokens": stats.reused_tokens,
            "completion_tokens": stats.completion_tokens,
            "ttft_s": round(stats.ttft_s, 4),
            "tokens_per_s": round(stats.tokens_per_s, 2),
        }
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="", response_metadata=meta, chunk_position="last"),
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        forced = self._forced_tool(kwargs)
        if forced is not None:
            args = self.runtime.chat_json(
                to_chat_dicts(messages), forced.get("parameters") or {"type": "object"}, max_tokens=256
            )
            message = AIMessage(
                content="",
                tool_calls=[{"name": forced["name"], "args": args, "id": _call_id(), "type": "tool_call"}],
                response_metadata={"model_name": self.runtime.name, "role": self.role},
            )
            return ChatResult(generations=[ChatGeneration(message=message)])
        text, meta = [], {}
        for chunk in self._stream(messages, stop=stop, run_manager=run_manager, **kwargs):
            text.append(chunk.text)
            meta.update(chunk.message.response_metadata)
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content="".join(text), response_metadata=meta))]
        )


_LOADED: list[LlamaRuntime] = []  # what load_runtime handed out, so it can be closed before exit


def close_models() -> None:
    """Close every loaded GGUF model (a ``Llama`` still open at interpreter exit prints a traceback)."""
    while _LOADED:
        runtime = _LOADED.pop()
        runtime.llm.close()
    load_runtime.cache_clear()


@lru_cache(maxsize=4)
def load_runtime(
    path: str, n_ctx: int, n_threads: int, n_gpu_layers: str, seed: int, role: str, logits_all: bool = False
) -> LlamaRuntime:
    """Load (once per setting) a GGUF model. The cache is the one place loaded models live."""
    runtime = LlamaRuntime(
        LlamaConfig(
            model_path=path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_gpu_layers=n_gpu_layers,
            seed=seed,
            role=role,
            logits_all=logits_all,
        )
    )
    _LOADED.append(runtime)
    where = f"GPU ({runtime.gpu_layers} layers offloaded)" if runtime.gpu_layers else "CPU"
    log.info("loaded %s model %s on %s, %d threads", role, runtime.name, where, n_threads)
    return runtime


def local_chat_model(role: str, context: Context, path: str | None = None) -> LocalLlamaChatModel:
    """A chat model over a local GGUF for ``role`` (``expert`` or ``generalist``)."""
    store = ModelStore(overrides={role: path} if path else None)
    resolved = store.resolve(role)
    runtime = load_runtime(
        str(resolved), context.n_ctx, context.n_threads, context.n_gpu_layers, context.seed, role
    )
    runtime.pin_prefix([{"role": "system", "content": context.system_prompt}])
    return LocalLlamaChatModel(
        runtime=runtime, role=role, max_tokens=context.max_tokens, temperature=context.temperature
    )


def expert_runtime(context: Context, pinned_system: str | None = None) -> LlamaRuntime:
    """The expert's loaded runtime (shared with its chat model), with ``pinned_system`` evaluated once."""
    path = ModelStore(overrides={"expert": context.expert_model} if context.expert_model else None)
    runtime = load_runtime(
        str(path.resolve("expert")),
        context.n_ctx,
        context.n_threads,
        context.n_gpu_layers,
        context.seed,
        "expert",
    )
    if pinned_system:
        runtime.pin_prefix([{"role": "system", "content": pinned_system}])
    return runtime


def expert_chat_model(context: Context) -> LocalLlamaChatModel:
    """The expert: always a local GGUF."""
    return local_chat_model("expert", context, context.expert_model or None)


def generalist_kind(spec: str) -> str:
    """Which kind of generalist a setting names: ``local``, ``gguf``, ``openai`` or ``provider``."""
    spec = spec.strip()
    if spec in {"", "local"}:
        return "local"
    if spec.startswith(("http://", "https://")):
        return "openai"
    if spec.endswith(".gguf") or Path(spec).expanduser().is_file():
        return "gguf"
    if ":" in spec:
        return "provider"
    raise InputError(
        f"generalist setting {spec!r} is neither 'local', a GGUF path, 'provider:model' nor a URL"
    )


def generalist_chat_model(context: Context) -> BaseChatModel:
    """The generalist named by ``context.generalist`` (see :func:`generalist_kind`).

    Remote models are built without contacting them; failures surface on first use,
    where the graph falls back to the expert.
    """
    kind = generalist_kind(context.generalist)
    if kind == "local":
        return local_chat_model("generalist", context)
    if kind == "gguf":
        return local_chat_model("generalist", context, context.generalist)
    if kind == "openai":
        from langchain_openai import ChatOpenAI

        # llama.cpp's server ignores max_completion_tokens (what ChatOpenAI sends for
        # max_tokens), so the limit travels in the request body as plain max_tokens.
        return ChatOpenAI(
            base_url=context.generalist,
            api_key=context.generalist_api_key or "not-needed",  # type: ignore[arg-type]
            model=context.generalist_model_name,
            temperature=context.temperature,
            extra_body={"max_tokens": context.max_tokens},
            timeout=context.generalist_timeout,
            max_retries=0,
        )
    from langchain.chat_models import init_chat_model

    return init_chat_model(context.generalist, temperature=context.temperature, max_tokens=context.max_tokens)


def model_label(model: BaseChatModel) -> str:
    """A short human name for whichever chat model answered."""
    if isinstance(model, LocalLlamaChatModel):
        return model.model_name
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def count_tokens(model: BaseChatModel, text: str) -> int:
    """Token count with the model's own tokenizer when local; a conservative estimate otherwise.

    (``get_num_tokens`` of OpenAI-style models downloads a tiktoken encoding, which fails offline.)
    """
    if isinstance(model, LocalLlamaChatModel):
        return model.get_num_tokens(text)
    return len(text) // 3 + 1


def base_runtime() -> LlamaRuntime:
    """The ``base`` GGUF (Gemma 3 270M, a plain left-to-right LM) with logits for every position."""
    from lmgen.models.llm import default_threads
    from lmgen.stores.models import ModelStore

    path = ModelStore().resolve("base")
    return load_runtime(str(path), 512, default_threads(), "auto", 0, "base", logits_all=True)


def neural_perplexity(text: str) -> dict[str, Any]:
    """Perplexity of the same text under the ``base`` GGUF (Gemma 3 270M), for side-by-side display."""
    out = base_runtime().perplexity(text)
    return {
        "ppl": out["ppl"],
        "tokens": out["tokens"],
        "model": out["model"],
        "window": out["window"],
        "note": "perplexity per Gemma subword token: the units differ from the n-gram's words, "
        "so compare rankings of texts, not the raw numbers",
    }


def left_context(text: str, top_k: int) -> dict[str, Any]:
    """What the left-to-right base model predicts at the first mask from the words before it alone."""
    from lmgen.models.mlm.compare import left_context_candidates

    return left_context_candidates(base_runtime(), text, top_k)


def remote_errors() -> tuple[type[BaseException], ...]:
    """What a generalist may raise when it is down or misbehaves (provider SDKs imported lazily)."""
    from lmgen.errors import LmgenError

    errors: list[type[BaseException]] = [OSError, TimeoutError, LmgenError, ImportError]
    try:
        import httpx
        import openai

        errors += [openai.OpenAIError, httpx.HTTPError]
    except ImportError:
        pass
    return tuple(errors)


@lru_cache(maxsize=1)
def _translations() -> Any:
    from lmgen.chains.crosslingual import TranslationCache

    return TranslationCache()


def query_translator(context: Context) -> Callable[[str, str], str]:
    """Translate a search question (``(text, "ko"|"en") → text``) with the generalist, greedily.

    A generalist that is down hands over to the expert (log, no exception); translations are cached
    per model and text. Used by cross-language retrieval (:mod:`lmgen.chains.crosslingual`).
    """
    from dataclasses import replace

    from lmgen.chains.crosslingual import translate

    quiet = replace(context, temperature=0.0, max_tokens=96)

    def run(text: str, target: str) -> str:
        def make() -> str:
            try:
                return translate(generalist_chat_model(quiet), text, target)
            except remote_errors() as exc:
                log.warning("generalist could not translate the query, the expert does: %s", exc)
                return translate(expert_chat_model(quiet), text, target)

        return str(_translations().get((str(context.generalist), text, target), make))

    return run
