"""lmgen: a local-first agentic application for language and generative models.

The package is a set of layers that import one way only:
``ui → agent → chains → tools → models / stores``. Importing :mod:`lmgen` itself
loads nothing heavy: the public names below are resolved on first use.

The stable surface::

    from lmgen import ask, stream_ask, Answer, Event, Context   # the routed agent
    from lmgen import graph, route, load_router                 # the LangGraph graph, the router alone
    from lmgen import NgramModel, load_ngram                    # n-gram language models
    from lmgen import FillMasker, BertScorer                    # BERT fill-mask, NSP, pseudo-perplexity
    from lmgen import KnowledgeBase, knowledge_base             # documents (Chroma + BM25)
    from lmgen import make_images, load_generator               # AE / VAE / GAN / diffusion / faces
    from lmgen import TOOLS, LmgenError, InputError             # LangChain tools, typed errors
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ask": ("lmgen.agent.api", "ask"),
    "stream_ask": ("lmgen.agent.api", "stream_ask"),
    "Answer": ("lmgen.agent.api", "Answer"),
    "Event": ("lmgen.agent.api", "Event"),
    "Context": ("lmgen.agent.context", "Context"),
    "graph": ("lmgen.agent.graph", "graph"),
    "route": ("lmgen.agent.router", "route_text"),
    "load_router": ("lmgen.agent.router", "load_router"),
    "NgramModel": ("lmgen.models.ngram", "NgramModel"),
    "load_ngram": ("lmgen.stores.ngram", "load_model"),
    "FillMasker": ("lmgen.models.mlm.fill_mask", "FillMasker"),
    "BertScorer": ("lmgen.models.mlm.scoring", "BertScorer"),
    "KnowledgeBase": ("lmgen.stores.knowledge", "KnowledgeBase"),
    "knowledge_base": ("lmgen.stores.knowledge", "knowledge_base"),
    "make_images": ("lmgen.tools.images", "make_images"),
    "load_generator": ("lmgen.tools.images", "load_generator"),
    "TOOLS": ("lmgen.tools", "TOOLS"),
    "LmgenError": ("lmgen.errors", "LmgenError"),
    "InputError": ("lmgen.errors", "InputError"),
}

__all__ = [
    "TOOLS",
    "Answer",
    "BertScorer",
    "Context",
    "Event",
    "FillMasker",
    "InputError",
    "KnowledgeBase",
    "LmgenError",
    "NgramModel",
    "__version__",
    "ask",
    "graph",
    "knowledge_base",
    "load_generator",
    "load_ngram",
    "load_router",
    "make_images",
    "route",
    "stream_ask",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:  # __all__ lists the same names
        raise AttributeError(f"module 'lmgen' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(import_module(module), attr)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from lmgen.agent.api import Answer, Event, ask, stream_ask
    from lmgen.agent.context import Context
    from lmgen.agent.graph import graph
    from lmgen.agent.router import load_router
    from lmgen.agent.router import route_text as route
    from lmgen.errors import InputError, LmgenError
    from lmgen.models.mlm.fill_mask import FillMasker
    from lmgen.models.mlm.scoring import BertScorer
    from lmgen.models.ngram import NgramModel
    from lmgen.stores.knowledge import KnowledgeBase, knowledge_base
    from lmgen.stores.ngram import load_model as load_ngram
    from lmgen.tools import TOOLS
    from lmgen.tools.images import load_generator, make_images
