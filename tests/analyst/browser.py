"""A tiny Chrome DevTools Protocol driver for headless Debian chromium (no selenium/playwright needed)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# DevTools errors of an evaluation whose page was replaced by a navigation meanwhile.
NAVIGATED = ("Inspected target navigated or closed", "Cannot find context with specified id")


class Browser:
    """One headless chromium with one tab, driven over its DevTools websocket."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="tracegate-chromium-")
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "--window-size=1280,900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            pages = [t for t in json.loads(response.read()) if t["type"] == "page"]
        self.loop = asyncio.new_event_loop()
        self.session = self.loop.run_until_complete(self._session())
        self.ws = self.loop.run_until_complete(
            self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        )
        self.next_id = 0
        self.console_errors: list[str] = []
        self.send("Page.enable")
        self.send("Runtime.enable")

    async def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    async def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send_json({"id": my_id, "method": method, "params": params})
        while True:
            message = json.loads((await self.ws.receive(timeout=60)).data)
            if message.get("method") == "Runtime.exceptionThrown":
                self.console_errors.append(json.dumps(message["params"])[:500])
            if message.get("id") == my_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; returns its result."""
        return self.loop.run_until_complete(self._send(method, params))

    def evaluate(self, expression: str) -> Any:
        """The value of a JS expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout_s: float = 20) -> Any:
        """Poll a JS expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(
                    f"(() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()"
                )
            except RuntimeError as exc:
                # The page navigated under the evaluation (a language switch reloads it): not yet.
                if not any(gone in str(exc) for gone in NAVIGATED):
                    raise
                value = False
            if value:
                return value
            time.sleep(0.15)
        raise AssertionError(f"timed out waiting for {condition}; page: {self.text()[:800]}")

    def goto(self, url: str) -> None:
        """Open a URL and wait until the new document has loaded (wherever it redirected)."""
        self.evaluate("window.__old_document = true")
        self.send("Page.navigate", url=url)
        self.wait_for("!window.__old_document && document.readyState === 'complete'")

    def text(self, selector: str = "body") -> str:
        """The visible text of an element ('' if absent)."""
        value = self.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")
        return str(value)

    def fill(self, selector: str, value: str) -> None:
        """Type a value into an input."""
        self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            f" e.value = {json.dumps(value)}; e.dispatchEvent(new Event('input')); }})()"
        )

    def click(self, selector: str) -> None:
        """Click an element."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def set_file(self, selector: str, path: Path) -> None:
        """Choose a file in an <input type=file>, as a user picking it would."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", nodeId=node, files=[str(path)])

    def viewport(self, width: int, height: int = 900, mobile: bool = False) -> None:
        """Make the tab as wide as a phone (390) or a desktop screen."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width, height=height, deviceScaleFactor=1, mobile=mobile,
        )

    def html(self) -> str:
        """The page's whole HTML as it is now (after scripts)."""
        return str(self.evaluate("document.documentElement.outerHTML"))

    def screenshot(self, path: Path) -> None:
        """Save a PNG of the whole page."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Quit chromium and remove its profile."""
        self.loop.run_until_complete(self.ws.close())
        self.loop.run_until_complete(self.session.close())
        self.loop.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


# Page tests run where Debian's chromium is (make test installs it when run as root), else they skip.
NEEDS_CHROMIUM = pytest.mark.skipif(
    shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists(),
    reason="chromium is not installed (make test installs Debian's chromium when run as root)",
)
