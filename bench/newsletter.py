"""Newsletter throughput and memory: our personalised, ledgered send against a minimal sender.

Both send to Postfix's ``smtp-sink`` on loopback (a sink that accepts everything quickly)
over the same number of reused connections, in the same run. The minimal sender pushes one
prebuilt message's bytes per recipient with ``smtplib.sendmail``; ours freezes recipients,
builds each subscriber's copy, sends and records every acceptance in the ledger. Ours
pipelines (the sink offers PIPELINING): one round trip a message, each message's final dot
in the write that starts the next. The minimal sender is also run with our single-message
dialogue (``send_raw``: the envelope in one write, the content in another) over prebuilt
bytes: the second ratio sets our whole per-message work against that bare dialogue. DKIM
is off in both; its cost per message is measured on its own. Memory is measured in separate
processes for 10,000 and 100,000 subscribers.

Run with `make bench` (or `python -m bench.newsletter`); BENCH_NEWSLETTER_SUBSCRIBERS
(default 10,000), BENCH_REPEATS (default 3) and BENCH_NEWSLETTER_MEMORY=0 (no memory runs)
make a quicker run while developing.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from outreach.config import Settings

REPO = Path(__file__).resolve().parent.parent
CONNECTIONS = 4
SUBSCRIBERS = int(os.environ.get("BENCH_NEWSLETTER_SUBSCRIBERS", "10000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
ALL_TOPICS = ";".join(
    ("apparel-textiles", "plastics-packaging", "food-agriculture", "scope-3-climate",
     "responsible-sourcing", "landscapes-commodities")
)  # fmt: skip
NOW = datetime(2026, 11, 29, tzinfo=UTC)


@contextmanager
def smtp_sink() -> tuple[str, int]:
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "-u", "postfix", f"127.0.0.1:{port}", "512"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("smtp-sink did not start") from None
                time.sleep(0.05)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(timeout=10)


def make_project(folder: Path, subscribers: int, port: int) -> Path:
    for name in ("findings", "media", "press", "templates"):
        shutil.copytree(REPO / name, folder / name)
    config = (REPO / "outreach.toml").read_text()
    config = config.replace('platform = "outbox"', 'platform = "smtp"')
    # Over SMTP the unsubscribe links must be https (plain http is refused).
    config = config.replace(
        'base_url = "http://127.0.0.1:8000/"', 'base_url = "https://127.0.0.1/"'
    )
    config = config.replace('smtp_host = "localhost"', 'smtp_host = "127.0.0.1"')
    config = config.replace("smtp_port = 587", f"smtp_port = {port}")
    config = config.replace('smtp_security = "starttls"', 'smtp_security = "none"')
    config = config.replace("rate_per_second = 10 ", "rate_per_second = 1000 ")
    config = config.replace("connections = 2 ", f"connections = {CONNECTIONS} ")
    (folder / "outreach.toml").write_text(config)
    from outreach.config import load_settings
    from outreach.subscribers import SubscriberStore

    settings = load_settings(folder / "outreach.toml", environ={})
    rows = ["email,name,topics,status,consent_at,consent_source"] + [
        f"reader{n:06d}@example.com,Reader {n},{ALL_TOPICS},confirmed,{NOW.isoformat()},bench"
        for n in range(subscribers)
    ]
    SubscriberStore(settings.paths.subscribers).import_csv("\n".join(rows) + "\n", "bench", NOW)
    return folder / "outreach.toml"


def peak_memory_mb() -> float:
    """This process's own high-water mark (VmHWM). ``ru_maxrss`` would not do: Linux carries
    it over from the parent that started this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unpaced(settings: Settings) -> Settings:
    """The settings with no local pace: the file may not go above 1000 messages per second
    (a real relay takes far fewer), and the bench measures the sender, not the limiter."""
    newsletter = settings.newsletter.model_copy(update={"rate_per_second": 1_000_000.0})
    return settings.model_copy(update={"newsletter": newsletter})


def ours(config: Path) -> dict:
    """One full send in this process: returns messages per second and peak memory."""
    from outreach.campaign import prepare_send, send_all
    from outreach.config import load_settings
    from outreach.newsletter import finding_issue
    from outreach.release import load_catalog

    settings = unpaced(load_settings(config, environ={}))
    issue = finding_issue(load_catalog(settings)["farm-gate-to-fob"])
    start = time.perf_counter()
    prepared = prepare_send(issue, settings, NOW)
    report = send_all(prepared, settings, NOW)
    elapsed = time.perf_counter() - start
    return {
        "sent": report.sent,
        "seconds": elapsed,
        "per_second": report.sent / elapsed,
        "peak_mb": peak_memory_mb(),
    }


