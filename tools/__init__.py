"""LangChain tools over lmgen's engines. Each is a typed function whose docstring is the
description the model sees; :data:`TOOLS` collects them for the agent and the MCP server."""

from langchain_core.tools import BaseTool

from lmgen.tools.compress import compare_compression
from lmgen.tools.images import generate_images
from lmgen.tools.mlm import fill_mask, next_sentence, pseudo_perplexity
from lmgen.tools.ngram import score_perplexity
from lmgen.tools.rag import retrieve_documents

TOOLS: list[BaseTool] = [
    score_perplexity,
    fill_mask,
    next_sentence,
    pseudo_perplexity,
    generate_images,
    retrieve_documents,
    compare_compression,
]
