"""Driving `bigprior app` in a real browser, for tests/test_app.py and benchmarks/reblend_latency.py: the
app started as a subprocess on a free loopback port, pages in Debian's Chromium through Playwright."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

CODE = Path(__file__).resolve().parents[1] / "code"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UPLOAD_INPUT = "input[data-testid='Upload a photo-upload-button']"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, bytes]:
    """(HTTP status, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start_server(folder: Path, iterations: int, max_pixels: int, timeout: float = 120) -> dict:
    """`bigprior app` as a subprocess; its temporary folder (TMPDIR) and log in `folder`. A dict with its
    url, folder and process; raises RuntimeError with the log's end if it does not answer in time."""
    port = free_port()
    log = open(folder / "server.log", "w")
    env = {**os.environ, "PYTHONPATH": str(CODE), "TMPDIR": str(folder), "GRADIO_HEARTBEAT_INTERVAL": "0.5"}
    process = subprocess.Popen([sys.executable, "-m", "bigprior.cli", "app", "--port", str(port), "--device", "cpu",
                                "--iterations", str(iterations), "--max_pixels", str(max_pixels)],
                               env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if fetch(url)[0] == 200:
                return {"url": url, "tmp": folder, "process": process, "log": log}
        except OSError:
            time.sleep(0.3)
    process.kill()
    log.close()
    raise RuntimeError(f"the app did not start: {(folder / 'server.log').read_text()[-3000:]}")


def stop_server(server: dict) -> None:
    server["process"].terminate()
    server["process"].wait(timeout=30)
    server["log"].close()


def open_page(browser, server: dict):
    """A new page of the app, recording every progress text it shows (window.seen)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server["url"])
    page.wait_for_selector("#editor canvas", timeout=60_000)
    page.evaluate("""() => {  // every progress text the page shows, however briefly
        window.seen = [];
        new MutationObserver(() => document.querySelectorAll('.progress-level-inner, .progress-text')
            .forEach(e => window.seen.push(e.innerText))).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    return page


def upload(page, path: Path) -> None:
    page.locator(UPLOAD_INPUT).set_input_files(str(path))


def upload_photo(page, path: Path) -> None:
    """Upload a photo and wait until the page has taken it (its name shown under the results)."""
    upload(page, path)
    page.locator("#scores", has_text=path.name).wait_for(timeout=60_000)


def draw_stroke(page) -> None:
    """A stroke across the middle of the photo on the editor's first layer (the hole)."""
    box = page.locator("#editor canvas").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 50, y - 10)
    page.mouse.down()
    for step in range(15):
        page.mouse.move(x - 50 + 6 * step, y - 10 + step)
    page.mouse.up()


def message(page, pattern: str, timeout: float = 60_000) -> str:
    """The text of the page's toast that matches `pattern` (waits for it)."""
    import re

    toast = page.locator("[data-testid=toast-text]").filter(has_text=re.compile(pattern))
    toast.first.wait_for(timeout=timeout)
    return toast.first.inner_text()


def shown_image(page, elem_id: str, previous: str | None = None, timeout: float = 60) -> tuple[str, np.ndarray]:
    """(src, pixels) of an image the page shows, once its src differs from `previous`."""
    image = page.locator(f"#{elem_id} img")
    deadline = time.monotonic() + timeout
    while (src := image.get_attribute("src") if image.count() else None) in (None, previous):
        if time.monotonic() > deadline:
            raise AssertionError(f"#{elem_id} showed no new image")
        time.sleep(0.05)
    status, content = fetch(src)
    assert status == 200, (src, status)
    return src, np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))


def set_strength(page, strength: float) -> None:
    number = page.locator("#strength input[type=number]")
    number.fill(str(strength))
    number.press("Enter")


def time_strength(page, strength: float) -> float:
    """Seconds, in the browser, from typing a strength until the new phi image has loaded."""
    return page.evaluate("""async (strength) => {
        const img = () => document.querySelector('#phi img');
        const before = img() && img().src;
        const number = document.querySelector('#strength input[type=number]');
        const start = performance.now();
        number.value = String(strength);
        number.dispatchEvent(new Event('input', {bubbles: true}));
        number.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
        number.dispatchEvent(new Event('change', {bubbles: true}));
        while (!img() || img().src === before || !img().complete || img().naturalWidth === 0) {
            await new Promise(resolve => setTimeout(resolve, 5));
            if (performance.now() - start > 60000) throw new Error('no new phi image');
        }
        return (performance.now() - start) / 1000;
    }""", strength)
