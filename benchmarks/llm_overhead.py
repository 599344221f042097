"""What lmgen's layers cost: generation through the agent vs raw llama-cpp-python.

Both sides load the same expert GGUF with the same threads and context, get the same system
prompt and question, decode greedily for the same number of tokens, and alternate runs so
machine noise hits both alike. lmgen's side is ``lmgen.agent.api.stream_ask`` (what ``lmgen
ask`` runs, minus process start-up): the learned router (e5 embedding + heads), LangGraph,
checkpointer, history check, chat chain, LangChain streaming callbacks.

Also measured: time to first token (TTFT) for a first question, the same question again and
a new question, to show the prompt-prefix reuse.

    python benchmarks/llm_overhead.py [--runs 3] [--max-tokens 96] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def raw_run(llm, messages: list[dict[str, str]], max_tokens: int) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """(ttft_s, last_token_s, pieces) for raw llama-cpp-python streaming chat."""
    llm.reset()  # no KV reuse between runs: each side evaluates its prompt from scratch
    start = time.perf_counter()
    ttft, last, pieces = 0.0, 0.0, 0
    for chunk in llm.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0, stream=True):
        if chunk["choices"][0]["delta"].get("content"):
            last = time.perf_counter() - start
            if not pieces:
                ttft = last
            pieces += 1
    return ttft, last, pieces


def lmgen_run(question: str, ctx, graph, runtime, reset: bool = True) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """(ttft_s, last_token_s, pieces) through the agent graph, in a fresh thread.

    Generation speed is measured between the first and the last streamed piece; what the graph
    does after the last token (checkpoint, final state) is reported separately as ``tail``.
    """
    from lmgen.agent.api import Answer, Event, stream_ask

    if reset:
        runtime.llm.reset()
        runtime._pinned.clear()  # cold: the system prompt is evaluated again, like the raw side
    start = time.perf_counter()
    ttft, last, pieces = 0.0, 0.0, 0
    for item in stream_ask(question, context=ctx, graph=graph):
        if isinstance(item, Answer):
            TAILS.append(time.perf_counter() - start - last)
            break
        if isinstance(item, Event):  # the route decision and other steps are not reply pieces
            continue
        last = time.perf_counter() - start
        if not pieces:
            ttft = last
        pieces += 1
    return ttft, last, pieces


TAILS: list[float] = []


def rate(total: float, ttft: float, pieces: int) -> float:
    return (pieces - 1) / (total - ttft) if pieces > 1 and total > ttft else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--n-ctx", type=int, default=2048)
    args = parser.parse_args()

    from langgraph.checkpoint.memory import InMemorySaver
    from llama_cpp import Llama

    from lmgen.agent.context import Context
    from lmgen.agent.graph import builder
    from lmgen.agent.models import load_runtime
    from lmgen.stores.models import ModelStore

    path = ModelStore().resolve("expert")
    # The plain expert path: routed to the expert, no knowledge-base detour (a question on lmgen's own
    # subjects would otherwise be answered from its docs, a different prompt), no judge.
    ctx = Context(
        force_route="expert",
        rag=False,
        router_judge=False,
        max_tokens=args.max_tokens,
        temperature=0.0,
        n_threads=args.threads,
        n_ctx=args.n_ctx,
    )
    graph = builder.compile(checkpointer=InMemorySaver())
    question = "Explain in a few sentences what perplexity measures in language modelling."
    messages = [{"role": "system", "content": ctx.system_prompt}, {"role": "user", "content": question}]

    raw = Llama(
        model_path=str(path),
        n_ctx=args.n_ctx,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=0,
        verbose=False,
    )
    runtime = load_runtime(str(path), ctx.n_ctx, ctx.n_threads, ctx.n_gpu_layers, ctx.seed, "expert")
    print(f"model {path.name}, threads {args.threads}, max_tokens {args.max_tokens}, runs {args.runs}")

    raw_run(raw, messages, 8)  # warm-up both sides (page in weights, build graphs)
    lmgen_run(question, ctx, graph, runtime)
    raw_stats, ours = [], []
    for _ in range(args.runs):  # alternate so noise hits both
        raw_stats.append(raw_run(raw, messages, args.max_tokens))
        ours.append(lmgen_run(question, ctx, graph, runtime))
    raw_tps = statistics.median(rate(t, f, n) for f, t, n in raw_stats)
    our_tps = statistics.median(rate(t, f, n) for f, t, n in ours)
    raw_ttft = statistics.median(f for f, _, _ in raw_stats)
    our_ttft = statistics.median(f for f, _, _ in ours)
    print(f"{'':24}{'raw llama-cpp':>15}{'lmgen ask':>12}{'ratio':>8}")
    print(f"{'generation tok/s':24}{raw_tps:15.2f}{our_tps:12.2f}{our_tps / raw_tps:8.3f}")
    print(f"{'time to first token s':24}{raw_ttft:15.3f}{our_ttft:12.3f}{our_ttft / raw_ttft:8.3f}")
    print(f"{'pieces streamed':24}{raw_stats[-1][2]:15d}{ours[-1][2]:12d}")
    print(
        f"after the last token, lmgen's graph needs {statistics.median(TAILS) * 1000:.1f} ms more "
        "(checkpoint, final state)"
    )

    # Prefix reuse: a cold first question, the same question again, then a different one.
    first = lmgen_run(question, ctx, graph, runtime, reset=True)[0]
    again = lmgen_run(question, ctx, graph, runtime, reset=False)[0]
    other = lmgen_run("What does a VAE's KL term do?", ctx, graph, runtime, reset=False)[0]
    print("prefix reuse (TTFT through lmgen ask, fresh threads):")
    print(f"  first question (cold)       {first:7.3f} s")
    print(f"  same question again         {again:7.3f} s   ratio {again / first:.2f}")
    print(f"  new question, same system   {other:7.3f} s   ratio {other / first:.2f}")


if __name__ == "__main__":
    main()
