"""Preview server for the site folder: plain HTTP on loopback, for the team's own browser."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".atom": "application/atom+xml",
        ".xml": "application/xml",
    }


def make_server(root: Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(root))
    return ThreadingHTTPServer((host, port), handler)
