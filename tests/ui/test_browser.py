"""The Gradio chat UI in a real headless Chromium: type a question, see the streamed reply and its footer."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LMGEN, free_port, start_server, stop_server

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
def ui_url(home: Path, tmp_path: Path, base_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "ui.log"
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "LMGEN_BASE_MODEL": str(base_path)}
    proc = start_server(["ui", "--port", str(port)], url, env, log, 90)
    text = log.read_text()
    assert f"http://127.0.0.1:{port}" in text and "llama.cpp:" in text  # URL and backend printed at start-up
    yield url
    stop_server(proc)


ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)"
)


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _outside_requests(page: object, seen: list[str]) -> None:
    def record(request: object) -> None:
        url = request.url  # type: ignore[attr-defined]
        if url.startswith(("http://", "https://", "ws://", "wss://")) and "127.0.0.1" not in url:
            seen.append(url)

    page.on("request", record)  # type: ignore[attr-defined]


@needs_chromium
def test_chat_in_the_browser(ui_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        outside: list[str] = []
        _outside_requests(page, outside)
        page.goto(ui_url, wait_until="load")  # networkidle never fires on a Gradio page
        box = page.get_by_role("textbox").first
        box.fill("What is the capital of France? Answer in one word.")
        box.press("Enter")
        bot = page.locator('[data-testid="bot"]')
        expect(bot.filter(has_text="Paris").first).to_be_visible(timeout=120_000)
        # the router's decision is a collapsible step above the reply
        expect(page.get_by_text("Router: expert · chat")).to_be_visible(timeout=60_000)
        # the badge under the reply: route · intent · model · seconds · tokens/s
        expect(page.get_by_text("expert · chat · qwen2.5-coder-0.5b")).to_be_visible(timeout=60_000)
        _shot(page, "chat-answer")
        # a drawing request runs the diffusion model and the picture appears inline
        box.fill("Draw a 7 with the diffusion model in 10 steps")
        box.press("Enter")
        expect(page.locator('[data-testid="bot"] img').first).to_be_visible(timeout=120_000)
        expect(page.get_by_text("Tool: generate_images").first).to_be_visible(timeout=60_000)
        _shot(page, "chat-image")
        # a new thread starts empty; switching back brings the first conversation again
        page.get_by_role("button", name="New chat").click()
        expect(bot.filter(has_text="Paris")).to_have_count(0, timeout=30_000)
        page.get_by_text("What is the capital of France?").first.click()
        expect(bot.filter(has_text="Paris").first).to_be_visible(timeout=30_000)
        _shot(page, "chat-threads")
        assert outside == [], outside  # no CDN fonts, no analytics: nothing leaves this machine
        browser.close()


@needs_chromium
def test_playground_tabs_in_the_browser(ui_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(ui_url, wait_until="load")

        page.get_by_role("tab", name="N-gram").click()
        page.locator("#ngram-score").click()
        expect(page.locator("#ngram-heatmap .lm-tok").first).to_be_visible(timeout=180_000)
        expect(page.locator("#ngram-summary")).to_contain_text("perplexity", timeout=60_000)
        expect(page.locator("#ngram-infinite")).to_contain_text("mle", timeout=60_000)  # MLE → ∞
        _shot(page, "ngram")

        page.get_by_role("tab", name="BERT").click()
        page.locator("#mask-fill").click()
        expect(page.get_by_text("saw only:")).to_be_visible(timeout=180_000)
        _shot(page, "bert")

        page.get_by_role("tab", name="Generators").click()
        page.locator("#gen-sample").click()
        for kind in ("ae", "vae", "gan", "ddpm"):
            expect(page.locator(f"#grid-{kind} img")).to_be_visible(timeout=180_000)
        _shot(page, "generators")

        page.get_by_role("tab", name="Router").click()
        decision = page.locator("#router-decision")
        share = page.locator("#router-share input[type=number]")
        for value, route in (("0", "expert"), ("1", "generalist")):  # nothing / everything to the generalist
            share.fill(value)
            share.press("Enter")
            expect(decision).to_contain_text(f"{route} · intent", timeout=60_000)
        _shot(page, "router")

        # Documents: refused uploads, a real one, a grounded answer citing it, then removal
        page.get_by_role("tab", name="Documents").click()
        upload = page.locator("#doc-upload input[type=file]")
        upload.set_input_files(
            [
                {"name": "notes.exe", "mimeType": "application/octet-stream", "buffer": b"MZ" * 10},
                {"name": "..%2F..%2Fetc%2Fpasswd", "mimeType": "text/plain", "buffer": b"root:x:0:0"},
            ]
        )
        expect(page.get_by_text("type not accepted").first).to_be_visible(timeout=60_000)
        note = tmp_path / "lighthouse.md"
        note.write_text(
            "# Lighthouse log\n\nThe keeper of the Saebyeol lighthouse has a grey cat called Mokpo. "
            "The lamp is lit every evening at seven.\n",
            encoding="utf-8",
        )
        upload.set_input_files(str(note))
        expect(page.locator("#doc-sources")).to_contain_text("lighthouse.md", timeout=120_000)
        _shot(page, "documents")

        page.get_by_role("tab", name="Chat").click()
        expert = page.get_by_role("radio", name="expert")
        if not expert.is_visible():
            page.get_by_role("button", name="Route").first.click()  # open the route selector's accordion
        expert.check()
        box = page.get_by_role("textbox").first
        box.fill("According to my documents, what is the lighthouse keeper's cat called?")
        box.press("Enter")
        expect(page.get_by_text("Source [1] lighthouse.md").first).to_be_visible(timeout=180_000)
        expect(page.locator('[data-testid="bot"]').filter(has_text="Mokpo").first).to_be_visible()
        _shot(page, "chat-citation")

        page.get_by_role("tab", name="Documents").click()
        page.get_by_role("button", name="Refresh the list").click()
        page.locator("#doc-choice input").click()
        page.get_by_role("option", name=re.compile("lighthouse.md")).click()
        page.locator("#doc-remove").click()
        expect(page.locator("#doc-sources")).not_to_contain_text("lighthouse.md", timeout=60_000)

        # Compression: the shipped report's table and plots, then one family
        page.get_by_role("tab", name="Compression").click()
        expect(page.locator("#compress-table")).to_contain_text("int8 dynamic", timeout=60_000)
        expect(page.locator("#compress-origin")).to_contain_text("shipped")
        expect(page.locator("#compress-plots img").first).to_be_visible(timeout=60_000)
        page.locator("#compress-family").get_by_label("gguf").check()
        expect(page.locator("#compress-table")).to_contain_text("Q2_K", timeout=60_000)
        expect(page.locator("#compress-table")).not_to_contain_text("int8 dynamic")
        _shot(page, "compression")

        page.get_by_role("tab", name="Settings").click()
        page.locator("#settings-apply").click()
        expect(page.locator("#settings-table")).to_contain_text("generalist_share", timeout=30_000)
        expect(page.locator("#settings-table")).to_contain_text("0.35")
        _shot(page, "settings")

        korean = browser.new_page(locale="ko-KR")  # labels follow the browser's language
        korean.goto(ui_url, wait_until="load")
        expect(korean.get_by_role("tab", name="채팅")).to_be_visible(timeout=60_000)
        korean.get_by_role("tab", name="생성 모델").click()
        expect(korean.get_by_role("button", name="네 모델 모두 샘플링")).to_be_visible()
        _shot(korean, "korean")
        browser.close()

    uploads = Path(os.environ["LMGEN_HOME"]) / "uploads"
    assert sorted(f.name for f in uploads.iterdir()) == ["lighthouse.md"]  # nothing else got in


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


CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Italy": "Rome",
    "Germany": "Berlin",
    "Spain": "Madrid",
    "England": "London",
    "Russia": "Moscow",
    "China": "Beijing",
}


def test_eight_concurrent_chat_sessions_get_their_own_answers(ui_url: str) -> None:
    """Eight Gradio clients at once: the queue serves them in turn, and no answer crosses over."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    def ask(country: str) -> str:
        client = Client(ui_url, verbose=False)
        result = client.predict(
            f"What is the capital of {country}? Answer in one word.", "expert", api_name="/chat"
        )
        return str(result)

    with ThreadPoolExecutor(8) as pool:
        answers = dict(zip(CAPITALS, pool.map(ask, CAPITALS), strict=True))
    for country, answer in answers.items():
        assert CAPITALS[country] in answer, (country, answer[:500])
        others = [c for k, c in CAPITALS.items() if k != country and c in answer]
        assert not others, (country, others)
