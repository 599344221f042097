"""The public CLI contract, run as a user runs it (a fresh process each time, the real expert GGUF)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

ASK_KEYS = {"route", "model", "answer", "tool_calls", "sources", "images", "latency_ms"}


def ok_json(*args: str, env: dict[str, str] | None = None) -> dict:
    out = run_cli(*args, env=env)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return json.loads(out.stdout)  # exactly one JSON document on stdout


def assert_one_line_error(out, needle: str) -> None:  # type: ignore[no-untyped-def]
    assert out.returncode != 0
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], out.stderr


def test_route_json_contract() -> None:
    data = ok_json("route", "What is the capital of France?", "--json")
    assert {"route", "intent", "score", "latency_ms"} <= set(data)
    assert data["route"] == "expert" and data["intent"] == "chat" and 0.5 <= data["score"] <= 1


def test_route_complex_korean() -> None:
    data = ok_json("route", "VAE와 GAN의 차이를 자세히 설명하고 코드로 구현해줘", "--json")
    assert data["route"] == "generalist" and data["p_generalist"] >= data["threshold"]


def test_route_by_generalist_share() -> None:
    text = "Why is diffusion slow, in short?"
    none = ok_json("route", text, "--generalist-share", "0", "--json")
    every = ok_json("route", text, "--generalist-share", "1", "--json")
    assert (none["route"], every["route"]) == ("expert", "generalist")
    assert none["threshold"] > every["threshold"]
    assert_one_line_error(run_cli("route", text, "--generalist-share", "1.5", "--json"), "share")


def test_router_eval_json_contract() -> None:
    data = ok_json("router", "eval", "--json")
    keys = {"accuracy", "intent_accuracy", "per_intent", "confusion", "generalist_share", "threshold"}
    assert keys | {"latency_ms"} <= set(data) and data["n"] >= 200 and data["accuracy"] >= 0.9


@pytest.mark.llm
def test_stats_record_each_turn_and_graph_prints_mermaid(home: Path) -> None:
    ok_json("ask", "hello!", "--json")
    data = ok_json("stats", "--json")
    assert data["turns"] == 1 and data["routes"]["expert"]["share"] == 1.0
    assert data["models"] and data["intents"] == {"chat": 1}
    out = run_cli("graph")
    assert out.returncode == 0 and out.stdout.startswith("---") and "route_request" in out.stdout
    assert "plan_step" in out.stdout and "summarize_history" in out.stdout


@pytest.mark.llm
def test_ask_shows_steps_on_stderr(home: Path) -> None:
    out = run_cli("ask", 'Does "It rained." come before "The streets were wet."?')
    assert out.returncode == 0, out.stderr
    assert "· route expert / nsp" in out.stderr and "· tool next_sentence(" in out.stderr
    assert "P(IsNext)" in out.stdout


@pytest.mark.llm
def test_ask_paris(home: Path) -> None:
    data = ok_json("ask", "What is the capital of France? Answer in one word.", "--json")
    assert set(data) >= ASK_KEYS
    assert data["route"] == "expert" and "Paris" in data["answer"]
    assert data["model"].startswith("qwen2.5-coder-0.5b") and data["latency_ms"] > 0


@pytest.mark.llm
def test_ask_seoul(home: Path) -> None:
    data = ok_json("ask", "한국의 수도는 어디인가요?", "--json")
    assert "서울" in data["answer"]


@pytest.mark.llm
def test_thread_memory_across_processes(home: Path) -> None:
    first = ok_json(
        "ask", "My favourite colour is turquoise. Please remember it.", "--thread", "colours", "--json"
    )
    assert first["thread_id"] == "colours"
    second = ok_json(
        "ask", "What is my favourite colour? Answer in one word.", "--thread", "colours", "--json"
    )
    assert "turquoise" in second["answer"].lower()
    assert (home / "threads.sqlite").is_file()


@pytest.mark.llm
def test_ask_streams_plain_text(home: Path) -> None:
    out = run_cli("ask", "What is the capital of France? Answer in one word.")
    assert out.returncode == 0 and "Paris" in out.stdout
    assert "expert" in out.stderr  # route · model · time footer goes to stderr


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_question(home: Path, text: str) -> None:
    assert_one_line_error(run_cli("ask", text, "--json"), "empty question")


def test_huge_question(home: Path) -> None:
    assert_one_line_error(run_cli("ask", "x" * 20_000, "--json"), "limit")


def test_corrupt_expert_file(home: Path, expert_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "truncated.gguf"
    with expert_path.open("rb") as src:
        broken.write_bytes(src.read(50_000_000))
    out = run_cli("ask", "hello", "--json", env={"LMGEN_EXPERT_MODEL": str(broken)})
    assert_one_line_error(out, "expert model file cannot be loaded")
    assert str(broken) in out.stderr and "lmgen models pull expert" in out.stderr


def test_missing_expert_file(home: Path, tmp_path: Path) -> None:
    out = run_cli("ask", "hello", "--json", env={"LMGEN_EXPERT_MODEL": str(tmp_path / "gone.gguf")})
    assert_one_line_error(out, "expert model file not found")


def test_bad_route_option(home: Path) -> None:
    assert_one_line_error(run_cli("ask", "hello", "--route", "sideways", "--json"), "--route")


@pytest.mark.llm
def test_ask_answers_document_questions_with_sources(home: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    ok_json("rag", "ingest", str(docs / "en" / "bert.md"), str(docs / "ko" / "images.md"), "--json")
    # a short question on lmgen's own subjects: the expert, grounded in the docs (intent chat)
    data = ok_json("ask", "What is NSP?", "--json")
    assert set(data) >= ASK_KEYS and data["intent"] == "chat" and data["route"] == "expert"
    assert data["answer"] and any(s["source"].endswith("en/bert.md") for s in data["sources"])
    # a document question forced onto the expert is answered by the expert (the packaged generalist is
    # not provisioned by `make test`)
    korean = ok_json("ask", "문서에 따르면 VAE와 GAN의 차이는 뭐야?", "--route", "expert", "--json")
    assert korean["intent"] == "rag" and korean["route"] == "expert"
    assert korean["model"].startswith("qwen2.5-coder-0.5b")
    assert any(s["source"].endswith("ko/images.md") for s in korean["sources"])
    # greetings and one-line facts never get sources
    for text in ["What is the capital of Japan?", "hello, how are you?"]:
        plain = ok_json("ask", text, "--json")
        assert (plain["intent"], plain["route"], plain["sources"]) == ("chat", "expert", []), text
    assert "Tokyo" in ok_json("ask", "What is the capital of Japan? One word.", "--json")["answer"]
