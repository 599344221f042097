"""N-gram tools."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.tools import tool
from pydantic import Field

from lmgen.errors import InputError

MAX_TOOL_CHARS = 20_000


@tool(parse_docstring=True)
def score_perplexity(
    text: str, model: str | None = None, order: Annotated[int, Field(ge=1, le=6)] | None = None
) -> dict[str, Any]:
    """Score how predictable a text is under an n-gram language model.

    Lower perplexity means more typical of the training text. Korean text (Hangul) uses the
    Korean model, anything else the English (Shakespeare) model. Returns perplexity with and
    without out-of-vocabulary words and a per-token breakdown.

    Args:
        text: One or more sentences; each line is scored as a sentence.
        model: Optional path of an n-gram model saved by lmgen or an ARPA file.
        order: Optional n-gram order (1-6) for the default model, built on first use.
    """
    from lmgen.models.ngram.tokenize import split_sentences
    from lmgen.stores.ngram import load_model

    if len(text) > MAX_TOOL_CHARS:
        raise InputError(f"text is longer than {MAX_TOOL_CHARS:,} characters")
    sentences = [s for line in text.splitlines() for s in split_sentences(line)]
    lm = load_model(model, text=text, order=order)
    result = lm.perplexity(sentences, per_token=True)
    result["model"] = model or "default"
    return result
