"""A fault-injecting HTTP/1.1 proxy on loopback, for tests only.

It stands between the pipeline (``requests``; boto3 talking to an S3 server) and a real server
(WordPress on PHP's built-in server; moto's S3 server) and, on request, breaks exchanges in the
ways networks and servers really break: connection resets before or *after* the server acted,
slow answers, 429 with ``Retry-After``, 5xx. Tests use it to check that the pipeline retries what
it should and never does the same work twice.

Everything else is forwarded as faithfully as a test needs: method, path and query byte for
byte, the client's ``Host`` (WordPress builds links from it and SigV4 signs it), end-to-end
headers both ways, status and reason. Request bodies are read whole (``Content-Length`` or
chunked, with ``Expect: 100-continue`` answered here) and forwarded with a ``Content-Length``,
so a fault can be applied after the whole request arrived and the upstream sees one plain
framing whatever the client sent. Each request goes upstream on a fresh connection (with
``Connection: close``); the client's own connection stays alive across requests.

    with FaultProxy(upstream="http://127.0.0.1:8080") as proxy:
        proxy.add_rule("POST", r"^/wp-json/wp/v2/posts", ["reset-after"])
        ...  # point the client at proxy.url
        assert [e.status for e in proxy.requests("POST")] == [None, 201]

Standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers that describe one connection, not the message: never forwarded either way."""

STATUS_FAULTS = frozenset({"429", "500", "502", "503"})
"""Faults answered by the proxy itself with that status; the upstream never hears of them."""
_FAULT = re.compile(
    r"""^(?: reset | reset-after
         | delay:(?:\d+(?:\.\d*)?|\.\d+)
         | (?P<code>429|500|502|503)(?::(?P<retry>\d+))? )$""",
    re.VERBOSE,
)


def check_fault(fault: str) -> str:
    """Reject a misspelt fault when the rule is added, not silently at request time."""
    match = _FAULT.match(fault)
    if match is None or (match["retry"] is not None and match["code"] != "429"):
        raise ValueError(
            f"unknown fault {fault!r}: use reset, reset-after, delay:SECONDS, 429, 429:N, "
            "500, 502 or 503"
        )
    return fault


@dataclass
class Exchange:
    """One request as the proxy saw it: what was injected and what the client got."""

    method: str
    path: str
    fault: str | None
    status: int | None
    """The status sent to the client; None when the connection was reset instead."""
    upstream_status: int | None = None
    """What the upstream answered, if the request was forwarded (set even for reset-after)."""
    client_port: int = field(default=0, compare=False)
    """The client's source port: equal ports mean one kept-alive connection."""


@dataclass
class Rule:
    """Faults for matching requests, each used once, in order; then requests pass through."""

    method: str | None
    pattern: re.Pattern[str]
    faults: list[str]
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self.pattern.search(path))

    @property
    def remaining(self) -> list[str]:
        return self.faults[self.used :]


