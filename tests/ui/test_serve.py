"""``lmgen serve``: the OpenAI-compatible endpoint, driven by real OpenAI clients against a real process."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import free_port, start_server, stop_server

pytestmark = pytest.mark.llm


def start(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_server(
        ["serve", "--port", str(port)], f"http://127.0.0.1:{port}/v1/models", {**os.environ, **env}, log, 90
    )


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, expert_path: Path) -> Iterator[str]:
    home = tmp_path_factory.mktemp("serve-home")
    port = free_port()
    log = home / "serve.log"
    proc = start(
        port, {"LMGEN_HOME": str(home), "LMGEN_EXPERT_MODEL": str(expert_path), "LMGEN_MAX_TOKENS": "48"}, log
    )
    yield f"http://127.0.0.1:{port}/v1"
    stop_server(proc)
    assert "Traceback" not in log.read_text()  # models closed on the way out


def client(base_url: str, key: str = "none"):  # type: ignore[no-untyped-def]
    import openai

    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=300)


def test_models_lists_the_router_and_both_routes(base_url: str) -> None:
    ids = [m.id for m in client(base_url).models.list().data]
    assert ids == ["lmgen", "lmgen-expert", "lmgen-generalist"]


def test_binds_loopback_only(base_url: str) -> None:
    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    listening = [
        line.split()[1]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == port
    ]
    assert listening == [f"0100007F:{port:04X}"]  # 127.0.0.1, nothing on other interfaces


def test_answer_with_the_route_beside_it(base_url: str) -> None:
    raw = client(base_url).chat.completions.with_raw_response.create(
        model="lmgen",
        messages=[{"role": "user", "content": "What is the capital of France? Answer in one word."}],
    )
    reply = raw.parse()
    assert "Paris" in reply.choices[0].message.content
    extra = reply.model_extra["lmgen"]
    assert extra["route"] == "expert" and extra["intent"] == "chat" and extra["model"].startswith("qwen2.5")
    assert raw.headers["x-lmgen-route"] == "expert" and raw.headers["x-lmgen-intent"] == "chat"


def test_streaming_answer(base_url: str) -> None:
    stream = client(base_url).chat.completions.create(
        model="lmgen-expert",
        messages=[
            {"role": "user", "content": "My name is Minji."},
            {"role": "assistant", "content": "Nice to meet you, Minji."},
            {"role": "user", "content": "What is my name? One word."},
        ],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Minji" in text  # the history travelled with the request
    assert (
        chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["lmgen"]["route"] == "expert"
    )


def test_langchain_chat_openai(base_url: str) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=base_url, api_key="none", model="lmgen", max_retries=0)  # type: ignore[arg-type]
    assert "서울" in chat.invoke("한국의 수도는 어디인가요?").text


def test_eight_concurrent_clients_each_get_their_own_answer(base_url: str) -> None:
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight"]

    def ask(word: str) -> dict:
        reply = client(base_url).chat.completions.create(
            model="lmgen",
            messages=[{"role": "user", "content": f'What is the perplexity of "the king is number {word}"?'}],
        )
        return reply.model_extra["lmgen"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, words))
    for word, result in zip(words, results, strict=True):
        assert result["intent"] == "ppl" and result["tool_calls"], result
        assert result["tool_calls"][0]["args"]["text"] == f"the king is number {word}"


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_oversized_and_invalid_requests_are_refused_with_json_errors(base_url: str) -> None:
    url = f"{base_url}/chat/completions"
    huge = json.dumps({"model": "lmgen", "messages": [{"role": "user", "content": "x" * 300_000}]}).encode()
    status, body = _post(url, huge)
    assert status == 413 and "limit" in body["error"]["message"]
    long_question = json.dumps({"model": "lmgen", "messages": [{"role": "user", "content": "y" * 20_000}]})
    status, body = _post(url, long_question.encode())
    assert status == 400 and "limit" in body["error"]["message"]
    status, body = _post(url, b'{"model": "lmgen", "messages": []}')
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body = _post(
        url, json.dumps({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}).encode()
    )
    assert status == 400 and "unknown model" in body["error"]["message"]


def test_api_key_is_required_when_set(tmp_path: Path, expert_path: Path) -> None:
    port = free_port()
    proc = start(
        port,
        {"LMGEN_HOME": str(tmp_path), "LMGEN_EXPERT_MODEL": str(expert_path), "LMGEN_API_KEY": "s3cret"},
        tmp_path / "serve.log",
    )
    try:
        base = f"http://127.0.0.1:{port}/v1"
        import openai

        with pytest.raises(openai.AuthenticationError):
            client(base, "wrong").models.list()
        assert len(client(base, "s3cret").models.list().data) == 3
    finally:
        stop_server(proc)
