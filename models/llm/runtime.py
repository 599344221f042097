"""llama.cpp runtime: one GGUF model, streamed chat, constrained JSON, perplexity.

A thin layer over ``llama_cpp.Llama`` that adds what lmgen needs and llama-cpp-python
leaves to the caller:

* chat prompts rendered from the GGUF's own Jinja template, so token counts are known;
* prompt-prefix reuse: llama.cpp already keeps the KV cache of the *previous* prompt; on
  top of that a pinned prefix (a fixed system prompt) is evaluated once and its state
  restored whenever another prompt ran in between;
* JSON-schema-constrained output through a llama.cpp grammar;
* perplexity of any text: mean negative log-likelihood over predicted tokens, computed
  from the logits of a bounded window that slides over long text.

No LangChain here: ``agent/`` wraps this class in a chat model.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from lmgen.errors import InputError, LmgenError, ModelFileError

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaState


def gpu_offload_supported() -> bool:
    """Whether this llama.cpp build can offload layers to a GPU (CUDA, Metal, Vulkan, …)."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def backend_summary() -> str:
    """One line for start-up: where llama.cpp will run the models."""
    if gpu_offload_supported():
        return "llama.cpp: GPU offload available, all layers go to the GPU (n_gpu_layers=-1)"
    return 'llama.cpp: CPU only (for a GPU, reinstall with CMAKE_ARGS="-DGGML_CUDA=on")'


def default_threads() -> int:
    """Threads for generation: every core up to 8 (more rarely helps a small model)."""
    return max(1, min(8, os.cpu_count() or 1))


@dataclass
class LlamaConfig:
    """How to load one GGUF model.

    ``n_gpu_layers="auto"`` offloads every layer (-1) when the build supports a GPU, else none.
    """

    model_path: str
    n_ctx: int = 4096  # context window in tokens; the KV cache is sized for it
    n_threads: int = field(default_factory=default_threads)
    n_batch: int = 512  # prompt tokens evaluated per llama_decode call
    n_gpu_layers: int | str = "auto"
    seed: int = 0
    logits_all: bool = False  # only the perplexity path needs logits for every position
    role: str = "model"  # named in error messages

    def resolved_gpu_layers(self) -> int:
        if self.n_gpu_layers == "auto":
            return -1 if gpu_offload_supported() else 0
        return int(self.n_gpu_layers)


@dataclass
class GenerationStats:
    """What one call cost, for the UI and the benchmarks."""

    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens whose KV cache was reused, not evaluated
    completion_tokens: int = 0
    ttft_s: float = 0.0  # time to first token
    total_s: float = 0.0
    finish_reason: str | None = None

    @property
    def tokens_per_s(self) -> float:
        gen = self.total_s - self.ttft_s
        return (self.completion_tokens - 1) / gen if self.completion_tokens > 1 and gen > 0 else 0.0


