"""What the app costs: page load, and time to the first streamed token through the UI against the
same question through ``stream_ask`` (what ``lmgen ask`` runs, minus process start-up), in one run.

The UI side is a real ``lmgen ui`` process driven by ``gradio_client`` (the queue, the websocket/SSE
stream, the chat handler); the page load is a headless Chromium (Debian's) until the chat box shows.
Runs alternate so machine noise hits both alike; the expert is forced so both sides run the same model.

    python benchmarks/ui.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
LMGEN = str(Path(sys.executable).with_name("lmgen"))
QUESTIONS = [
    "Explain in two sentences what perplexity measures.",
    "What does a VAE's encoder output?",
    "Name three uses of BERT.",
    "What is a language model?",
    "What is overfitting in machine learning?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ttft_inprocess(question: str) -> float:
    from lmgen import Context, stream_ask

    start = time.perf_counter()
    first = None
    for item in stream_ask(question, context=Context(force_route="expert", rag=False)):
        if isinstance(item, str) and item.strip() and first is None:
            first = time.perf_counter() - start
    assert first is not None
    return first


def ttft_ui(client: object, question: str) -> float:
    start = time.perf_counter()
    job = client.submit(question, "expert", api_name="/chat")  # type: ignore[attr-defined]
    for update in job:
        messages = update if isinstance(update, list) else [update]
        last = messages[-1] if messages else None
        content = last.get("content") if isinstance(last, dict) else last
        if isinstance(content, str) and content.strip() and content.strip() != "…":
            first = time.perf_counter() - start
            for _ in job:  # let it finish before the next question
                pass
            return first
    raise AssertionError("no streamed token through the UI")


def page_load(url: str) -> float | None:
    chromium = shutil.which("chromium")
    if not chromium:
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(url, wait_until="load")
        page.get_by_role("textbox").first.wait_for(timeout=60_000)
        seconds = time.perf_counter() - start
        browser.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from lmgen.stores.models import ModelStore

    os.environ.setdefault("LMGEN_EXPERT_MODEL", str(ModelStore().resolve("expert")))  # the shared file
    os.environ["LMGEN_HOME"] = tempfile.mkdtemp(prefix="lmgen-ui-bench-")  # threads, traces: throwaway
    os.environ.setdefault("LMGEN_MAX_TOKENS", "32")
    os.environ["LMGEN_RAG"] = "0"
    port = free_port()
    proc = subprocess.Popen(
        [LMGEN, "ui", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the UI did not start") from None
                time.sleep(0.5)
        from gradio_client import Client

        client = Client(url, verbose=False)
        ttft_ui(client, "hello")  # warm both sides: models loaded, caches filled
        ttft_inprocess("hello")
        loads = [page_load(url) for _ in range(3)]
        ui, direct = [], []
        for i in range(args.runs):
            question = QUESTIONS[i % len(QUESTIONS)]
            direct.append(ttft_inprocess(question))
            ui.append(ttft_ui(client, question))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if loads[0] is not None:
        print(f"page load (until the chat box shows): median {statistics.median(loads):.2f} s over 3")
    d, u = statistics.median(direct), statistics.median(ui)
    print(f"time to first token, median of {args.runs} (expert forced):")
    print(f"  stream_ask in-process  {d:.3f} s")
    print(f"  through the UI         {u:.3f} s   ratio {u / d:.2f} (target <= 1.1)")


if __name__ == "__main__":
    main()
