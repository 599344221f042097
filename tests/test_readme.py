"""The README's Python examples run as written, and langgraph.json loads the way LangGraph tooling does."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"^```python\n(.*?)^```", (REPO / "README.md").read_text(encoding="utf-8"), re.S | re.M)


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 5
    assert any("from lmgen import" in b for b in BLOCKS)


@pytest.mark.llm
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expert_path: Path, base_path: Path
) -> None:
    """Each block in a fresh namespace, in a scratch folder that sees the repo's docs/."""
    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LMGEN_EXPERT_MODEL", str(expert_path))
    monkeypatch.setenv("LMGEN_MAX_TOKENS", "24")
    monkeypatch.setenv("LMGEN_GENERALIST", str(expert_path))  # generalist turns stay quick
    monkeypatch.setenv("LMGEN_BASE_MODEL", str(base_path))
    (tmp_path / "docs").symlink_to(REPO / "docs")
    monkeypatch.chdir(tmp_path)
    source = BLOCKS[index]
    if "KnowledgeBase()" in source and "ingest" not in source:  # the chain block reads an ingested store
        from lmgen.stores.knowledge import KnowledgeBase

        KnowledgeBase().ingest([REPO / "docs" / "en"], progress=False)
    namespace: dict[str, object] = {"__name__": f"readme_{index}"}
    try:
        exec(compile(source, f"README.md python block {index}", "exec"), namespace)
    finally:
        from lmgen.models.llm import LlamaRuntime

        for value in namespace.values():  # a runtime the example made itself: close it, not __del__ at exit
            if isinstance(value, LlamaRuntime):
                value.llm.close()


def test_langgraph_json_graph_loads_like_the_langgraph_cli() -> None:
    """``langgraph dev`` imports each graph's file by path (not by package) and takes the attribute."""
    from langgraph.pregel import Pregel

    config = json.loads((REPO / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    for name, spec in config["graphs"].items():
        path, attr = spec.rsplit(":", 1)
        module_spec = importlib.util.spec_from_file_location(f"langgraph_{name}", REPO / path)
        assert module_spec and module_spec.loader
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        try:
            module_spec.loader.exec_module(module)
        finally:
            sys.modules.pop(module_spec.name, None)
        graph = getattr(module, attr)
        assert isinstance(graph, Pregel)
        drawn = graph.get_graph().draw_mermaid()
        for node in ("route_request", "plan_step", "retrieve_docs", "call_expert", "call_generalist"):
            assert node in drawn
        assert graph.checkpointer is None  # a deployment brings its own
    assert os.path.isfile(REPO / "agent" / "graph.py")
