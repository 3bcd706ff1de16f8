"""Published pages in headless Chromium, served over loopback: widths and scroll regions.

Headless Chromium's window is at least 500 px wide, so each page loads in an iframe of the
phone's width inside a host page from the same origin, which reads the layout and writes it
into its own DOM for ``--dump-dom``.
"""

from __future__ import annotations

import html
import http.server
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not installed: `make test` installs Debian's chromium"
)

HOST = """<!DOCTYPE html><html><body style="margin:0"><script>
const pages = %s, width = %d, report = {};
let pending = pages.length;
for (const page of pages) {
  const frame = document.createElement("iframe");
  frame.style = `border:0;width:${width}px;height:900px`;
  frame.src = page;
  frame.onload = () => {
    const doc = frame.contentDocument, root = doc.documentElement;
    report[page] = {
      scrollWidth: root.scrollWidth,
      clientWidth: root.clientWidth,
      regions: [...doc.querySelectorAll(".table-scroll")].map((e) => ({
        scrollWidth: e.scrollWidth, clientWidth: e.clientWidth, tabIndex: e.tabIndex,
        role: e.getAttribute("role"), label: e.getAttribute("aria-label"),
      })),
    };
    if (--pending === 0) {
      const out = document.createElement("pre");
      out.id = "report";
      out.textContent = JSON.stringify(report);
      document.body.append(out);
    }
  };
  document.body.append(frame);
}
</script></body></html>"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    prefix = "/"

    def translate_path(self, path: str) -> str:
        if path.startswith(self.prefix):
            path = "/" + path[len(self.prefix) :]
        return super().translate_path(path)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(folder: Path, prefix: str = "/") -> Iterator[str]:
    """Serve ``folder`` at ``http://127.0.0.1:<port><prefix>``; yields that address."""
    handler = type("Handler", (_Quiet,), {"prefix": prefix})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    finally:
        server.shutdown()
        server.server_close()


def layout(public: Path, pages: list[str], width: int, profile: Path, prefix: str = "/") -> dict:
    """For each page (a path under ``prefix``): the document's scroll and client widths and
    every ``.table-scroll`` region, as laid out in a ``width``-pixel frame."""
    host = public / "_layout.html"
    host.write_text(HOST % (json.dumps([prefix + p for p in pages]), width), encoding="utf-8")
    try:
        with serving(public, prefix) as base:
            result = subprocess.run(
                [
                    CHROMIUM,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    f"--user-data-dir={profile}",
                    "--hide-scrollbars",
                    "--window-size=800,900",
                    "--virtual-time-budget=5000",
                    "--dump-dom",
                    base + "_layout.html",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
    finally:
        host.unlink()
    match = re.search(r'<pre id="report">(.*?)</pre>', result.stdout, re.DOTALL)
    assert match, result.stderr[-2000:]
    return {page.removeprefix(prefix): v for page, v in json.loads(html.unescape(match[1])).items()}
