"""Newsletter throughput and memory: our personalised, ledgered send against a minimal sender.

Both send to Postfix's ``smtp-sink`` on loopback (a sink that accepts everything quickly)
over the same number of reused connections, in the same run. The minimal sender pushes one
prebuilt message's bytes per recipient; ours freezes recipients, builds each subscriber's
copy, sends and records every acceptance in the ledger. Memory is measured in separate
processes for 10,000 and 100,000 subscribers.

Run with `make bench` (or `python -m bench.newsletter`).
"""

from __future__ import annotations

import json
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
CONNECTIONS = int(__import__("os").environ.get("BENCH_CONNECTIONS", "4"))
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


def minimal(host: str, port: int, count: int, message: bytes) -> float:
    """Prebuilt bytes over CONNECTIONS reused smtplib connections: messages per second."""
    per_thread = [
        count // CONNECTIONS + (1 if i < count % CONNECTIONS else 0) for i in range(CONNECTIONS)
    ]

    def run(n: int, offset: int) -> None:
        with smtplib.SMTP(host, port) as smtp:
            for i in range(n):
                smtp.sendmail(
                    "newsletter@example.org", [f"reader{offset + i:06d}@example.com"], message
                )

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
        for count in (10_000,):
            with tempfile.TemporaryDirectory() as temp:
                config = make_project(Path(temp), count, port)
                message = sample_message(config)
                baseline = [minimal(host, port, count, message) for _ in range(3)]
                ours_runs = []
                for _ in range(3):
                    (Path(temp) / "state" / "ledger.sqlite").unlink(missing_ok=True)
                    for suffix in ("-wal", "-shm"):
                        (Path(temp) / "state" / f"ledger.sqlite{suffix}").unlink(missing_ok=True)
                    ours_runs.append(in_subprocess(config))
                base = sorted(baseline)[1]
                mine = sorted(r["per_second"] for r in ours_runs)[1]
                print(
                    f"{count:,} subscribers, {CONNECTIONS} connections, "
                    f"{len(message) / 1000:.0f} KB messages: minimal sender {base:,.0f} msg/s, "
                    f"ours {mine:,.0f} msg/s, ratio {mine / base:.2f} "
                    "(target >= 0.70; medians of 3)"
                )
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


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--ours":
        print(json.dumps(ours(Path(sys.argv[2]))))
    else:
        main()
