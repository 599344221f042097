"""GGUF models through llama.cpp: chat, constrained JSON, perplexity."""

from lmgen.models.llm.runtime import (
    GenerationStats,
    LlamaConfig,
    LlamaRuntime,
    backend_summary,
    default_threads,
    gpu_offload_supported,
)

__all__ = [
    "GenerationStats",
    "LlamaConfig",
    "LlamaRuntime",
    "backend_summary",
    "default_threads",
    "gpu_offload_supported",
]
