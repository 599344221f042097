"""Run settings for the graph. Every field falls back to an env var ``LMGEN_<FIELD>``."""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from lmgen.agent import prompts
from lmgen.models.llm import default_threads


@dataclass(kw_only=True)
class Context:
    """Settings the graph's nodes read. Explicit arguments win over env vars, env vars over defaults."""

    expert_model: str = field(
        default="",
        metadata={"description": "Path of the expert GGUF; empty: the model store resolves role 'expert'."},
    )
    generalist: str = field(
        default="local",
        metadata={
            "description": "'local' (packaged generalist GGUF), a path to a GGUF, 'provider:model' for "
            "init_chat_model, or an OpenAI-compatible base URL such as http://127.0.0.1:8080/v1."
        },
    )
    generalist_model_name: str = field(
        default="local-model", metadata={"description": "Model name sent to an OpenAI-compatible server."}
    )
    generalist_api_key: str = field(
        default="",
        metadata={"description": "API key for an OpenAI-compatible server (often unused locally)."},
    )
    generalist_timeout: float = field(
        default=120.0,
        metadata={"description": "Seconds to wait for a remote generalist before falling back."},
    )
    n_ctx: int = field(default=4096, metadata={"description": "Context window of local GGUF models."})
    n_threads: int = field(
        default_factory=default_threads, metadata={"description": "CPU threads for llama.cpp."}
    )
    n_gpu_layers: str = field(
        default="auto", metadata={"description": "'auto' (all layers when the build has a GPU), or a number."}
    )
    max_tokens: int = field(default=384, metadata={"description": "Longest reply, in tokens."})
    temperature: float = field(default=0.2, metadata={"description": "Sampling temperature of replies."})
    seed: int = field(default=0, metadata={"description": "Sampling seed of local models."})
    history_tokens: int = field(
        default=1500,
        metadata={
            "description": "Token budget for the conversation history sent to a model (CPU prompts are slow)."
        },
    )
    summary_tokens: int = field(
        default=120, metadata={"description": "Longest summary of older turns, in tokens."}
    )
    max_tool_steps: int = field(
        default=4, metadata={"description": "Most tool calls the generalist's tool loop makes in one turn."}
    )
    system_prompt: str = field(default=prompts.SYSTEM_PROMPT, metadata={"description": "System prompt."})
    route_threshold: float = field(
        default=0.5,
        metadata={"description": "P(generalist) at or above which the router picks the generalist."},
    )
    generalist_share: float = field(
        default=-1.0,
        metadata={
            "description": "Pick the threshold by the share of requests sent to the generalist on the "
            "labelled set (0…1); negative: use route_threshold."
        },
    )
    router_model: str = field(
        default="", metadata={"description": "Folder of a trained router; empty: the shipped one."}
    )
    router_judge: bool = field(
        default=False,
        metadata={
            "description": "Let the expert settle requests the router's classifier is unsure of (off by "
            "default: on the test split the 0.5B judge lowered accuracy, see README 'Router')."
        },
    )
    judge_margin: float = field(
        default=0.15,
        metadata={"description": "How close P(generalist) must be to the threshold to ask the judge."},
    )
    rag: bool = field(
        default=True,
        metadata={
            "description": "Answer from the knowledge base (with citations) when it holds relevant chunks."
        },
    )
    rag_k: int = field(default=4, metadata={"description": "Chunks retrieved for a grounded answer."})
    rag_translate: bool = field(
        default=True,
        metadata={
            "description": "Search a translation of the question too when the documents it finds are in "
            "the other language (Korean ↔ English; one greedy generalist call)."
        },
    )
    rag_tokens: int = field(
        default=700, metadata={"description": "Token budget of the retrieved context in a RAG prompt."}
    )
    rag_route: str = field(
        default="route",
        metadata={
            "description": "Model for grounded answers: 'route' (whatever the router chose), "
            "'generalist' or 'expert'. --route/force_route always wins."
        },
    )
    rag_max_tokens: int = field(default=200, metadata={"description": "Longest grounded answer, in tokens."})
    embeddings: str = field(
        default="e5", metadata={"description": "Embedding model of the knowledge base: e5, minilm or a path."}
    )
    chroma_url: str = field(
        default="", metadata={"description": "Chroma server URL; empty: the embedded store in LMGEN_HOME."}
    )
    force_route: str = field(
        default="", metadata={"description": "'expert' or 'generalist' to bypass the router."}
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            env = os.environ.get(f"LMGEN_{f.name.upper()}")
            if env is None or getattr(self, f.name) != _default_of(f):
                continue
            setattr(self, f.name, _coerce(env, type(getattr(self, f.name))))


def _default_of(f: Any) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _coerce(value: str, kind: type) -> Any:
    if kind is bool:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return kind(value)
