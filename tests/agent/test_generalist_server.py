"""The generalist path through a real OpenAI-compatible server (llama_cpp.server), and its fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, run_cli

pytestmark = pytest.mark.llm


@pytest.fixture
def server(expert_path: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``python -m llama_cpp.server`` on a free 127.0.0.1 port, serving a packaged GGUF."""
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(expert_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "1",
            "--model_alias",
            "served-expert",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"llama_cpp.server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield proc, base
    stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # the server may need a second signal
            proc.kill()
            proc.wait()


def ask_generalist(base: str, question: str) -> dict:
    out = run_cli(
        "ask",
        question,
        "--route",
        "generalist",
        "--json",
        env={
            "LMGEN_GENERALIST": base,
            "LMGEN_GENERALIST_MODEL_NAME": "served-expert",
            "LMGEN_MAX_TOKENS": "48",
            # greedy: the server draws a fresh seed per request, so sampled plans differ run to run
            "LMGEN_TEMPERATURE": "0",
        },
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_generalist_answers_then_falls_back_when_server_dies(
    server: tuple[subprocess.Popen[bytes], str], home: Path
) -> None:
    proc, base = server
    live = ask_generalist(base, "What is the capital of France? Answer in one word.")
    assert live["route"] == "generalist" and live["model"] == "served-expert"
    assert "Paris" in live["answer"] and not live["notice"]

    stop(proc)
    dead = ask_generalist(base, "What is the capital of France? Answer in one word.")
    assert dead["route"] == "generalist" and dead["model"].startswith("qwen2.5-coder-0.5b")
    assert "unavailable" in dead["notice"] and base in dead["notice"]
    assert dead["answer"].startswith("[The generalist") and "Paris" in dead["answer"]


MULTI_STEP = (
    "Fill the mask in 'I [MASK] coffee.' and in 'I [MASK] tea.' "
    "and tell me which completion BERT is surer of."
)


def _check_multi_step(data: dict) -> None:
    names = [c["name"] for c in data["tool_calls"]]
    assert names.count("fill_mask") >= 2, data["tool_calls"]
    texts = {c["args"]["text"] for c in data["tool_calls"]}
    assert {"I [MASK] coffee.", "I [MASK] tea."} <= texts
    assert all(isinstance(c["result"], list) for c in data["tool_calls"])  # both really ran
    assert data["answer"] and "tool:fill_mask" in data["model"]


def test_multi_step_request_calls_tools_through_an_openai_compatible_server(
    server: tuple[subprocess.Popen[bytes], str], home: Path
) -> None:
    """The generalist's tool loop over a real OpenAI-compatible server: native (forced) tool calls."""
    _, base = server
    data = ask_generalist(base, MULTI_STEP)
    assert data["route"] == "generalist" and data["model"].startswith("served-expert")
    _check_multi_step(data)


@pytest.mark.slow
def test_multi_step_request_with_the_local_generalist(home: Path, shared_store) -> None:  # type: ignore[no-untyped-def]
    shared_store.pull("generalist", progress=False)
    out = run_cli(
        "ask",
        MULTI_STEP,
        "--route",
        "generalist",
        "--json",
        env={"LMGEN_GENERALIST_MODEL": str(shared_store.resolve("generalist")), "LMGEN_MAX_TOKENS": "96"},
        timeout=900,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["model"].startswith("qwen2.5-coder-1.5b") and not data["notice"]
    _check_multi_step(data)
