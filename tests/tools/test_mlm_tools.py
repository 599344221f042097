"""The BERT LangChain tools: registered, typed, and calling the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmgen.errors import InputError
from lmgen.tools import TOOLS
from lmgen.tools.mlm import fill_mask, next_sentence, pseudo_perplexity


def test_registered_with_schemas() -> None:
    assert all(t in TOOLS for t in (fill_mask, next_sentence, pseudo_perplexity))
    assert set(fill_mask.args_schema.model_json_schema()["properties"]) == {
        "text",
        "top_k",
        "targets",
        "model",
    }  # type: ignore[union-attr]
    assert set(next_sentence.args_schema.model_json_schema()["properties"]) == {
        "sentence_a",
        "sentence_b",
        "model",
    }  # type: ignore[union-attr]
    assert "[MASK]" in fill_mask.description and "pseudo-perplexity" in pseudo_perplexity.description


def test_tools_call_the_engine(tiny_bert: Path) -> None:
    out = fill_mask.invoke({"text": "the [MASK] sat", "top_k": 2, "model": str(tiny_bert)})
    assert len(out) == 1 and len(out[0]) == 2 and out[0][0]["sequence"].startswith("the ")
    nsp = next_sentence.invoke(
        {"sentence_a": "the cat sat", "sentence_b": "the dog sat", "model": str(tiny_bert)}
    )
    assert nsp["label"] in {"IsNext", "NotNext"}
    pll = pseudo_perplexity.invoke({"text": "the cat sat on the mat", "model": str(tiny_bert)})
    assert pll["tokens"] == 6 and pll["pppl"] > 1
    with pytest.raises(InputError):
        fill_mask.invoke({"text": "no mask", "model": str(tiny_bert)})
