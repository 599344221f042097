"""The compression lab on the command line: ``lmgen compress gguf|prune|distill|report``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lmgen.errors import InputError
from lmgen.ui.output import JsonFlag, emit

compress_app = typer.Typer(
    no_args_is_help=True,
    help="Quantize, prune and distil lmgen's models, and measure what each costs and saves.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(compress_app, name="compress")


@compress_app.command("gguf")
def gguf_cmd(
    types: Annotated[list[str], typer.Option("--type", help="Target type (repeat for several), e.g. Q4_0.")],
    role: Annotated[str, typer.Option(help="Which packaged model: expert, generalist or base.")] = "expert",
    source: Annotated[Path | None, typer.Option(help="Any GGUF file instead of a role's model.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for the new files.")] = None,
    measure: Annotated[bool, typer.Option(help="Measure size, tokens/s and perplexity of each.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Re-quantize a GGUF with llama.cpp's quantizer; compare the types on the fixed passages."""
    from lmgen.models.compress.gguf import check_type, compare_types, requantize
    from lmgen.stores.models import ModelStore, lmgen_home

    names = [check_type(t) for t in types]
    src = source or ModelStore().resolve(role)
    folder = out_dir or lmgen_home() / "compress" / "gguf"
    sys.stderr.write(
        f"note: {Path(src).name} is already quantized; other types are re-quantized from it "
        "(allow_requantize), so their rounding errors add up\n"
    )
    if measure:
        rows = compare_types(src, names, folder)
        lines = [f"{'type':<8}{'MB':>8}{'prompt t/s':>12}{'gen t/s':>9}{'ppl en':>9}{'ppl ko':>9}"]
        lines += [
            f"{r['type']:<8}{r['bytes'] / 1e6:>8.1f}{r['prompt_tokens_per_s']:>12.1f}"
            f"{r['gen_tokens_per_s']:>9.2f}{r['ppl_en']:>9.2f}{r['ppl_ko']:>9.2f}"
            for r in rows
        ]
        emit(rows, as_json, "\n".join(lines))
        return
    made = [
        requantize(src, n, folder / f"{Path(src).stem.rsplit('-', 1)[0]}-{n.lower()}.gguf") for n in names
    ]
    emit(made, as_json, "\n".join(f"{m['type']}: {m['out']} ({m['bytes'] / 1e6:.1f} MB)" for m in made))


@compress_app.command("prune")
def prune_cmd(
    target: Annotated[str, typer.Argument(help="bert or gan.")],
    sparsity: Annotated[float, typer.Option(help="Share to remove, in [0, 1).")] = 0.5,
    structure: Annotated[
        str, typer.Option(help="unstructured, heads or ffn (bert), channels (gan).")
    ] = "unstructured",
    fine_tune: Annotated[int, typer.Option(help="Recovery fine-tune steps after pruning (0: none).")] = 0,
    pairs: Annotated[int, typer.Option(help="Held-out pairs to score (bert).")] = 400,
    out: Annotated[Path | None, typer.Option(help="Save the pruned BERT here (unstructured or ffn).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Magnitude-prune the scratch BERT or the GAN generator and score it against the original."""
    from lmgen.models.compress import prune
    from lmgen.models.compress.report import compare_pruned

    prune.check_sparsity(sparsity)
    if target not in ("bert", "gan"):
        raise InputError(f"prune target must be bert or gan, not {target!r}")
    allowed = ("unstructured", "heads", "ffn") if target == "bert" else ("unstructured", "channels")
    if structure not in allowed:
        raise InputError(f"{target} can be pruned as {', '.join(allowed)}, not {structure!r}")
    if out is not None and (target != "bert" or structure == "heads"):
        raise InputError(
            "--out saves a BERT pruned as unstructured or ffn; a head-pruned model has a different head "
            "count in each layer, which a BERT config cannot describe"
        )
    result = compare_pruned(target, sparsity, structure, fine_tune=fine_tune, pairs=pairs, out=out)
    text = "\n".join(f"{k}: {v}" for k, v in result.items())
    emit(result, as_json, text)


@compress_app.command("distill")
def distill_cmd(
    out: Annotated[Path | None, typer.Option(help="Folder for student/ and scratch/.")] = None,
    steps: Annotated[int, typer.Option(help="Training steps for each run.")] = 1500,
    hidden: Annotated[int, typer.Option(help="Student hidden size.")] = 128,
    layers: Annotated[int, typer.Option(help="Student layers.")] = 3,
    heads: Annotated[int, typer.Option(help="Student attention heads.")] = 2,
    intermediate: Annotated[int, typer.Option(help="Student feed-forward size.")] = 512,
    temperature: Annotated[float, typer.Option(help="Softmax temperature of the soft targets.")] = 2.0,
    alpha: Annotated[float, typer.Option(help="Weight of the soft (teacher) loss.")] = 0.5,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 1e-3,
    run: Annotated[
        list[str] | None, typer.Option("--run", help="student and/or scratch (default both).")
    ] = None,
    teacher: Annotated[
        str | None, typer.Option(help="Teacher checkpoint (default: the scratch BERT, `--model scratch`).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    resume: Annotated[bool, typer.Option(help="Continue the saved runs for --steps more steps.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Distil the BERT into a smaller student, and train the same student from scratch to compare."""
    from lmgen.models.compress.distill import StudentConfig, TrainConfig, distill_bert
    from lmgen.stores.models import lmgen_home

    folder = out or lmgen_home() / "compress" / "distill"
    result = distill_bert(
        folder,
        teacher_path=teacher,
        student=StudentConfig(hidden, layers, heads, intermediate),
        train=TrainConfig(steps=steps, learning_rate=lr, temperature=temperature, alpha=alpha),
        runs=tuple(run or ("student", "scratch")),
        device=device,
        resume=resume,
    )
    emit(result, as_json, "\n".join(f"{k}: {folder / k} ({v['seconds']:.0f} s)" for k, v in result.items()))


@compress_app.command("report")
def report_cmd(
    quick: Annotated[bool, typer.Option(help="A CI-sized run: fewer samples, types and sparsities.")] = False,
    section: Annotated[
        list[str] | None, typer.Option("--section", help="bert, gan and/or gguf (default all).")
    ] = None,
    role: Annotated[str, typer.Option(help="The GGUF role measured.")] = "expert",
    out: Annotated[Path | None, typer.Option(help="Folder for report.json, report.md and the plots.")] = None,
    distill_dir: Annotated[
        Path | None, typer.Option(help="Where `compress distill` saved its students.")
    ] = None,
    merge: Annotated[
        bool, typer.Option(help="Keep the other sections' rows from the report already in --out.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Re-measure every model and technique; one table relative to each original."""
    from lmgen.models.compress.report import SECTIONS, build_report, markdown_table
    from lmgen.stores.models import lmgen_home

    folder = out or lmgen_home() / "compress" / "report"
    report: dict[str, Any] = build_report(
        folder,
        quick=quick,
        sections=tuple(section or SECTIONS),
        gguf_role=role,
        distill_dir=distill_dir,
        merge=merge,
    )
    sys.stderr.write(
        f"wrote {folder / 'report.json'}, {folder / 'report.md'} and {len(report['plots'])} plots\n"
    )
    emit(report, as_json, markdown_table(report))
