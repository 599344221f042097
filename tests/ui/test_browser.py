"""The Gradio chat UI in a real headless Chromium: type a question, see the streamed reply and its footer."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LMGEN, free_port

pytestmark = [pytest.mark.browser, pytest.mark.llm]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def ui_url(home: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "ui.log"
    proc = subprocess.Popen(
        [*LMGEN, "ui", "--port", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"UI did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
    text = log.read_text()
    assert f"http://127.0.0.1:{port}" in text and "llama.cpp:" in text  # URL and backend printed at start-up
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)"
)
def test_chat_in_the_browser(ui_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(ui_url, wait_until="load")  # networkidle never fires on a Gradio page
        box = page.get_by_role("textbox").first
        box.fill("What is the capital of France? Answer in one word.")
        box.press("Enter")
        bot = page.locator('[data-testid="bot"]')
        expect(bot.filter(has_text="Paris").first).to_be_visible(timeout=120_000)
        # the router's decision is a collapsible step above the reply
        expect(page.get_by_text("Router: expert · chat")).to_be_visible(timeout=60_000)
        # the footer under the reply: route · model · seconds
        expect(page.get_by_text("expert · qwen2.5-coder-0.5b")).to_be_visible(timeout=60_000)
        # a drawing request runs the diffusion model and the picture appears inline
        box.fill("Draw a 7 with the diffusion model in 10 steps")
        box.press("Enter")
        expect(page.locator('[data-testid="bot"] img').first).to_be_visible(timeout=120_000)
        expect(page.get_by_text("tool:generate_images")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(tmp_path / "chat.png"))
        browser.close()


def test_busy_port_is_a_one_line_error(home: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [*LMGEN, "ui", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ),
            check=False,
        )
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port}")
