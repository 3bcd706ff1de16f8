"""Protections in front of the subscriber app: body limits, security headers, a per-client
throttle.

They are plain ASGI wrappers so they act before Starlette parses anything: a request body
over the limit is refused from its Content-Length, or as soon as the streamed bytes pass it,
and is never buffered whole.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

APP_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""The subscriber pages: no scripts at all, forms only to this app, never framed."""
SITE_POLICY = "frame-ancestors 'none'"
"""The previewed static site keeps its own scripts and media; it only refuses framing."""


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Answers 413 to a request body over ``max_bytes`` before the app reads it whole."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        refusal: Callable[[], Any],
        per_path: Mapping[str, int] | None = None,
    ):
        """``per_path``: other limits for some paths (delivery reports carry whole emails)."""
        self.app, self.max_bytes, self.refusal = app, max_bytes, refusal
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self.refusal()(scope, receive, send)
            return
        received, started = 0, False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _TooLarge:
            if started:
                raise
            await self.refusal()(scope, receive, send)


class SecurityHeaders:
    """Adds CSP, nosniff, Referrer-Policy and framing refusal to every response; the
    subscriber pages (under ``app_prefix``) also get ``Cache-Control: no-store``, since their
    addresses carry tokens. A redirect to the Host the client sent is made relative, so a
    forged Host header is never reflected."""

    def __init__(self, app: ASGIApp, app_prefix: str = "/newsletter"):
        self.app, self.app_prefix = app, app_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ours = scope["path"] == self.app_prefix or scope["path"].startswith(self.app_prefix + "/")
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, _relative(value, host) if name.lower() == b"location" else value)
                    for name, value in message.get("headers", [])
                ]
                present = {name.lower() for name, _ in headers}
                extra = {
                    b"content-security-policy": APP_POLICY if ours else SITE_POLICY,
                    b"x-content-type-options": "nosniff",
                    b"x-frame-options": "DENY",
                    b"referrer-policy": "no-referrer"
                    if ours
                    else "strict-origin-when-cross-origin",
                }
                if ours:
                    extra[b"cache-control"] = "no-store"
                headers += [(k, v.encode()) for k, v in extra.items() if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _relative(location: bytes, host: str) -> bytes:
    """``http://<the request's Host>/path?q`` becomes ``/path?q``; other locations stay."""
    text = location.decode("latin-1")
    for scheme in ("http://", "https://"):
        if text.lower().startswith(scheme + host + "/") and host:
            return text[len(scheme) + len(host) :].encode("latin-1")
    return location


class Throttle:
    """At most ``limit`` events per key within ``window``, remembered in memory for the
    newest ``max_keys`` keys (a flood of distinct keys cannot grow it without bound)."""

    def __init__(self, limit: int, window: timedelta, max_keys: int = 10_000):
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._events: OrderedDict[str, deque[datetime]] = OrderedDict()

    def allow(self, key: str, now: datetime) -> bool:
        events = self._events.pop(key, deque())
        while events and now - events[0] >= self.window:
            events.popleft()
        allowed = len(events) < self.limit
        if allowed:
            events.append(now)
        self._events[key] = events
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return allowed
