"""``lmgen rag …`` as a user runs it: the JSON contract, a real ``chroma run`` server, a killed ingest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LMGEN, free_port, run_cli
from tests.rag_data import write_corpus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"LMGEN_HOME": str(tmp_path / "home"), "LMGEN_CHROMA_URL": ""}


def _json(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_ingest_search_remove_list_contract(tmp_path: Path, env: dict[str, str]) -> None:
    corpus = write_corpus(tmp_path / "docs")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 nope")
    report = _json(run_cli("rag", "ingest", str(corpus), "--json", env=env))
    assert isinstance(report, dict)
    assert report["added"] > 0 and report["skipped"] == 0
    assert [Path(f["source"]).name for f in report["failed"]] == ["broken.pdf"]

    again = _json(run_cli("rag", "ingest", str(corpus), "--json", env=env))
    assert isinstance(again, dict) and again["added"] == 0 and again["skipped"] == report["added"]

    # some files in and some skipped: exit 0; nothing at all: a one-line error and a non-zero exit
    nothing = run_cli("rag", "ingest", str(tmp_path / "no-such-folder"), "--json", env=env)
    assert nothing.returncode == 2
    assert nothing.stderr.strip().startswith("error: nothing was ingested:")
    assert json.loads(nothing.stdout)["failed"][0]["error"] == "no such file or folder"

    hits = _json(run_cli("rag", "search", "김치 보관", "--k", "2", "--json", env=env))
    assert isinstance(hits, list) and len(hits) == 2
    assert {"text", "source", "score"} <= set(hits[0]) and hits[0]["source"].endswith("kimchi.md")
    dense = _json(run_cli("rag", "search", "heron nests", "--mode", "dense", "--json", env=env))
    assert isinstance(dense, list) and 0 < dense[0]["score"] <= 1

    listed = _json(run_cli("rag", "list", "--json", env=env))
    assert isinstance(listed, dict) and len(listed["sources"]) == 6

    gone = _json(run_cli("rag", "remove", str(corpus / "kimchi.md"), "--json", env=env))
    assert isinstance(gone, dict) and gone["removed"] > 0
    hits = _json(run_cli("rag", "search", "김치 보관", "--json", env=env))
    assert isinstance(hits, list) and not any(h["source"].endswith("kimchi.md") for h in hits)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["rag", "search", "   "], "empty query"),
        (["rag", "search", "heron", "--k", "0"], "k must be"),
        (["rag", "search", "heron", "--mode", "fuzzy"], "unknown retrieval mode"),
        (["rag", "eval", "/nonexistent/qa.jsonl"], "not found"),
    ],
)
def test_bad_input_is_one_line(env: dict[str, str], args: list[str], needle: str) -> None:
    proc = run_cli(*args, env=env)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr


def test_dead_chroma_server_is_a_clear_error(env: dict[str, str]) -> None:
    proc = run_cli(
        "rag", "search", "heron", env={**env, "LMGEN_CHROMA_URL": f"http://127.0.0.1:{free_port()}"}
    )
    assert proc.returncode == 5 and "no Chroma server" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``chroma run`` on 127.0.0.1 (offline; telemetry off)."""
    exe = Path(sys.executable).with_name("chroma")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma run did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_server_mode_against_chroma_run(tmp_path: Path, env: dict[str, str], chroma_server: str) -> None:
    corpus = write_corpus(tmp_path / "docs")
    server_env = {**env, "LMGEN_CHROMA_URL": chroma_server}
    report = _json(run_cli("rag", "ingest", str(corpus), "--json", env=server_env))
    assert isinstance(report, dict) and report["added"] > 0 and report["failed"] == []
    hits = _json(run_cli("rag", "search", "Where do grey herons nest?", "--json", env=server_env))
    assert isinstance(hits, list) and hits[0]["source"].endswith("herons.md")
    hits = _json(run_cli("rag", "search", "배추 양념", "--mode", "bm25", "--json", env=server_env))
    assert isinstance(hits, list) and hits[0]["source"].endswith("kimchi.md")
    # everything went to the server: no embedded store was created
    assert not (Path(env["LMGEN_HOME"]) / "chroma").exists()
    again = _json(run_cli("rag", "ingest", str(corpus), "--json", env=server_env))
    assert isinstance(again, dict) and again["added"] == 0


