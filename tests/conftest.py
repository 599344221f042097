"""Shared fixtures: the real packaged models, a private LMGEN_HOME per test, free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# Tests never reach a model hub: the packaged sources are the ones under test.
os.environ["LMGEN_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lmgen.stores.models import ModelStore

# The installed console script, as a user runs it.
_SCRIPT = Path(sys.executable).with_name("lmgen")
LMGEN = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "lmgen.ui.cli"]


@pytest.fixture(scope="session")
def shared_store() -> ModelStore:
    """The real model store under the user's LMGEN_HOME (models are pulled once, then reused)."""
    return ModelStore()


def _packaged(store: ModelStore, role: str) -> Path:
    store.pull(role, progress=False)  # no-op when present and verified
    return store.resolve(role)


@pytest.fixture(scope="session")
def expert_path(shared_store: ModelStore) -> Path:
    return _packaged(shared_store, "expert")


@pytest.fixture(scope="session")
def base_path(shared_store: ModelStore) -> Path:
    return _packaged(shared_store, "base")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expert_path: Path) -> Path:
    """A private LMGEN_HOME (threads, manifests) that still uses the shared expert file."""
    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LMGEN_EXPERT_MODEL", str(expert_path))
    return tmp_path / "home"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    args: list[str], url: str, env: dict[str, str], log: Path, timeout: float = 120
) -> subprocess.Popen[bytes]:
    """Start ``lmgen ARGS`` (output to ``log``) and wait until ``url`` answers; any HTTP status means up."""
    import time
    import urllib.error
    import urllib.request

    proc = subprocess.Popen([*LMGEN, *args], stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc
        except urllib.error.HTTPError:
            return proc  # up (asking for a key, or refusing a bare GET)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"lmgen {args[0]} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``lmgen`` in a fresh process, as a user would."""
    return subprocess.run(
        [*LMGEN, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT pre-trained for a few steps on a handful of sentences (random-ish, fast)."""
    from lmgen.models.mlm.pretrain import pretrain
    from lmgen.models.mlm.tokenizer import to_transformers, train_wordpiece
    from tests.mlm_data import DOCS, TINY

    out = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = to_transformers(train_wordpiece([s for d in DOCS for s in d] * 3, vocab_size=300), 32)
    pretrain(DOCS, out, TINY, tokenizer=tokenizer, progress=False)
    return out


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close every GGUF the tests loaded, so llama-cpp-python's __del__ does not run at exit."""
    if "lmgen.agent.models" in sys.modules:
        sys.modules["lmgen.agent.models"].close_models()
