"""Bidirectional vs left-to-right, side by side: what BERT puts at a mask (it reads both sides)
next to what a GPT-style model predicts at the same place from the words before it only."""

from __future__ import annotations

from typing import Any, Protocol

from lmgen.errors import InputError
from lmgen.models.mlm.fill_mask import MASK_SPELLINGS, NO_MASK


class NextTokenModel(Protocol):
    name: str

    def next_token_candidates(self, prefix: str, k: int = 5) -> list[dict[str, Any]]: ...


def left_context_candidates(model: NextTokenModel, text: str, k: int = 5) -> dict[str, Any]:
    """The left-to-right model's top ``k`` next tokens at the first mask of ``text``.

    Raises:
        InputError: no mask, or nothing before the first mask (a GPT has no context then).
    """
    match = MASK_SPELLINGS.search(text)
    if match is None:
        raise InputError(NO_MASK)
    prefix = text[: match.start()]
    if not prefix.strip():
        raise InputError("the mask is the first word: a left-to-right model has nothing to condition on")
    # a GPT tokenizer marks a following word with its leading space; keep the space out of the prefix
    candidates = model.next_token_candidates(prefix.rstrip(), k)
    return {
        "model": model.name,
        "prefix": prefix.rstrip(),
        "right_context_ignored": text[match.end() :],
        "candidates": candidates,
    }
