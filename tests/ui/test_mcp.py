"""``lmgen mcp``: the MCP SDK's own client against a real ``lmgen mcp`` process, over stdio and HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lmgen.tools import TOOLS
from tests.conftest import LMGEN, free_port, run_cli, start_server, stop_server

pytestmark = pytest.mark.llm

DOCS = Path(__file__).resolve().parents[2] / "docs" / "en"


@pytest.fixture(scope="module")
def mcp_env(tmp_path_factory: pytest.TempPathFactory, expert_path: Path) -> dict[str, str]:
    """A private LMGEN_HOME whose knowledge base holds lmgen's English docs."""
    home = tmp_path_factory.mktemp("mcp-home")
    env = {"LMGEN_HOME": str(home), "LMGEN_EXPERT_MODEL": str(expert_path), "LMGEN_MAX_TOKENS": "32"}
    done = run_cli("rag", "ingest", str(DOCS), "--json", env=env)
    assert done.returncode == 0, done.stderr
    return {**os.environ, **env}


def _text(result: Any) -> str:
    return "".join(getattr(b, "text", "") for b in result.content)


async def _exercise(client: Any) -> dict[str, Any]:
    """List and call everything a calling agent would; returns what it saw."""
    seen: dict[str, Any] = {}
    listed = await client.list_tools()
    seen["tools"] = {t.name: t for t in listed.tools}
    calls = {
        "score_perplexity": {"text": "to be or not to be"},
        "fill_mask": {"text": "The capital of France is [MASK].", "top_k": 3},
        "next_sentence": {"sentence_a": "I lost my keys.", "sentence_b": "So I called a locksmith."},
        "pseudo_perplexity": {"text": "The cat sat on the mat."},
        "generate_images": {"model": "gan", "count": 4, "seed": 1},
        "retrieve_documents": {"query": "What is next-sentence prediction?", "k": 3},
        "compare_compression": {"family": "bert"},
        "ask": {"question": "hello, how are you?", "route": "expert"},
    }
    seen["results"] = {name: await client.call_tool(name, args) for name, args in calls.items()}
    hits = seen["results"]["retrieve_documents"].structured_content["result"]
    seen["chunk"] = await client.read_resource(f"lmgen://chunks/{hits[0]['id']}")
    seen["top_hit"] = hits[0]
    seen["sources"] = await client.read_resource("lmgen://sources")
    seen["prompts"] = await client.list_prompts()
    seen["prompt"] = await client.get_prompt("explain_perplexity", {"text": "to be or not to be"})
    seen["bad"] = {
        "missing": await client.call_tool("next_sentence", {"sentence_a": "Hi."}),
        "wrong_type": await client.call_tool("fill_mask", {"text": "I [MASK] tea.", "top_k": "many"}),
        "out_of_range": await client.call_tool("generate_images", {"model": "gan", "count": 500}),
        "huge": await client.call_tool("score_perplexity", {"text": "word " * 200_000}),
        "no_mask": await client.call_tool("fill_mask", {"text": "There is no gap here."}),
    }
    seen["after"] = await client.call_tool("next_sentence", {"sentence_a": "Hi.", "sentence_b": "Hello."})
    return seen


