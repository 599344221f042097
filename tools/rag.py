"""Retrieval tool: the best chunks of the knowledge base for a query, with their sources and scores."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.tools import tool
from pydantic import Field


@tool(parse_docstring=True)
def retrieve_documents(
    query: str,
    k: Annotated[int, Field(ge=1, le=100)] = 5,
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid",
    folder: str | None = None,
    translate: bool = True,
) -> list[dict[str, Any]]:
    """Search the user's ingested documents (lmgen's docs by default; Korean and English) and return
    the best chunks, each with text, source file, heading and score. Use it to ground an answer in
    the documents and cite them.

    Args:
        query: What to look for, in Korean or English.
        k: How many chunks to return (1-100).
        mode: hybrid (keywords + embeddings, best), dense (embeddings) or bm25 (keywords).
        folder: Optional folder to search within.
        translate: When the chunks found are in the other language (a Korean query over English
            documents), also search the query translated by the generalist and fuse the rankings.
    """
    from lmgen.agent.context import Context
    from lmgen.agent.models import query_translator
    from lmgen.chains.crosslingual import search_across_languages
    from lmgen.stores.knowledge import knowledge_base

    translator = query_translator(Context()) if translate else None
    hits, _ = search_across_languages(knowledge_base(), query, translator, k=k, mode=mode, folder=folder)
    return [
        {
            "id": h.id,
            "text": h.text,
            "source": h.source,
            "heading": h.heading,
            "page": h.page,
            "score": h.score,
        }
        for h in hits
    ]
