"""Headless Chromium through the DevTools protocol, to check a rendered report like a reader would.

`open_page(path)` starts Chromium headless (no network, throw-away profile), loads the page and
yields a `Page`: `evaluate(js)`, `screenshot(png)`, and the console errors, uncaught exceptions and
failed loads seen so far. `check_report(index)` loads a report and lists broken images, tables and
errors; `screenshot(index, png)` is what `python -m benchmarks.report --screenshot` calls.

Standard library only: the DevTools endpoint is a WebSocket, and the few frames needed here
(masked text frames out, text/continuation/ping/close frames in) are written by hand below.
Chromium: Debian/Ubuntu `apt-get install chromium`; another binary through `$TTSR_CHROMIUM`.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

from foundation.errors import UserError
from foundation.fileio import atomic_write_bytes

CHROMIUM_ENV = "TTSR_CHROMIUM"
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-sync", "--metrics-recording-only", "--mute-audio",
         "--hide-scrollbars", "--disable-dev-shm-usage")


def find_chromium() -> str | None:
    """The Chromium binary: `$TTSR_CHROMIUM`, else the first of the usual names on PATH."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() or shutil.which(explicit) else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _WebSocket:
    """A minimal RFC 6455 client: enough for one DevTools session on localhost."""

    def __init__(self, url: str, timeout: float):
        parsed = urlparse(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {parsed.path} HTTP/1.1\r\nHost: {parsed.hostname}:{parsed.port}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ConnectionError(f"DevTools refused the WebSocket: {status.decode(errors='replace')}")
        self.buffer = head.split(b"\r\n\r\n", 1)[1]

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode("utf-8"))

    def recv(self) -> str:
        """The next whole text message (answers pings, joins continuation frames)."""
        parts: list[bytes] = []
        while True:
            b0, b1 = self._read(2)
            opcode, fin = b0 & 0x0F, b0 & 0x80
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode in (0x1, 0x2, 0x0):
                parts.append(payload)
                if fin:
                    return b"".join(parts).decode("utf-8")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send_frame(0x8, b"")
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass
class Page:
    """One DevTools page session; events are collected while commands wait for their answers."""

    ws: _WebSocket
    timeout: float
    console_errors: list[str] = field(default_factory=list)
    _next_id: int = 0
    _events: list[dict] = field(default_factory=list)

    def _note(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console_errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.console_errors.append(f"uncaught: {text}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.console_errors.append(f"{entry.get('source', 'log')}: {entry.get('text', '')} {entry.get('url', '')}".strip())
        self._events.append(message)

    def send(self, method: str, **params: Any) -> dict:
        self._next_id += 1
        ident = self._next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error']}")
                return message.get("result", {})
            self._note(message)
        raise TimeoutError(f"DevTools {method}: no answer in {self.timeout:.0f} s")

    def wait_for(self, event: str) -> dict:
        for i, message in enumerate(self._events):
            if message.get("method") == event:
                del self._events[: i + 1]
                return message
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            self._note(message)
            if message.get("method") == event:
                self._events.clear()
                return message
        raise TimeoutError(f"DevTools: no {event} in {self.timeout:.0f} s")

    def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the page and return its (JSON-able) value; awaits promises."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics.get("contentSize")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.send("Page.captureScreenshot", **params)["data"]
        atomic_write_bytes(path, base64.b64decode(data))
        return path


def _devtools_port(profile: Path, process: subprocess.Popen, timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Chromium exited with code {process.returncode} before DevTools started")
        if marker.is_file():
            lines = marker.read_text().split()
            if lines:
                return int(lines[0])
        time.sleep(0.1)
    raise TimeoutError(f"Chromium did not open DevTools in {timeout:.0f} s")


@contextlib.contextmanager
def open_page(target: str | Path, *, width: int = 1280, height: int = 900, timeout: float = 60.0,
              chromium: str | None = None) -> Iterator[Page]:
    """Load `target` (a file path or URL) in headless Chromium and yield the page after its load event."""
    binary = chromium or find_chromium()
    if binary is None:
        raise UserError("Chromium not found: install it (Debian/Ubuntu: apt-get install chromium) "
                        f"or point ${CHROMIUM_ENV} at the binary")
    url = Path(target).resolve().as_uri() if not str(target).startswith(("file:", "http:", "https:")) else str(target)
    with tempfile.TemporaryDirectory(prefix="ttsr-chromium-") as tmp:
        profile = Path(tmp)
        command = [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                   "--remote-debugging-address=127.0.0.1", f"--window-size={width},{height}", "about:blank"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        ws = None
        try:
            port = _devtools_port(profile, process, timeout)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as answer:
                targets = json.loads(answer.read())
            page_target = next((t for t in targets if t.get("type") == "page"), None)
            if page_target is None:
                with urllib.request.urlopen(urllib.request.Request(
                        f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT"), timeout=timeout) as answer:
                    page_target = json.loads(answer.read())
            ws = _WebSocket(page_target["webSocketDebuggerUrl"], timeout)
            page = Page(ws=ws, timeout=timeout)
            for domain in ("Page", "Runtime", "Log"):
                page.send(f"{domain}.enable")
            page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
            page.send("Page.navigate", url=url)
            page.wait_for("Page.loadEventFired")
            yield page
        finally:
            if ws is not None:
                ws.close()
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


_INSPECT_JS = """JSON.stringify({
  title: document.title,
  images: Array.from(document.images).map(function (i) {
    return {src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth}; }),
  tables: Array.from(document.querySelectorAll('table')).map(function (t) {
    return {id: t.id, rows: t.rows.length}; }),
  sections: Array.from(document.querySelectorAll('section')).map(function (s) { return s.id; })
})"""


@dataclass
class ReportCheck:
    title: str
    images: list[dict]
    tables: list[dict]
    sections: list[str]
    console_errors: list[str]

    @property
    def broken_images(self) -> list[str]:
        return [i["src"] for i in self.images if not i["ok"]]

    @property
    def table_ids(self) -> list[str]:
        return [t["id"] for t in self.tables]


def check_report(index: str | Path, screenshot_path: Path | None = None, *, full_page: bool = False,
                 width: int = 1280, height: int = 900, timeout: float = 60.0) -> ReportCheck:
    """Load a report in headless Chromium: images, tables, sections, console errors (+ screenshot)."""
    with open_page(index, width=width, height=height, timeout=timeout) as page:
        # images are loaded before the load event; wait a moment for late errors to arrive
        page.evaluate("new Promise(function (r) { setTimeout(r, 200); })")
        info = json.loads(page.evaluate(_INSPECT_JS))
        if screenshot_path is not None:
            page.screenshot(screenshot_path, full_page=full_page)
        return ReportCheck(title=info["title"], images=info["images"], tables=info["tables"],
                           sections=info["sections"], console_errors=list(page.console_errors))


def screenshot(index: str | Path, path: Path, *, width: int = 1280, height: int = 1500) -> Path:
    """A viewport screenshot of a report (what the README shows); fails on broken images or errors."""
    check = check_report(index, path, width=width, height=height)
    problems = check.broken_images + check.console_errors
    if problems:
        raise UserError(f"{index}: the page has problems: {'; '.join(problems[:5])}")
    return path
