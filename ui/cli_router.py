"""The router on the command line: ``lmgen route`` and ``lmgen router train|eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lmgen.ui.output import JsonFlag, emit

router_app = typer.Typer(no_args_is_help=True, help="The learned sLM/LLM router: train and evaluate it.")
ShareOpt = Annotated[
    float | None,
    typer.Option(
        "--generalist-share", help="Pick the threshold by the share of requests sent to the generalist."
    ),
]
ThresholdOpt = Annotated[float | None, typer.Option(help="P(generalist) threshold (default 0.5).")]
JudgeOpt = Annotated[
    bool | None, typer.Option("--judge/--no-judge", help="Let the expert settle unsure requests.")
]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Router folder (default: the shipped one).")]


def register(app: typer.Typer) -> None:
    app.add_typer(router_app, name="router")
    app.command("route")(route_cmd)


def _setup(
    model: str | None, threshold: float | None, share: float | None, judge: bool | None
) -> tuple[Any, float, Any]:
    """The router model, the threshold and the judge (an expert runtime or None) for these options."""
    from lmgen.agent.context import Context
    from lmgen.agent.router import load_router, router_threshold

    ctx = Context()
    folder = model if model is not None else ctx.router_model
    router = load_router(folder)
    cut = router_threshold(
        router,
        ctx.route_threshold if threshold is None else threshold,
        ctx.generalist_share if share is None else share,
    )
    use_judge = ctx.router_judge if judge is None else judge
    judge_rt = None
    if use_judge:
        from lmgen.agent import prompts
        from lmgen.agent.models import expert_runtime

        judge_rt = expert_runtime(ctx, prompts.JUDGE_PROMPT)
    return folder, cut, judge_rt


def route_cmd(
    text: Annotated[str, typer.Argument(help="A request to classify.")],
    generalist_share: ShareOpt = None,
    threshold: ThresholdOpt = None,
    judge: JudgeOpt = None,
    model: ModelOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Show where the router would send a request, and why (scores, threshold, method)."""
    from lmgen.agent.api import check_question
    from lmgen.agent.router import load_router, route_text

    folder, cut, judge_rt = _setup(model, threshold, generalist_share, judge)
    decision = route_text(check_question(text), cut, model=load_router(folder), judge=judge_rt)
    emit(
        decision.to_json(),
        as_json,
        f"{decision.route} (intent {decision.intent}; {decision.why}; {decision.method}, "
        f"{decision.latency_ms:.0f} ms)",
    )


@router_app.command("train")
def train(
    out: Annotated[
        Path | None, typer.Option(help="Folder for the router (default $LMGEN_HOME/router).")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Labelled requests (default: the shipped set).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train the router's heads on the labelled train split, then evaluate it on the test split."""
    from lmgen.agent.router import evaluate_router, train_and_save
    from lmgen.stores.models import lmgen_home

    folder = out or lmgen_home() / "router"
    info = train_and_save(folder, data)
    result = evaluate_router(str(folder), "test", judge=None, data=data)
    result["out"] = info["out"]
    result["train_seconds"] = info["train_seconds"]
    result.pop("errors")
    emit(
        result,
        as_json,
        f"{folder}: test route accuracy {result['accuracy']:.3f}, intent {result['intent_accuracy']:.3f} "
        f"(use it with LMGEN_ROUTER_MODEL={folder})",
    )


@router_app.command("eval")
def eval_cmd(
    split: Annotated[str, typer.Option(help="test, train or all.")] = "test",
    generalist_share: ShareOpt = None,
    threshold: ThresholdOpt = None,
    judge: Annotated[
        bool, typer.Option("--judge/--no-judge", help="Use the expert on unsure cases.")
    ] = False,
    model: ModelOpt = None,
    data: Annotated[Path | None, typer.Option(help="Labelled requests (default: the shipped set).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Accuracy, per-intent precision/recall, confusion, latency and generalist share on a split."""
    from lmgen.agent.router import evaluate_router
    from lmgen.errors import InputError

    if split not in {"test", "train", "all"}:
        raise InputError(f"--split must be test, train or all, not {split!r}")
    folder, cut, judge_rt = _setup(model, threshold, generalist_share, judge)
    result = evaluate_router(folder, split, threshold=cut, judge=judge_rt, data=data)
    lines = [
        f"{split}: route accuracy {result['accuracy']:.3f}, intent accuracy {result['intent_accuracy']:.3f} "
        f"(n={result['n']}, threshold {result['threshold']:.3f}, generalist share "
        f"{result['generalist_share']:.2f}, p50 {result['latency_ms']['p50']} ms)",
        *(f"  {lang}: {v}" for lang, v in result["by_language"].items()),
        *(f"  miss: {e['text'][:70]!r} expected {e['expected']} got {e['got']}" for e in result["errors"]),
    ]
    emit(result, as_json, "\n".join(lines))