def minimal(host: str, port: int, count: int, message: bytes, pipelined: bool = False) -> float:
    """Prebuilt bytes over CONNECTIONS reused smtplib connections: messages per second.
    ``pipelined``: with our transport's dialogue (``send_raw``) instead of ``sendmail``."""
    from outreach.mail_transport import send_raw

    per_thread = [
        count // CONNECTIONS + (1 if i < count % CONNECTIONS else 0) for i in range(CONNECTIONS)
    ]

    def run(n: int, offset: int) -> None:
        with smtplib.SMTP(host, port) as smtp:
            smtp.ehlo()
            for i in range(n):
                recipient = f"reader{offset + i:06d}@example.com"
                if pipelined:
                    send_raw(smtp, "newsletter@example.org", recipient, message)
                else:
                    smtp.sendmail("newsletter@example.org", [recipient], message)

    threads, offset = [], 0
    for n in per_thread:
        threads.append(threading.Thread(target=run, args=(n, offset)))
        offset += n
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - start)


def dkim_cost(config: Path, copies: int = 300) -> tuple[float, float]:
    """Microseconds to build one copy without and with a DKIM signature (RSA 2048)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from outreach.config import load_settings
    from outreach.newsletter import MessageFactory, finding_issue, render_issue
    from outreach.release import load_catalog
    from outreach.subscribers import Subscriber

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    settings = load_settings(config, environ={})
    signing = settings.newsletter.model_copy(
        update={"dkim_domain": "example.org", "dkim_selector": "news"}
    )
    settings = settings.model_copy(update={"newsletter": signing})
    rendered = render_issue(finding_issue(load_catalog(settings)["farm-gate-to-fob"]), settings)
    readers = [
        Subscriber(f"reader{n:06d}@example.com", f"Reader {n}", ("food-agriculture",),
                   "confirmed", "", "")
        for n in range(copies)
    ]  # fmt: skip
    timings = []
    for private_key in (None, key):
        factory = MessageFactory(rendered, settings, b"secret", NOW, private_key)
        start = time.perf_counter()
        for reader in readers:
            factory.build(reader)
        timings.append((time.perf_counter() - start) / copies * 1e6)
    return timings[0], timings[1]


def sample_message(config: Path) -> bytes:
    from outreach.config import load_settings
    from outreach.newsletter import MessageFactory, finding_issue, render_issue
    from outreach.release import load_catalog
    from outreach.subscribers import Subscriber

    settings = load_settings(config, environ={})
    rendered = render_issue(finding_issue(load_catalog(settings)["farm-gate-to-fob"]), settings)
    reader = Subscriber(
        "reader000000@example.com", "Reader 0", ("food-agriculture",), "confirmed", "", ""
    )
    return MessageFactory(rendered, settings, b"secret", NOW).build(reader)


def in_subprocess(config: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.newsletter", "--ours", str(config)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print("== newsletter ==")
    with smtp_sink() as (host, port):
        with tempfile.TemporaryDirectory() as temp:
            count = SUBSCRIBERS
            config = make_project(Path(temp), count, port)
            message = sample_message(config)
            baseline, piped, ours_runs = [], [], []
            for _ in range(REPEATS):  # interleaved, so a busy moment touches all three
                baseline.append(minimal(host, port, count, message))
                piped.append(minimal(host, port, count, message, pipelined=True))
                for suffix in ("", "-wal", "-shm"):
                    (Path(temp) / "state" / f"ledger.sqlite{suffix}").unlink(missing_ok=True)
                ours_runs.append(in_subprocess(config))
            base, pipe = median(baseline), median(piped)
            mine = median([r["per_second"] for r in ours_runs])
            print(
                f"{count:,} subscribers, {CONNECTIONS} connections, "
                f"{len(message) / 1000:.0f} KB messages: minimal sender {base:,.0f} msg/s, "
                f"ours {mine:,.0f} msg/s, ratio {mine / base:.2f} (target >= 0.9); minimal "
                f"sender with our pipelined dialogue {pipe:,.0f} msg/s, ratio {mine / pipe:.2f} "
                f"(medians of {REPEATS}; load average {os.getloadavg()[0]:.1f})"
            )
            plain, signed = dkim_cost(config)
            print(
                f"DKIM (RSA 2048, off above): a copy takes {plain:.0f} us to build unsigned, "
                f"{signed:.0f} us signed: {signed - plain:,.0f} us per message for signing"
            )
        if os.environ.get("BENCH_NEWSLETTER_MEMORY", "1") == "0":
            return
        peaks = {}
        for count in (10_000, 100_000):
            with tempfile.TemporaryDirectory() as temp:
                config = make_project(Path(temp), count, port)
                result = in_subprocess(config)
                peaks[count] = result["peak_mb"]
                print(
                    f"{count:,} subscribers: sent {result['sent']:,} in {result['seconds']:.1f} s "
                    f"({result['per_second']:,.0f} msg/s), peak memory {result['peak_mb']:.0f} MB"
                )
        print(f"memory growth 10,000 -> 100,000 subscribers: {peaks[100_000] / peaks[10_000]:.2f}x")


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--ours":
        print(json.dumps(ours(Path(sys.argv[2]))))
    else:
        main()