def _check(seen: dict[str, Any]) -> None:
    tools = seen["tools"]
    assert set(tools) == {t.name for t in TOOLS} | {"ask"}
    for name, tool in tools.items():
        assert len(tool.description or "") > 80, name  # written for an agent, not a one-liner
        assert tool.annotations is not None and tool.annotations.read_only_hint is not None
    assert tools["fill_mask"].annotations.read_only_hint is True
    assert tools["generate_images"].annotations.read_only_hint is False  # it writes PNG files
    # the input schema is the LangChain tool's own: bounds, defaults and descriptions carried over
    top_k = tools["fill_mask"].input_schema["properties"]["top_k"]
    assert (top_k["minimum"], top_k["maximum"], top_k["default"]) == (1, 100, 5)
    assert "model" not in tools["fill_mask"].input_schema["properties"]  # no server-side paths from callers
    assert tools["score_perplexity"].output_schema is not None  # structured output

    results = seen["results"]
    assert not any(r.is_error for r in results.values()), {
        k: _text(r) for k, r in results.items() if r.is_error
    }
    assert results["score_perplexity"].structured_content["ppl"] > 1
    masks = results["fill_mask"].structured_content["result"]
    assert len(masks[0]) == 3 and all(0 <= c["score"] <= 1 for c in masks[0])
    assert 0 <= results["next_sentence"].structured_content["is_next"] <= 1
    assert results["pseudo_perplexity"].structured_content["pppl"] > 1
    images = [b for b in results["generate_images"].content if b.type == "image"]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    assert base64.b64decode(images[0].data)[:8] == b"\x89PNG\r\n\x1a\n"
    table = results["compare_compression"].structured_content
    assert table["rows"] and {r["model"] for r in table["rows"]} == {"bert"}
    assert table["rows"][0]["technique"] == "original" and "| bert |" in table["markdown"]
    asked = results["ask"].structured_content
    assert asked["route"] == "expert" and asked["answer"] and asked["thread_id"]
    assert asked["sources"] == []  # a greeting never gets sources

    chunk = json.loads(seen["chunk"].contents[0].text)
    assert chunk["id"] == seen["top_hit"]["id"] and chunk["text"] == seen["top_hit"]["text"]
    assert chunk["source"].endswith(".md")
    sources = json.loads(seen["sources"].contents[0].text)
    assert sources["chunks"] > 10 and any(s.endswith("bert.md") for s in sources["sources"])
    assert {p.name for p in seen["prompts"].prompts} == {"explain_perplexity", "compare_generators"}
    assert "score_perplexity" in seen["prompt"].messages[0].content.text

    for kind, result in seen["bad"].items():
        assert result.is_error, kind
        reason = _text(result)
        assert "\n" not in reason and "Traceback" not in reason, (kind, reason)
    assert "sentence_b" in _text(seen["bad"]["missing"])
    assert "top_k" in _text(seen["bad"]["wrong_type"])
    assert "limit" in _text(seen["bad"]["huge"])
    assert "[MASK]" in _text(seen["bad"]["no_mask"])
    assert not seen["after"].is_error  # the server still answers


def test_stdio_client_lists_calls_reads_and_gets_errors(mcp_env: dict[str, str]) -> None:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=LMGEN[0], args=[*LMGEN[1:], "mcp"], env=mcp_env)

    async def main() -> dict[str, Any]:
        async with Client(params, read_timeout_seconds=300) as client:
            return await _exercise(client)

    _check(asyncio.run(main()))


@pytest.fixture(scope="module")
def http_server(
    mcp_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, str]]:
    port, key = free_port(), "mcp-test-key"
    proc = start_server(
        ["mcp", "--transport", "streamable-http", "--port", str(port)],
        f"http://127.0.0.1:{port}/mcp",
        {**mcp_env, "LMGEN_API_KEY": key},
        tmp_path_factory.mktemp("mcp-log") / "mcp.log",
    )
    yield port, key
    stop_server(proc)


def test_streamable_http_client_with_key(http_server: tuple[int, str]) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    port, key = http_server

    async def main() -> dict[str, Any]:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=300)
        async with (
            http,
            Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as client,
        ):
            return await _exercise(client)

    _check(asyncio.run(main()))


def test_http_needs_the_key_and_binds_loopback(http_server: tuple[int, str]) -> None:
    port, _ = http_server
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/mcp", data=b"{}", headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    listening = [
        line.split()[1]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
    ]
    assert listening == [f"0100007F:{port:04X}"]  # 127.0.0.1 only


def _adapters_venv() -> Path:
    """A throwaway venv with langchain-mcp-adapters (it caps mcp<2, so it cannot live in lmgen's)."""
    import sys

    venv = (
        Path(os.environ.get("LMGEN_TEST_CACHE", Path.home() / ".cache" / "lmgen" / "test-venvs"))
        / "mcp-adapters"
    )
    python = venv / "bin" / "python"
    if not python.exists() or subprocess.run([python, "-c", "import langchain_mcp_adapters"]).returncode:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", "langchain-mcp-adapters>=0.3,<0.4", "langchain>=1.0,<2"],
            check=True,
            timeout=900,
        )
    return python


def test_langchain_mcp_adapters_load_the_tools_into_an_agent(mcp_env: dict[str, str]) -> None:
    python = _adapters_venv()
    client = Path(__file__).with_name("mcp_adapters_client.py")
    done = subprocess.run(
        [python, client, *LMGEN], capture_output=True, text=True, env=mcp_env, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["tools"] == sorted({t.name for t in TOOLS} | {"ask"})
    assert '"is_next"' in seen["next_sentence"]
    assert seen["agent_tool"] == "fill_mask" and seen["agent_status"] == "success"
    assert "every morning" in seen["agent_result"]