@dataclass
class _State:
    """What the handler threads share with the test: rules, log, and how to stop."""

    upstream: tuple[str, str, int]
    upstream_timeout: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    rules: list[Rule] = field(default_factory=list)
    log: list[Exchange] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    connections: dict[socket.socket, threading.Thread] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn): pointless and slow here.
        super(ThreadingHTTPServer, self).server_bind()  # socketserver.TCPServer.server_bind
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Like ThreadingMixIn's, but registered before it starts, so close() can join them all.
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self.state.lock:
            self.state.connections[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self.state.lock:
            self.state.connections.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: a client hanging up is an expected event in fault tests."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stalls
    server: _Server

    # -- plumbing ------------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler dispatches to do_<METHOD>: accept every method.
        if name.startswith("do_"):
            return self._proxy
        raise AttributeError(name)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ValueError):
            self.close_connection = True  # client went away (or socket reset by us): done

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log and error lines on stderr."""

    # -- the exchange --------------------------------------------------------------------------

    def _proxy(self) -> None:
        state = self.server.state
        body = self._read_body()
        if body is None:
            self.close_connection = True
            return
        path = self._target()
        with state.lock:
            fault = None
            for rule in state.rules:
                if rule.used < len(rule.faults) and rule.matches(self.command, path):
                    fault = rule.faults[rule.used]
                    rule.used += 1
                    break
            exchange = Exchange(self.command, path, fault, None, None, self.client_address[1])
            state.log.append(exchange)

        if fault == "reset":
            self._reset()
            return
        delay = float(fault.split(":", 1)[1]) if fault and fault.startswith("delay:") else 0.0
        if delay and state.stopping.wait(delay):
            self.close_connection = True  # proxy shutting down: drop the request
            return
        if fault is not None and fault.split(":")[0] in STATUS_FAULTS:
            code, _, retry = fault.partition(":")
            self._send_fault(exchange, int(code), retry or "1")
            return

        try:
            status, reason, headers, answer = self._forward(path, body)
        except (OSError, http.client.HTTPException, ValueError) as error:
            self._send_fault(exchange, 502, None, f"upstream failed: {error}")
            return
        exchange.upstream_status = status
        if fault == "reset-after":
            self._reset()
            return
        exchange.status = status
        self._send(status, reason, headers, answer)

    def _target(self) -> str:
        """The path and query exactly as received (origin-form; absolute-form is cut down)."""
        if self.path.startswith(("http://", "https://")):
            parts = urlsplit(self.path)
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self.path

    def _read_body(self) -> bytes | None:
        """The whole request body, de-chunked; None if the client hung up or sent garbage."""
        encoding = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in encoding:
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            self.send_error(400, "bad Content-Length")
            return None
        body = self.rfile.read(size)
        return body if len(body) == size else None

    def _read_chunked(self) -> bytes | None:
        chunks = []
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                if line:
                    self.send_error(400, "bad chunk size")
                return None
            if size == 0:
                break
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(65537) not in (b"\r\n", b"\n"):
                return None
            chunks.append(chunk)
        while True:  # trailers: read and drop
            line = self.rfile.readline(65537)
            if line in (b"\r\n", b"\n"):
                return b"".join(chunks)
            if not line:
                return None

    def _forward(self, path: str, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request upstream on a fresh connection; return the whole answer."""
        scheme, host, port = self.server.state.upstream
        connection_class = (
            http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        )
        upstream = connection_class(host, port, timeout=self.server.state.upstream_timeout)
        try:
            upstream.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
            if "Host" not in self.headers:
                upstream.putheader("Host", f"{host}:{port}")
            dropped = _connection_tokens(self.headers.get_all("Connection", []))
            for name, value in self.headers.items():
                lower = name.lower()
                if lower in dropped or lower in {"content-length", "expect"}:
                    continue
                upstream.putheader(name, value)
            framed = "Content-Length" in self.headers or "Transfer-Encoding" in self.headers
            if framed or body:
                upstream.putheader("Content-Length", str(len(body)))
            upstream.putheader("Connection", "close")
            upstream.endheaders(body if body else None)
            response = upstream.getresponse()
            answer = response.read()
            return response.status, response.reason, response.getheaders(), answer
        finally:
            upstream.close()

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        """Relay the upstream's answer, re-framed with a Content-Length for our connection."""
        dropped = _connection_tokens(v for k, v in headers if k.lower() == "connection")
        bodiless = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        self.send_response_only(status, reason or None)
        for name, value in headers:
            lower = name.lower()
            if lower in dropped or (lower == "content-length" and not bodiless):
                continue
            self.send_header(name, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        self._finish_response(b"" if bodiless else body)

    def _send_fault(
        self, exchange: Exchange, status: int, retry_after: str | None, message: str = ""
    ) -> None:
        """Answer for the server, without asking it: an injected (or upstream-failure) error."""
        exchange.status = status
        body = json.dumps(
            {"error": message or f"injected fault: {status}", "status": status}
        ).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        if status == 429:
            self.send_header("Retry-After", retry_after or "1")
        self.send_header("Content-Length", str(len(body)))
        self._finish_response(b"" if self.command == "HEAD" else body)

    def _finish_response(self, body: bytes) -> None:
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _reset(self) -> None:
        """Abort the client connection with a TCP RST (SO_LINGER on, 0 s), not a clean FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The buffered reader/writer hold references to the socket: close them first, or the
        # descriptor (and so the connection) would stay open until they are collected.
        for stream in (self.rfile, self.wfile):
            with contextlib.suppress(OSError):
                stream.close()
        self.connection.close()


def _connection_tokens(values: Any) -> set[str]:
    """Hop-by-hop headers, plus any the Connection header names as hop-by-hop."""
    names = set(HOP_BY_HOP)
    for value in values:
        names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return names


class FaultProxy:
    """A loopback HTTP proxy to one upstream that injects the faults the test asks for."""

    def __init__(self, upstream: str, upstream_timeout: float = 30.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be http(s)://host:port, not {upstream!r}")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError("upstream must not have a path: paths are forwarded as received")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.upstream = upstream
        self._state = _State(
            upstream=(parts.scheme, parts.hostname, port), upstream_timeout=upstream_timeout
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Bind a free loopback port and serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = self._state
        self._server = server
        self.port = int(server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, hang up on idle keep-alive clients, and wait for handlers to end."""
        if self._server is None:
            return
        self._state.stopping.set()  # wakes delayed requests
        self._server.shutdown()
        with self._state.lock:
            connections = dict(self._state.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in connections.values():
            thread.join(timeout=5)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- faults and log ------------------------------------------------------------------------

    def add_rule(self, method: str | None, path_pattern: str, faults: list[str]) -> Rule:
        """Inject ``faults`` into matching requests, one per request, in order.

        ``method`` None matches any method; ``path_pattern`` is searched (``re.search``) in the
        path and query. Rules are tried in the order added; the first that matches and still has
        faults left applies, so a later rule can take over once an earlier one is used up.
        """
        rule = Rule(
            method.upper() if method else None,
            re.compile(path_pattern),
            [check_fault(fault) for fault in faults],
        )
        with self._state.lock:
            self._state.rules.append(rule)
        return rule

    @property
    def log(self) -> list[Exchange]:
        """Every request so far, faulted or not, in arrival order (a copy of the list)."""
        with self._state.lock:
            return list(self._state.log)

    def requests(
        self, method: str | None = None, path_pattern: str | None = None
    ) -> list[Exchange]:
        """The logged requests with this method and/or a path matching the pattern."""
        pattern = re.compile(path_pattern) if path_pattern is not None else None
        return [
            exchange
            for exchange in self.log
            if (method is None or exchange.method == method.upper())
            and (pattern is None or pattern.search(exchange.path))
        ]

    def clear(self) -> None:
        """Forget all rules and the log, for the next phase of a test."""
        with self._state.lock:
            self._state.rules.clear()
            self._state.log.clear()
