"""The subscriber app served by uvicorn on a loopback port, with a clock the test sets."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

from conftest import NOW
from outreach.config import Settings, load_settings
from outreach.web import WebLimits, bind, create_app


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class WebApp:
    base: str
    settings: Settings
    app: Starlette
    clock: Clock

    def drain(self) -> None:
        """Wait until the emails the app queued were sent (or failed)."""
        self.app.state.mail.join()


@contextmanager
def served(
    project: Path, environ: dict[str, str] | None = None, limits: WebLimits | None = None
) -> Iterator[WebApp]:
    sock = bind("127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    settings = load_settings(
        project / "outreach.toml",
        environ={"OUTREACH_NEWSLETTER__WEB_BASE_URL": base, **(environ or {})},
    )
    clock = Clock()
    app = create_app(settings, clock=clock, limits=limits or WebLimits())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield WebApp(base, settings, app, clock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def web_app(project: Path) -> Iterator[WebApp]:
    """The app with the outbox mail platform (default settings)."""
    with served(project) as running:
        yield running


@pytest.fixture
def serve_web(project: Path) -> Iterator[Callable[..., WebApp]]:
    """Start the app with extra settings (``environ``) or ``limits``; stopped after the test."""
    with ExitStack() as stack:
        yield lambda **kwargs: stack.enter_context(served(project, **kwargs))


def smtp_environ(host: str, port: int) -> dict[str, str]:
    return {
        "OUTREACH_MAIL__PLATFORM": "smtp",
        "OUTREACH_MAIL__SMTP_HOST": host,
        "OUTREACH_MAIL__SMTP_PORT": str(port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
    }
