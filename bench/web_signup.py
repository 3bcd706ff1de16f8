"""Sign-up timing (does the answer reveal whether an address is already confirmed?) and the
memory one oversized request costs.

The subscriber app runs under uvicorn on loopback with mail going over SMTP to aiosmtpd (also
on loopback). Sign-ups for new addresses and for confirmed ones alternate; each POST is timed
from the client. Medians and their ratio are printed: near 1.0 means the answer does not
depend on the address (the email is sent after the answer). Then one request streams 900
form fields of 1 MB; the process's peak memory before and after is printed (the client
streams from a generator, so the growth is the server's).

Run with `make bench` (or `python -m bench.web_signup`).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from bs4 import BeautifulSoup

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 200
NOW = datetime(2026, 11, 29, tzinfo=UTC)


class Sink:
    accepted = 0

    async def handle_DATA(self, server, session, envelope):
        self.accepted += 1
        return "250 OK"


def peak_memory_mb() -> float:
    """This process's high-water mark (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def oversized() -> Iterator[bytes]:
    """900 form fields of 1 MB each, streamed (chunked, no Content-Length)."""
    field = b"x" * (1 << 20)
    for n in range(900):
        yield f"f{n}=".encode() + field + b"&"


def main() -> None:
    from outreach.config import load_settings
    from outreach.subscribers import SubscriberStore
    from outreach.web import WebLimits, bind, create_app

    root = Path(tempfile.mkdtemp(prefix="bench-web-"))
    sink = Sink()
    smtp = bind("127.0.0.1", 0)
    smtp_port = smtp.getsockname()[1]
    smtp.close()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        for name in ("findings", "media", "press", "templates"):
            shutil.copytree(REPO / name, root / name)
        config = root / "outreach.toml"
        shutil.copy(REPO / "outreach.toml", config)
        sock = bind("127.0.0.1", 0)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        settings = load_settings(
            config,
            environ={
                "OUTREACH_NEWSLETTER__WEB_BASE_URL": base,
                "OUTREACH_MAIL__PLATFORM": "smtp",
                "OUTREACH_MAIL__SMTP_HOST": "127.0.0.1",
                "OUTREACH_MAIL__SMTP_PORT": str(smtp_port),
                "OUTREACH_MAIL__SMTP_SECURITY": "none",
            },
        )
        store = SubscriberStore(settings.paths.subscribers)
        for n in range(ROUNDS):
            store.sign_up(f"known{n}@example.com", "Known", ["food-agriculture"], "bench", NOW)
            store.confirm(f"known{n}@example.com", NOW)
        limits = WebLimits(signups_per_client=10 * ROUNDS, mail_queue=10 * ROUNDS)
        app = create_app(settings, limits=limits)
        server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        timings: dict[str, list[float]] = {"new": [], "confirmed": []}
        with httpx.Client(base_url=base) as client:
            form = client.get("/newsletter/")
            csrf = BeautifulSoup(form.text, "html.parser").find("input", attrs={"name": "csrf"})
            for n in range(ROUNDS):
                pair = (("new", f"new{n}@example.com"), ("confirmed", f"known{n}@example.com"))
                for kind, email in pair:
                    data = {"csrf": csrf["value"], "email": email, "topics": ["food-agriculture"]}
                    start = time.perf_counter()
                    answer = client.post("/newsletter/subscribe", data=data)
                    timings[kind].append((time.perf_counter() - start) * 1000)
                    assert answer.status_code == 200, answer.text
            app.state.mail.join()
            before = peak_memory_mb()
            try:
                refused = client.post(
                    "/newsletter/subscribe",
                    content=oversized(),
                    headers={"content-type": "application/x-www-form-urlencoded"},
                ).status_code
            except httpx.TransportError as exc:  # the server may close before reading it all
                refused = type(exc).__name__
            after = peak_memory_mb()
        server.should_exit = True
        thread.join(timeout=10)
        new, known = (statistics.median(timings[k]) for k in ("new", "confirmed"))
        print(f"web sign-up ({ROUNDS} each, mail over SMTP on loopback, {sink.accepted} sent):")
        print(f"  new address        median {new:.2f} ms")
        print(f"  confirmed address  median {known:.2f} ms")
        print(f"  ratio new/confirmed {new / known:.2f}")
        print(
            f"900 fields of 1 MB in one request: {refused}; peak memory {before:.0f} MB before, "
            f"{after:.0f} MB after"
        )
    finally:
        controller.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
