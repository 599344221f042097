"""What lmgen's outside interfaces cost: MCP and the OpenAI-compatible endpoint vs in-process calls.

Per call, the same work three ways, alternated so machine noise hits all alike:

* a tool: ``score_perplexity`` on a short sentence — called in-process (the LangChain tool's own
  function), through ``lmgen mcp`` over stdio, and over streamable HTTP (the SDK's client);
* a turn of the graph that needs no LLM (a document question the knowledge base cannot answer: e5
  embedding, hybrid search, the gate, a decline) — in-process ``ask`` vs ``POST /v1/chat/completions``
  on ``lmgen serve``.

Overhead = median(interface) − median(in-process). Then 8 concurrent clients on each server against
the same number of calls made one after another (requests are queued on one lock, so the ratio
shows queueing costs nothing extra, not parallel speed-up).

    python benchmarks/interfaces.py [--calls 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LMGEN = str(Path(sys.executable).with_name("lmgen"))
TEXT = "to be or not to be, that is the question"
QUESTION = "According to my documents, what was the price of bananas in Lima in 1987?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {url}") from None
            time.sleep(0.3)


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def post_chat(port: int) -> float:
    body = json.dumps({"model": "lmgen", "messages": [{"role": "user", "content": QUESTION}]}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as r:
        answer = json.loads(r.read())
    assert answer["lmgen"]["intent"] == "rag", answer
    return time.perf_counter() - start


async def mcp_calls(calls: int, port: int) -> dict[str, Any]:
    import httpx2
    from mcp import Client, StdioServerParameters
    from mcp.client.streamable_http import streamable_http_client

    from lmgen.tools import score_perplexity

    score_perplexity.func(text=TEXT)  # warm: the default n-gram model is built on first use
    inproc, stdio, http = [], [], []
    params = StdioServerParameters(command=LMGEN, args=["mcp"], env=dict(os.environ))
    url = f"http://127.0.0.1:{port}/mcp"
    async with (
        Client(params, read_timeout_seconds=300) as over_stdio,
        httpx2.AsyncClient(timeout=300) as client,
        Client(streamable_http_client(url, http_client=client)) as over_http,
    ):
        for c in (over_stdio, over_http):
            await c.call_tool("score_perplexity", {"text": TEXT})
        for _ in range(calls):
            start = time.perf_counter()
            score_perplexity.func(text=TEXT)
            inproc.append(time.perf_counter() - start)
            start = time.perf_counter()
            r = await over_stdio.call_tool("score_perplexity", {"text": TEXT})
            stdio.append(time.perf_counter() - start)
            start = time.perf_counter()
            r = await over_http.call_tool("score_perplexity", {"text": TEXT})
            http.append(time.perf_counter() - start)
            assert not r.is_error

    # 8 concurrent HTTP clients, each its own session, vs the same calls one after another
    async def one_client(n: int) -> None:
        async with (
            httpx2.AsyncClient(timeout=300) as hc,
            Client(streamable_http_client(url, http_client=hc)) as c,
        ):
            for _ in range(n):
                await c.call_tool("score_perplexity", {"text": TEXT})

    per = max(1, calls // 4)
    start = time.perf_counter()
    await one_client(8 * per)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    await asyncio.gather(*(one_client(per) for _ in range(8)))
    concurrent = time.perf_counter() - start
    return {
        "in_process_ms": ms(inproc),
        "stdio_ms": ms(stdio),
        "http_ms": ms(http),
        "calls_per_s_sequential": 8 * per / sequential,
        "calls_per_s_8_clients": 8 * per / concurrent,
    }


def chat_calls(calls: int, port: int) -> dict[str, Any]:
    from lmgen import Context, ask

    ctx = Context()
    ask(QUESTION, context=ctx)  # warm e5, the store, the router
    post_chat(port)
    inproc, http = [], []
    for _ in range(calls):
        start = time.perf_counter()
        answer = ask(QUESTION, context=ctx)
        inproc.append(time.perf_counter() - start)
        assert answer.intent == "rag"
        http.append(post_chat(port))
    n = max(8, calls // 2)
    start = time.perf_counter()
    for _ in range(n):
        post_chat(port)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: post_chat(port), range(n)))
    concurrent = time.perf_counter() - start
    return {
        "in_process_ms": ms(inproc),
        "http_ms": ms(http),
        "requests_per_s_sequential": n / sequential,
        "requests_per_s_8_clients": n / concurrent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lmgen-interfaces-"))
    os.environ["LMGEN_HOME"] = str(home)
    subprocess.run(
        [LMGEN, "rag", "ingest", str(REPO / "docs" / "en"), "--json"], check=True, capture_output=True
    )
    mcp_port, api_port = free_port(), free_port()
    servers = [
        subprocess.Popen(
            [LMGEN, "mcp", "--transport", "streamable-http", "--port", str(mcp_port)],
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen([LMGEN, "serve", "--port", str(api_port)], stdout=subprocess.DEVNULL),
    ]
    try:
        wait_http(f"http://127.0.0.1:{mcp_port}/mcp", servers[0])
        wait_http(f"http://127.0.0.1:{api_port}/v1/models", servers[1])
        tool = asyncio.run(mcp_calls(args.calls, mcp_port))
        chat = chat_calls(args.calls, api_port)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=30)
    report = {"mcp_tool": tool, "chat_completions": chat, "calls": args.calls}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"score_perplexity tool, median of {args.calls} calls:")
    print(f"  in-process            {tool['in_process_ms']:8.2f} ms")
    for name in ("stdio", "http"):
        extra = tool[f"{name}_ms"] - tool["in_process_ms"]
        print(f"  MCP {name:5}             {tool[f'{name}_ms']:8.2f} ms   overhead {extra:+.2f} ms per call")
    print(
        f"  8 concurrent MCP HTTP clients: {tool['calls_per_s_8_clients']:.1f} calls/s vs "
        f"{tool['calls_per_s_sequential']:.1f} one after another "
        f"(ratio {tool['calls_per_s_8_clients'] / tool['calls_per_s_sequential']:.2f})"
    )
    print(f"graph turn without an LLM (a declined document question), median of {args.calls}:")
    print(f"  in-process ask        {chat['in_process_ms']:8.2f} ms")
    extra = chat["http_ms"] - chat["in_process_ms"]
    print(f"  /v1/chat/completions  {chat['http_ms']:8.2f} ms   overhead {extra:+.2f} ms per call")
    print(
        f"  8 concurrent HTTP clients: {chat['requests_per_s_8_clients']:.2f} req/s vs "
        f"{chat['requests_per_s_sequential']:.2f} one after another "
        f"(ratio {chat['requests_per_s_8_clients'] / chat['requests_per_s_sequential']:.2f})"
    )


if __name__ == "__main__":
    main()
