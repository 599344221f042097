"""The llama.cpp runtime on the real packaged GGUF models."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lmgen.errors import InputError, LmgenError, ModelFileError
from lmgen.models.llm import GenerationStats, LlamaConfig, LlamaRuntime

pytestmark = pytest.mark.llm

SYSTEM = {"role": "system", "content": "You are a concise, accurate assistant."}


@pytest.fixture(scope="module")
def expert(expert_path: Path) -> LlamaRuntime:
    return LlamaRuntime(LlamaConfig(model_path=str(expert_path), n_ctx=2048, role="expert"))


@pytest.fixture(scope="module")
def base_ppl(base_path: Path) -> LlamaRuntime:
    # logits for every position of a small window: n_ctx × vocab floats (Gemma: 262k vocab)
    return LlamaRuntime(LlamaConfig(model_path=str(base_path), n_ctx=256, logits_all=True, role="base"))


def ask(rt: LlamaRuntime, question: str, **kw: object) -> str:
    return rt.chat([SYSTEM, {"role": "user", "content": question}], max_tokens=48, temperature=0.0, **kw)


def test_expert_knows_paris(expert: LlamaRuntime) -> None:
    assert "Paris" in ask(expert, "What is the capital of France? Answer in one word.")


def test_expert_answers_korean(expert: LlamaRuntime) -> None:
    assert "서울" in ask(expert, "한국의 수도는 어디인가요?")


def test_streaming_yields_pieces_and_stats(expert: LlamaRuntime) -> None:
    stats = GenerationStats()
    pieces = list(
        expert.stream_chat(
            [SYSTEM, {"role": "user", "content": "Count from 1 to 5."}],
            max_tokens=30,
            temperature=0.0,
            stats=stats,
        )
    )
    assert len(pieces) > 3 and stats.completion_tokens == len(pieces)
    assert 0 < stats.ttft_s <= stats.total_s and stats.finish_reason in {"stop", "length"}


def test_json_schema_output_is_valid(expert: LlamaRuntime) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    data = expert.chat_json(
        [SYSTEM, {"role": "user", "content": "Name the capital of Japan and its country."}],
        schema,
        max_tokens=60,
    )
    assert set(data) == {"city", "country"} and "Tokyo" in data["city"]


def test_json_cut_short_is_a_clear_error(expert: LlamaRuntime) -> None:
    schema = {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}
    with pytest.raises(LmgenError, match="raise max_tokens"):
        expert.chat_json(
            [SYSTEM, {"role": "user", "content": "Write a long story about a cat."}], schema, max_tokens=5
        )


def test_pinned_system_prefix_survives_other_prompts(expert: LlamaRuntime) -> None:
    pinned = expert.pin_prefix([SYSTEM])
    assert pinned > 5
    expert.complete("Unrelated text that evicts the cache: " * 3, max_tokens=2)
    stats = GenerationStats()
    ask(expert, "Say hi.", stats=stats)
    assert stats.reused_tokens >= pinned  # restored from the pinned state, not re-evaluated


def test_repeated_prompt_reuses_the_whole_prefix(expert: LlamaRuntime) -> None:
    first, again = GenerationStats(), GenerationStats()
    ask(expert, "What is 2 + 2?", stats=first)
    ask(expert, "What is 2 + 2?", stats=again)
    assert again.reused_tokens >= again.prompt_tokens - 1


def test_prompt_too_long_is_rejected(expert: LlamaRuntime) -> None:
    with pytest.raises(InputError, match="context window"):
        expert.complete("word " * 5000, max_tokens=4)


def test_base_model_has_no_chat(base_path: Path) -> None:
    rt = LlamaRuntime(LlamaConfig(model_path=str(base_path), n_ctx=128, role="base"))
    assert not rt.has_chat_template
    with pytest.raises(InputError, match="no chat template"):
        rt.chat([{"role": "user", "content": "hi"}])


def test_perplexity_matches_llama_cpp_logprobs(base_ppl: LlamaRuntime) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    ours = base_ppl.perplexity(text, per_token=True)
    assert ours["nll"] == pytest.approx(-np.mean([t["logprob"] for t in ours["per_token"]]))
    assert math.exp(ours["nll"]) == pytest.approx(ours["ppl"])
    # Independent reference: llama-cpp-python's echo + logprobs path. It hides BOS and leaves the
    # first word unscored (None); every later prompt token must match ours.
    ref = base_ppl.llm.create_completion(text, max_tokens=1, echo=True, logprobs=1, temperature=0.0)
    info = ref["choices"][0]["logprobs"]
    n = ours["tokens"]
    assert info["token_logprobs"][0] is None and "".join(info["tokens"][:n]) == text
    assert [t["token"] for t in ours["per_token"]] == info["tokens"][:n]
    np.testing.assert_allclose(
        [t["logprob"] for t in ours["per_token"][1:]], info["token_logprobs"][1:n], rtol=1e-3, atol=1e-3
    )


def test_perplexity_ranks_fluent_text_lower(base_ppl: LlamaRuntime) -> None:
    fluent = base_ppl.perplexity("The cat sat on the mat and looked out of the window.")["ppl"]
    scrambled = base_ppl.perplexity("Window the mat of cat looked sat out the on and the.")["ppl"]
    assert math.isfinite(fluent) and fluent < scrambled


def test_sliding_window_scores_every_token_once(base_ppl: LlamaRuntime) -> None:
    text = " ".join(["Language models assign probabilities to sequences of words."] * 40)  # > n_ctx tokens
    full = base_ppl.perplexity(text, window=256, stride=128)
    n_tokens = len(base_ppl.tokenize(text, add_bos=base_ppl.adds_bos, special=False))
    assert n_tokens > 256 and full["tokens"] == n_tokens - 1
    short = base_ppl.perplexity(text, window=64, stride=32)
    assert short["tokens"] == full["tokens"]
    # repeated text is easy once the model sees the repetition: more context, lower perplexity
    assert full["ppl"] <= short["ppl"] * 1.05 and full["ppl"] < 5


def test_perplexity_bad_input(base_ppl: LlamaRuntime, expert: LlamaRuntime) -> None:
    with pytest.raises(InputError):
        base_ppl.perplexity("   ")
    with pytest.raises(LmgenError, match="logits_all"):
        expert.perplexity("hello there")


def test_truncated_gguf_is_a_model_file_error(expert_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "half.gguf"
    with expert_path.open("rb") as src:
        broken.write_bytes(src.read(expert_path.stat().st_size // 2))
    with pytest.raises(ModelFileError, match="cannot be loaded") as err:
        LlamaRuntime(LlamaConfig(model_path=str(broken), n_ctx=256, role="expert"))
    assert str(broken) in err.value.one_line() and "lmgen models pull expert" in err.value.one_line()


def test_missing_gguf(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        LlamaRuntime(LlamaConfig(model_path=str(tmp_path / "none.gguf"), role="expert"))