class LlamaRuntime:
    """One loaded GGUF model.

    Args:
        config: Load settings.

    Raises:
        ModelFileError: the file is missing, is not a GGUF file, or llama.cpp cannot load it.
    """

    def __init__(self, config: LlamaConfig) -> None:
        from llama_cpp import Llama

        self.config = config
        path = Path(config.model_path)
        if not path.is_file():
            raise ModelFileError(
                f"{config.role} model file not found: {path}",
                role=config.role,
                path=str(path),
                hint=f"lmgen models pull {config.role}",
            )
        self.gpu_layers = config.resolved_gpu_layers()
        try:
            self.llm: Llama = Llama(
                model_path=str(path),
                n_ctx=config.n_ctx,
                n_threads=config.n_threads,
                n_threads_batch=config.n_threads,
                n_batch=config.n_batch,
                n_gpu_layers=self.gpu_layers,
                seed=config.seed,
                logits_all=config.logits_all,
                verbose=False,
            )
        except ValueError as exc:  # llama-cpp-python's way of saying "llama_load_model failed"
            raise ModelFileError(
                f"{config.role} model file cannot be loaded (truncated or corrupt?): {path}",
                role=config.role,
                path=str(path),
                hint=f"lmgen models pull {config.role} --force, or point to another GGUF",
            ) from exc
        self.name = path.stem  # file names carry the quantization; general.name often does not
        # One generation at a time: llama.cpp contexts are not re-entrant.
        self.lock = threading.RLock()
        self._pinned: dict[tuple[int, ...], LlamaState] = {}
        self._template = self.llm.metadata.get("tokenizer.chat_template")

    # ------------------------------------------------------------------ tokens
    @property
    def n_ctx(self) -> int:
        return int(self.llm.n_ctx())

    @property
    def adds_bos(self) -> bool:
        """Whether the GGUF asks for a BOS token in front of every prompt."""
        return bool(self.llm._model.add_bos_token())

    @property
    def has_chat_template(self) -> bool:
        return bool(self._template)

    def tokenize(self, text: str, add_bos: bool = False, special: bool = True) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text, special=False))

    # ------------------------------------------------------------------ chat
    def render_chat(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """Render messages with the model's own chat template.

        Raises:
            InputError: the model has no chat template (a base model such as Gemma 3 270M).
        """
        if not self._template:
            raise InputError(
                f"{self.name} has no chat template (a base model): use complete() or perplexity()"
            )
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        eos = self.llm.token_eos()
        bos = self.llm.token_bos()
        formatter = Jinja2ChatFormatter(
            template=self._template,
            eos_token=self.llm.detokenize([eos]).decode("utf-8", "ignore") if eos >= 0 else "",
            bos_token=self.llm.detokenize([bos]).decode("utf-8", "ignore") if bos >= 0 else "",
            add_generation_prompt=add_generation_prompt,
        )
        return str(formatter(messages=cast(Any, list(messages))).prompt)

    def chat_stop(self) -> list[str]:
        eos = self.llm.token_eos()
        text = self.llm.detokenize([eos], special=True).decode("utf-8", "ignore") if eos >= 0 else ""
        stops = {"<|im_end|>", "<|endoftext|>"} if "<|im_start|>" in (self._template or "") else set()
        if text:
            stops.add(text)
        return sorted(stops)

    def pin_prefix(self, messages: Sequence[dict[str, str]]) -> int:
        """Evaluate a fixed conversation prefix (e.g. the system prompt) once and keep its state.

        Later prompts that start with these tokens restore the state instead of evaluating
        them again, even when other prompts ran in between. Returns the prefix length in tokens.
        """
        if not self._template:
            return 0
        prompt = self.render_chat(messages, add_generation_prompt=False)
        tokens = tuple(self.tokenize(prompt))
        if not tokens or tokens in self._pinned:
            return len(tokens)
        with self.lock:
            self._prepare(list(tokens))
            missing = tokens[self.llm.n_tokens :]
            if missing:
                self.llm.eval(list(missing))
            self._pinned[tokens] = self.llm.save_state()
        return len(tokens)

    def _prepare(self, tokens: list[int]) -> int:
        """Make the KV cache hold the longest available prefix of ``tokens``; return its length."""
        current = self.llm.n_tokens
        live = _common_prefix(self.llm.input_ids[:current], tokens)
        best_key, best = None, live
        for key in self._pinned:
            if len(key) > best and len(key) < len(tokens) and tuple(tokens[: len(key)]) == key:
                best_key, best = key, len(key)
        if best_key is not None:
            self.llm.load_state(self._pinned[best_key])
            return best
        return live

    def stream(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        temperature: float = 0.2,
        top_p: float = 0.95,
        stop: Sequence[str] | None = None,
        grammar: Any = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[str]:
        """Stream the completion of a raw prompt, piece by piece.

        Raises:
            InputError: the prompt is empty or does not fit the context window.
        """
        stats = stats if stats is not None else GenerationStats()
        bos = self.llm.token_bos()
        bos_text = self.llm.detokenize([bos], special=True).decode("utf-8", "ignore") if bos >= 0 else ""
        # A chat template may already spell out BOS; never send it twice.
        tokens = self.tokenize(
            prompt, add_bos=self.adds_bos and not (bos_text and prompt.startswith(bos_text))
        )
        if not tokens:
            raise InputError("empty prompt")
        if len(tokens) + 1 >= self.n_ctx:
            raise InputError(
                f"prompt has {len(tokens)} tokens; the context window holds {self.n_ctx}",
                hint="shorten the input or raise n_ctx",
            )
        max_tokens = max(1, min(max_tokens, self.n_ctx - len(tokens) - 1))
        start = time.perf_counter()
        with self.lock:
            reused = self._prepare(tokens)
            stats.prompt_tokens, stats.reused_tokens = len(tokens), reused
            chunks = self.llm.create_completion(
                prompt=tokens,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                stop=list(stop or []),
                grammar=grammar,
                stream=True,
                seed=self.config.seed,
            )
            for chunk in chunks:
                choice = cast(dict[str, Any], chunk)["choices"][0]
                piece = choice.get("text") or ""
                if choice.get("finish_reason"):
                    stats.finish_reason = choice["finish_reason"]
                if piece:
                    if stats.completion_tokens == 0:
                        stats.ttft_s = time.perf_counter() - start
                    stats.completion_tokens += 1
                    yield piece
        stats.total_s = time.perf_counter() - start

    def stream_chat(self, messages: Sequence[dict[str, str]], **kwargs: Any) -> Iterator[str]:
        """Stream a chat reply to OpenAI-style ``{"role", "content"}`` messages."""
        stop = list(kwargs.pop("stop", None) or []) + self.chat_stop()
        return self.stream(self.render_chat(messages), stop=stop, **kwargs)

    def chat(self, messages: Sequence[dict[str, str]], **kwargs: Any) -> str:
        return "".join(self.stream_chat(messages, **kwargs))

    def complete(self, prompt: str, **kwargs: Any) -> str:
        return "".join(self.stream(prompt, **kwargs))

    def chat_json(
        self,
        messages: Sequence[dict[str, str]],
        schema: dict[str, Any],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Any:
        """A chat reply constrained by a llama.cpp grammar built from a JSON schema.

        Raises:
            LmgenError: the model ran out of tokens before closing the JSON document.
        """
        from llama_cpp import LlamaGrammar

        grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        stats = GenerationStats()
        text = "".join(
            self.stream_chat(
                messages, grammar=grammar, max_tokens=max_tokens, temperature=temperature, stats=stats
            )
        )
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise LmgenError(
                f"constrained output was cut at {stats.completion_tokens} tokens "
                f"({stats.finish_reason}); raise max_tokens"
            ) from exc

    # ------------------------------------------------------------------ perplexity
    def next_token_candidates(self, prefix: str, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` most likely next tokens after ``prefix`` (left context only, as a GPT sees it).

        Returns ``[{"token", "prob", "logprob"}]``, most likely first; probabilities are the
        model's softmax over its whole vocabulary.
        """
        if k < 1:
            raise InputError("k must be at least 1")
        tokens = self.tokenize(prefix, add_bos=self.adds_bos, special=False)
        if not tokens:
            raise InputError("nothing to the left of the mask: a left-to-right model has no context to use")
        if len(tokens) >= self.n_ctx:
            tokens = tokens[-(self.n_ctx - 1) :]
        with self.lock:
            self.llm.reset()
            self.llm.eval(tokens)
            # without logits_all llama-cpp-python keeps no score rows: read the last position's logits
            row = self.llm._ctx.get_logits_ith(-1)
            logits = np.ctypeslib.as_array(row, shape=(self.llm.n_vocab(),)).astype(np.float64)
            self.llm.reset()
        peak = logits.max()
        logp = logits - (peak + np.log(np.exp(logits - peak).sum()))
        best = np.argsort(-logp)[:k]
        return [
            {
                "token": self.llm.detokenize([int(i)]).decode("utf-8", "replace"),
                "prob": float(np.exp(logp[i])),
                "logprob": float(logp[i]),
            }
            for i in best
        ]

    def perplexity(
        self, text: str, window: int | None = None, stride: int | None = None, per_token: bool = False
    ) -> dict[str, Any]:
        """Perplexity of ``text`` under this model: exp(mean NLL over predicted tokens).

        The first token (BOS when the model adds one) is context only. Long texts are
        scored with a sliding window: each window of ``window`` tokens overlaps the last by
        ``window - stride`` tokens, and only tokens not yet scored are counted, each with up
        to ``window - 1`` tokens of left context.

        Returns:
            ``ppl``, ``nll`` (mean, nats), ``tokens`` (predicted), ``window``, ``stride``, ``model``;
            with ``per_token``, also ``per_token``: ``[{"token", "logprob"}]`` for every predicted token.

        Raises:
            InputError: the text is empty or has fewer than two tokens.
            LmgenError: the runtime was loaded without ``logits_all=True``.
        """
        if not self.config.logits_all:
            raise LmgenError("perplexity needs a runtime loaded with logits_all=True")
        if not text or not text.strip():
            raise InputError("empty text")
        tokens = self.tokenize(text, add_bos=self.adds_bos, special=False)
        if len(tokens) < 2:
            raise InputError("text is too short to score (needs at least two tokens)")
        window = min(window or self.n_ctx, self.n_ctx)
        stride = max(1, min(stride or window // 2, window - 1))
        nll, scored, next_target = 0.0, 0, 1
        logprobs: list[float] = []
        with self.lock:
            begin = 0
            while True:
                end = min(begin + window, len(tokens))
                self.llm.reset()
                self.llm.eval(tokens[begin:end])
                first = max(next_target, begin + 1)
                # logits row r predicts token begin + r + 1: (L, V) slice for targets first..end-1
                logits = np.asarray(self.llm.scores[first - begin - 1 : end - begin - 1], dtype=np.float64)
                targets = np.asarray(tokens[first:end])
                peak = logits.max(axis=1)
                log_z = peak + np.log(np.exp(logits - peak[:, None]).sum(axis=1))
                token_lp = logits[np.arange(len(targets)), targets] - log_z
                nll -= float(token_lp.sum())
                if per_token:
                    logprobs.extend(token_lp.tolist())
                scored += len(targets)
                next_target = end
                if end == len(tokens):
                    break
                begin += stride
            self.llm.reset()
        mean = nll / scored
        result: dict[str, Any] = {
            "ppl": math.exp(mean),
            "nll": mean,
            "tokens": scored,
            "window": window,
            "stride": stride,
            "model": self.name,
        }
        if per_token:
            pieces = [self.llm.detokenize([t]).decode("utf-8", "replace") for t in tokens[1:]]
            result["per_token"] = [
                {"token": p, "logprob": lp} for p, lp in zip(pieces, logprobs, strict=True)
            ]
        return result


def _common_prefix(a: Iterable[int], b: Iterable[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
