"""The score_perplexity LangChain tool."""

import pytest

from lmgen.errors import InputError
from lmgen.tools import TOOLS
from lmgen.tools.ngram import score_perplexity


def test_registered_with_schema() -> None:
    assert score_perplexity in TOOLS
    props = score_perplexity.args_schema.model_json_schema()["properties"]  # type: ignore[union-attr]
    assert set(props) == {"text", "model", "order"}
    assert "perplexity" in score_perplexity.description


def test_scores_lines_as_sentences() -> None:
    result = score_perplexity.invoke({"text": "To be or not to be.\nThe king is dead."})
    assert result["sentences"] == 2 and result["ppl"] > 1 and len(result["per_token"]) == 2


def test_order_option_builds_that_model() -> None:
    bigram = score_perplexity.invoke({"text": "The king is dead.", "order": 2})
    assert bigram["order"] == 2


def test_korean_text_uses_the_korean_model() -> None:
    result = score_perplexity.invoke({"text": "대한민국은 민주공화국이다."})
    assert result["tokens"] >= 4


def test_too_long() -> None:
    with pytest.raises(InputError):
        score_perplexity.invoke({"text": "word " * 10_000})
