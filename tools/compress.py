"""The compression lab as a tool: the table of what quantization, pruning and distillation cost and save."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.tools import tool

from lmgen.errors import InputError

FAMILIES = ("all", "bert", "gan", "gguf")


def compression_table(family: str = "all", remeasure: bool = False) -> dict[str, Any]:
    """The latest compression report (re-measured with ``remeasure``), filtered to one model family.

    The order of preference: a report you measured (``lmgen compress report``), else the one
    lmgen ships (measured when the checkpoints were made; its ``machine`` says where).
    """
    from lmgen.models.compress.report import SHIPPED_REPORT, build_report, latest_report, markdown_table
    from lmgen.stores.models import lmgen_home

    if family not in FAMILIES:
        raise InputError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    sections = ("bert", "gan", "gguf") if family == "all" else (family,)
    report: dict[str, Any] | None
    if remeasure:
        report = build_report(
            lmgen_home() / "compress" / "report", quick=True, sections=sections, progress=False
        )
        origin = "re-measured now (quick run)"
    else:
        report = latest_report()
        origin = "measured on this machine by `lmgen compress report`"
        if report is None:
            report = latest_report(SHIPPED_REPORT)
            origin = "shipped with lmgen (run `lmgen compress report` to re-measure here)"
    if report is None:
        return {
            "origin": "none",
            "rows": [],
            "markdown": "no compression report yet: run `lmgen compress report`",
        }
    rows = [r for r in report["rows"] if family == "all" or r["model"].split(":")[0] == family]
    picked = {**report, "rows": rows}
    keep = (
        "model",
        "technique",
        "variant",
        "params",
        "bytes",
        "latency_ms",
        "throughput",
        "throughput_unit",
        "quality",
        "quality_metric",
        "quality_better",
        "relative",
        "sparsity",
    )
    return {
        "origin": origin,
        "machine": report.get("machine"),
        "quick": report.get("quick"),
        "rows": [{k: r[k] for k in keep if k in r} for r in rows],
        "markdown": markdown_table(picked),
    }


@tool(parse_docstring=True)
def compare_compression(
    family: Literal["all", "bert", "gan", "gguf"] = "all", remeasure: bool = False
) -> dict[str, Any]:
    """Compare compressed versions of lmgen's models with their originals: int8 quantization,
    magnitude pruning (weights, attention heads, neurons, channels), distillation into a smaller
    BERT, and GGUF quantization types. Each row gives parameters, size, latency, throughput and a
    quality metric (held-out MLM accuracy, FID, perplexity), each also relative to the original.

    Args:
        family: Which models: 'bert', 'gan' (image generator), 'gguf' (the llama.cpp expert) or 'all'.
        remeasure: Measure again now (a quick run, minutes) instead of reading the latest report.
    """
    return compression_table(family, remeasure)