def _many_files(root: Path, n: int = 40) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        paragraphs = [
            f"Document {i} is about topic number {i}. It explains item {i} in some detail for the test.",
            f"A second paragraph of document {i} adds more words so that each file has two chunks of text "
            f"to embed, which keeps the ingestion busy long enough to interrupt it. " * 4,
        ]
        (root / f"doc{i:02d}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    return root


def test_killed_ingest_leaves_a_consistent_store(tmp_path: Path, env: dict[str, str]) -> None:
    folder = _many_files(tmp_path / "many")
    proc = subprocess.Popen(
        [*LMGEN, "-v", "rag", "ingest", str(folder), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.stderr is not None
    done = 0
    for line in proc.stderr:
        done += "ingested" in line
        if done >= 3:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    finish = _json(run_cli("rag", "ingest", str(folder), "--json", env=env))
    assert isinstance(finish, dict) and finish["added"] > 0 and finish["failed"] == []
    noop = _json(run_cli("rag", "ingest", str(folder), "--json", env=env))
    assert isinstance(noop, dict) and noop["added"] == 0 and noop["removed"] == 0

    # same chunks as an uninterrupted ingest into a fresh store, each file complete, no duplicates
    fresh_env = {**env, "LMGEN_HOME": str(tmp_path / "fresh")}
    fresh = _json(run_cli("rag", "ingest", str(folder), "--json", env=fresh_env))
    listed = _json(run_cli("rag", "list", "--json", env=env))
    expected = _json(run_cli("rag", "list", "--json", env=fresh_env))
    assert isinstance(fresh, dict) and isinstance(listed, dict) and isinstance(expected, dict)
    assert listed["chunks"] == fresh["added"] == noop["skipped"]
    assert len(listed["sources"]) == 40 and listed["sources"] == expected["sources"]


def test_eval_reports_every_mode(tmp_path: Path, env: dict[str, str]) -> None:
    corpus = write_corpus(tmp_path / "docs")
    _json(run_cli("rag", "ingest", str(corpus), "--json", env=env))
    qa = tmp_path / "qa.jsonl"
    rows = [
        {"question": "Where do grey herons nest?", "source": str(corpus / "herons.md"), "heading": "Nesting"},
        {"question": "김치는 어떻게 담그나요?", "source": str(corpus / "kimchi.md"), "heading": "담그는 법"},
        {"question": "When does the library open?", "source": "docs/library.html"},
        {"question": "What is the airspeed of a swallow?", "source": None},
    ]
    qa.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = _json(run_cli("rag", "eval", str(qa), "--json", env=env))
    assert isinstance(result, dict)
    retrieval = result["retrieval"]
    assert retrieval["questions"] == 3 and retrieval["missing_in_store"] == []
    for mode in ("dense", "bm25", "hybrid"):
        metrics = retrieval["modes"][mode]
        assert 0 <= metrics["ndcg@10"] <= 1 and metrics["recall@10"] == 1.0
    assert retrieval["modes"]["hybrid"]["mrr"] == 1.0


@pytest.mark.llm
def test_eval_answers_reports_citations_and_declines(tmp_path: Path, home: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    _json(run_cli("rag", "ingest", str(corpus), "--json"))
    qa = tmp_path / "qa.jsonl"
    rows = [
        {"question": "How does the grey heron catch fish?", "source": str(corpus / "herons.md")},
        {"question": "When does the city library open?", "source": str(corpus / "library.html")},
        {"question": "What is the airspeed of a swallow?", "source": None},
    ]
    qa.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    result = _json(run_cli("rag", "eval", str(qa), "--answers", "3", "--answer-model", "expert", "--json"))
    assert isinstance(result, dict)
    answers = result["answers"]
    assert answers["questions"] == 3 and answers["decline_rate_unanswerable"] == 1.0
    assert answers["answered"] >= 1 and 0 <= answers["citation_accuracy"] <= 1
    assert answers["faithfulness"] is not None
