"""Workers sharing one PostgreSQL state database: one worker against two, and ledger writes.

1. **Newsletter throughput, one worker against two**, in the same run: worker processes, each
   in its own folder (a copy of the project: findings, media, templates, its own empty state
   folder), send one issue to the same subscribers kept in PostgreSQL (``[state] url``), to
   Postfix's ``smtp-sink``. Two workers claim disjoint recipients (``outreach.claims``) and
   send in parallel. Every process's CPU time is measured beside the figures (the workers, the
   PostgreSQL server, the sink): on a 2-core machine they all share the same cores, and the
   CPU seconds per message say where the ceiling is.
2. **Ledger operations per second, PostgreSQL against SQLite**: a ledger record per commit,
   records grouped in one transaction (``Ledger.transaction``), and the send log's
   per-message state update (the newsletter's durable record of each accepted message).
   Both durable: SQLite as the stores configure it (the ledger ``synchronous=FULL``, the
   send log ``NORMAL`` in WAL), PostgreSQL with ``fsync`` and ``synchronous_commit`` on.

PostgreSQL is Debian's, started in a temporary folder by the tests' script
(``tests/servers/postgres.sh``). Run with ``make bench`` or ``python -m bench.scale_out``;
``BENCH_SCALE_OUT_SUBSCRIBERS`` (default 10,000) and ``BENCH_REPEATS`` (default 3) make a
quicker run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.newsletter import ALL_TOPICS, NOW, REPO, smtp_sink

POSTGRES = REPO / "tests" / "servers" / "postgres.sh"
SUBSCRIBERS = int(os.environ.get("BENCH_SCALE_OUT_SUBSCRIBERS", "10000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
CONNECTIONS = 2
"""SMTP connections per worker: two workers have twice as many."""
SECRETS = ("OUTREACH_PRESS_SECRET", "OUTREACH_LINK_SECRET", "OUTREACH_RECIPIENT_KEY")
CHANNELS = ("blog", "podcast", "press", "newsroom", "reports", "events")
LEDGER_OPS = 2_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def postgres() -> Iterator[tuple[str, Path]]:
    """A private PostgreSQL on loopback, durable (the script starts it with fsync off, for
    the tests' speed): its maintenance URL and data folder."""
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="outreach-bench-pg-"))
    started = subprocess.run(
        [str(POSTGRES), "start", str(folder), str(free_port())],
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start (make test-tools):\n{started.stderr}")
        values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
        url = values["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as admin:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                admin.execute(f"ALTER SYSTEM SET {setting} = on")
            admin.execute("SELECT pg_reload_conf()")
        yield url, folder / "data"
    finally:
        subprocess.run([str(POSTGRES), "stop", str(folder)], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def new_database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"


def worker_env(url: str, port: int) -> dict[str, str]:
    """A stateless worker's environment: state in PostgreSQL, mail to the sink, unpaced."""
    env = {
        **os.environ,
        "OUTREACH_STATE__URL": url,
        "OUTREACH_MAIL__PLATFORM": "smtp",
        "OUTREACH_MAIL__SMTP_HOST": "127.0.0.1",
        "OUTREACH_MAIL__SMTP_PORT": str(port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
        "OUTREACH_SITE__BASE_URL": "https://127.0.0.1/",
        "OUTREACH_NEWSLETTER__RATE_PER_SECOND": "1000",
        "OUTREACH_NEWSLETTER__CONNECTIONS": str(CONNECTIONS),
        "PYTHONPATH": str(REPO),
    }
    env.update({name: f"bench-{name.lower()}" for name in SECRETS})
    env.update({f"OUTREACH_CHANNELS__{name.upper()}__PLATFORMS": "s3" for name in CHANNELS})
    return env


def worker_folder(root: Path, name: str) -> Path:
    """A worker's own checkout: no folder in common with the other worker."""
    folder = root / name
    folder.mkdir()
    for part in ("findings", "media", "press", "templates"):
        shutil.copytree(REPO / part, folder / part)
    shutil.copy(REPO / "outreach.toml", folder / "outreach.toml")
    return folder


def import_subscribers(config: Path, env: dict[str, str], count: int) -> None:
    from outreach.config import load_settings
    from outreach.subscribers import SubscriberStore

    settings = load_settings(config, environ=env)
    rows = ["email,name,topics,status,consent_at,consent_source"] + [
        f"reader{n:06d}@example.com,Reader {n},{ALL_TOPICS},confirmed,{NOW.isoformat()},bench"
        for n in range(count)
    ]
    SubscriberStore(settings.paths.subscribers).import_csv("\n".join(rows) + "\n", "bench", NOW)


def worker_main(config: Path) -> None:
    """One worker: ready, wait for "go", send the issue (its share of it), say what it did."""
    from outreach.campaign import prepare_send, send_all
    from outreach.config import load_settings
    from outreach.newsletter import finding_issue
    from outreach.release import load_catalog

    settings = load_settings(config)
    newsletter = settings.newsletter.model_copy(update={"rate_per_second": 1_000_000.0})
    settings = settings.model_copy(update={"newsletter": newsletter})
    issue = finding_issue(load_catalog(settings)["farm-gate-to-fob"])
    print("ready", flush=True)
    sys.stdin.readline()
    start, before = time.perf_counter(), os.times()
    report = send_all(prepare_send(issue, settings, NOW), settings, NOW)
    seconds, after = time.perf_counter() - start, os.times()
    cpu = (after.user + after.system) - (before.user + before.system)
    print(json.dumps({"sent": report.sent, "seconds": seconds, "cpu": cpu}), flush=True)


def cpu_seconds(pid: int, children: bool = True) -> float:
    """A process's CPU time (user + system), with its reaped children's when ``children``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu(data: Path) -> float:
    """The PostgreSQL server's CPU time so far: the postmaster, the backends it reaped and
    those still running."""
    master = int((data / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(master)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                total += cpu_seconds(int(entry.name), children=False)
    return total


def send_round(
    folders: list[Path], env: dict[str, str], sink_pid: int, data: Path
) -> dict[str, float]:
    """Start a worker per folder, release them together, wait for all: messages per second
    over the whole send and CPU seconds per message of each part."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.scale_out", "--worker", str(folder / "outreach.toml")],
            env=env,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in folders
    ]
    for worker in workers:
        assert worker.stdout is not None
        line = worker.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"worker did not start: {line} {worker.stderr.read()}")
    pg_before, sink_before = postgres_cpu(data), cpu_seconds(sink_pid)
    start = time.perf_counter()
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = []
    for worker in workers:
        output, errors = worker.communicate(timeout=900)
        if worker.returncode != 0:
            raise RuntimeError(f"worker failed:\n{errors}")
        results.append(json.loads(output.strip().splitlines()[-1]))
    elapsed = time.perf_counter() - start
    sent = sum(r["sent"] for r in results)
    if sent != SUBSCRIBERS:
        raise RuntimeError(f"sent {sent} messages to {SUBSCRIBERS} subscribers")
    per_message = 1e6 / sent
    return {
        "per_second": sent / elapsed,
        "shares": [r["sent"] for r in results],
        "workers_us": sum(r["cpu"] for r in results),
        "postgres_us": postgres_cpu(data) - pg_before,
        "sink_us": cpu_seconds(sink_pid) - sink_before,
        "elapsed": elapsed,
        "scale": per_message,
    }


def reset_send(url: str) -> None:
    """Forget the send (and its audit events) so the next round sends the issue again."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        for table in ("send_recipients", "sends", "audit"):
            connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.execute("DELETE FROM schema_migrations WHERE store IN ('sends', 'audit')")


def workers_bench(server: str, data: Path) -> None:
    with smtp_sink() as (_host, port), tempfile.TemporaryDirectory() as temp:
        sink_pid = sink_process(port)
        url = new_database(server, "bench_send")
        env = worker_env(url, port)
        folders = [worker_folder(Path(temp), name) for name in ("one", "two")]
        import_subscribers(folders[0] / "outreach.toml", env, SUBSCRIBERS)
        rounds: dict[int, list[dict]] = {1: [], 2: []}
        for _ in range(REPEATS):
            for workers in (1, 2):
                reset_send(url)
                rounds[workers].append(send_round(folders[:workers], env, sink_pid, data))
        medians = {}
        for workers, runs in rounds.items():
            run = sorted(runs, key=lambda r: r["per_second"])[len(runs) // 2]
            medians[workers] = run["per_second"]
            scale = run["scale"]
            each = ", ".join(f"{r['per_second']:,.0f}" for r in runs)
            print(
                f"{workers} worker{'s' if workers > 1 else ''} x {CONNECTIONS} connections: "
                f"{run['per_second']:,.0f} msg/s (runs: "
                f"{each}; shares {run['shares']}); "
                f"CPU per message: workers {run['workers_us'] * scale:.0f} us, PostgreSQL "
                f"{run['postgres_us'] * scale:.0f} us, smtp-sink {run['sink_us'] * scale:.0f} us"
            )
        cores = os.cpu_count() or 1
        print(
            f"two workers / one: {medians[2] / medians[1]:.2f}x (goal >= 1.6x; {cores} cores, "
            f"load average {os.getloadavg()[0]:.1f}): the cores' ceiling is "
            f"{cores} s of CPU per second over the CPU per message above"
        )


def sink_process(port: int) -> int:
    """The pid of the smtp-sink listening on ``port`` (bench.newsletter starts it)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
            inode = f"socket:[{fields[9]}]"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == inode:
                    return int(entry.name)
        except OSError:
            continue
    raise RuntimeError("smtp-sink's process not found")


def ledger_rates(path_or_url: Path | str) -> dict[str, float]:
    """Ledger and send-log writes per second on one backend (a file, or a database URL)."""
    from outreach.ledger import Ledger
    from outreach.sending import SendLog, mark
    from outreach.store import bind_state

    if isinstance(path_or_url, str):
        state = Path(tempfile.mkdtemp(prefix="outreach-bench-state-"))
        bind_state(state, path_or_url)
    else:
        state = path_or_url
    ledger = Ledger(state / "ledger.sqlite")
    rates = {}
    with ledger.held_open():  # as a release holds it (no checkpoint at every close)
        start = time.perf_counter()
        for n in range(LEDGER_OPS):
            ledger.record("finding", "blog", "s3", f"one/{n}.html", "hash", None, NOW)
        rates["ledger record, one per commit"] = LEDGER_OPS / (time.perf_counter() - start)
    start = time.perf_counter()
    with ledger.transaction():
        for n in range(LEDGER_OPS):
            ledger.record("finding", "blog", "s3", f"many/{n}.html", "hash", None, NOW)
    rates["ledger record, in a transaction"] = LEDGER_OPS / (time.perf_counter() - start)
    log = SendLog(state / "ledger.sqlite")
    emails = [f"reader{n:06d}@example.com" for n in range(LEDGER_OPS)]
    log.freeze("bench", "subject", emails, NOW)
    with log.connect() as connection:
        start = time.perf_counter()
        for email in emails:
            mark(connection, "bench", email, "sent", "250")
        rates["send log, per message (autocommit)"] = LEDGER_OPS / (time.perf_counter() - start)
    if isinstance(path_or_url, str):
        bind_state(state, None)
        shutil.rmtree(state, ignore_errors=True)
    return rates


def ledger_bench(server: str) -> None:
    with tempfile.TemporaryDirectory() as temp:
        sqlite = ledger_rates(Path(temp))
    postgresql = ledger_rates(new_database(server, "bench_ledger"))
    for name in sqlite:
        print(
            f"{name}: SQLite {sqlite[name]:,.0f}/s, PostgreSQL {postgresql[name]:,.0f}/s "
            f"({postgresql[name] / sqlite[name]:.2f}x)"
        )


def main() -> None:
    print("== scale-out: workers sharing PostgreSQL ==")
    with postgres() as (server, data):
        workers_bench(server, data)
        ledger_bench(server)
    print(f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(Path(sys.argv[2]))
    else:
        main()
