"""BERT tools: fill a mask, score a next sentence, score a sentence by pseudo-perplexity."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.tools import tool
from pydantic import Field


@tool(parse_docstring=True)
def fill_mask(
    text: str,
    top_k: Annotated[int, Field(ge=1, le=100)] = 5,
    targets: list[str] | None = None,
    model: str | None = None,
) -> Any:
    """Fill each [MASK] in a text with a BERT masked language model (reads both sides of the mask).

    Works for Korean and English, e.g. "대한민국은 민주[MASK]이다." or "good [MASK], my lord.".
    Returns one list per mask of candidates {score, token, token_str, sequence}, most likely first.

    Args:
        text: Text with one or more [MASK] (or <mask>) tokens.
        top_k: Candidates per mask (1-100).
        targets: Optional words to score at each mask instead of the whole vocabulary.
        model: Optional checkpoint folder or Hugging Face id; default is lmgen's shipped BERT.
    """
    from lmgen.models.mlm.fill_mask import FillMasker

    return FillMasker.load(model)(text, top_k=top_k, targets=targets)


@tool(parse_docstring=True)
def next_sentence(sentence_a: str, sentence_b: str, model: str | None = None) -> dict[str, Any]:
    """Next-sentence prediction: the probability that sentence_b directly follows sentence_a.

    Returns is_next (probability of IsNext) and label (IsNext or NotNext).

    Args:
        sentence_a: The first sentence.
        sentence_b: The candidate next sentence.
        model: Optional BERT checkpoint folder or Hugging Face id with a next-sentence head.
    """
    from lmgen.models.mlm.scoring import BertScorer

    return BertScorer.load(model).is_next(sentence_a, sentence_b)


@tool(parse_docstring=True)
def pseudo_perplexity(text: str, model: str | None = None) -> dict[str, Any]:
    """Score how natural a sentence is to a BERT model: pseudo-log-likelihood (mask each token in
    turn) and pseudo-perplexity (lower is more natural). Compare sentences, e.g. a grammatical
    and a scrambled one.

    Args:
        text: The sentence to score.
        model: Optional checkpoint folder or Hugging Face id; default is lmgen's shipped BERT.
    """
    from lmgen.models.mlm.scoring import BertScorer

    return BertScorer.load(model).pseudo_perplexity(text)
