"""Server mode end to end: PostgreSQL, a real Prefect server, bootstrap, deploy, two workers.

What a comms team runs (README, "Running for a team"): ``make server`` with its database in
PostgreSQL, ``make bootstrap`` (twice: the second run changes nothing), ``make deploy`` from the
checkout, and ``make worker`` on two machines, here two worker processes. Then releases
triggered at once spread over both workers, an embargo lift scheduled a few seconds ahead does
not start early, and a release of an invalid finding fails with the validation message in its
logs (and is posted to the failure webhook bootstrap stored).

Everything is started here and stopped at the end; PostgreSQL comes from Debian's packages
(``make test`` installs them as root: ``tests/servers/postgres.sh install``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from postgres_tools import new_database
from prefect_tools import (
    POOL,
    PREFECT,
    TeamServer,
    Worker,
    prefect_server,
    process_workers,
)
from prefect_tools import client as _client
from prefect_tools import create_run as _create_run
from prefect_tools import failure as _failure
from prefect_tools import ran_by as _ran_by
from prefect_tools import wait_for_log as _wait_for_log
from prefect_tools import wait_terminal as _wait_terminal

from conftest import REPO, free_port

pytestmark = pytest.mark.prefect


RELEASED = [
    "field-schools-and-premium-sharing",
    "origin-government-partnerships",
    "procurement-long-term-offtake",
    "cotton-plastic-contamination",  # under embargo until 2027: held, its lift scheduled
]
"""Findings without an episode (no mastering), released at once."""
EMBARGOED = "cotton-plastic-contamination"


@pytest.fixture(scope="module")
def database_url(postgres_server: str) -> str:
    """A database of its own for the team's Prefect server, on the session's PostgreSQL, in
    the URL form Prefect's server takes."""
    return new_database(postgres_server).replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture(scope="module")
def team_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TeamServer]:
    """``prefect server start`` on PostgreSQL, as ``make server`` runs it."""
    with prefect_server(tmp_path_factory.mktemp("prefect-server"), database_url) as server:
        yield server


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's sample content and configuration, shared by the runs."""
    folder = tmp_path_factory.mktemp("sample")
    for name in ("findings", "media", "press", "templates"):
        shutil.copytree(REPO / name, folder / name)
    shutil.copy(REPO / "outreach.toml", folder / "outreach.toml")
    return folder


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A chat webhook stand-in: the address, and the JSON bodies posted to it."""
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with contextlib.suppress(ValueError):
                received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/secret-path", received
    finally:
        server.shutdown()
        server.server_close()


def _bootstrap(server: TeamServer, **environ: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.bootstrap"],
        cwd=REPO,
        env={**server.env, **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )


SECRET_VALUES = {
    "OUTREACH_SMTP_PASSWORD": "smtp-test-secret-3141",
    "OUTREACH_WORDPRESS_APP_PASSWORD": "wp-test-secret-2718",
}


@pytest.fixture(scope="module")
def bootstrapped(
    team_server: TeamServer, sample: Path, webhook: tuple[str, list[dict]]
) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """``make bootstrap``, run twice with the same environment."""
    environ = {
        **SECRET_VALUES,
        "OUTREACH_FAILURE_WEBHOOK": webhook[0],
        "OUTREACH_CONFIG": str(sample / "outreach.toml"),
    }
    first = _bootstrap(team_server, **environ)
    assert first.returncode == 0, first.stdout + first.stderr
    second = _bootstrap(team_server, **environ)
    assert second.returncode == 0, second.stdout + second.stderr
    return first, second


@pytest.fixture(scope="module")
def deployed(team_server: TeamServer, bootstrapped: object) -> None:
    """``make deploy``: every deployment of prefect.yaml, from the checkout."""
    began = time.monotonic()
    done = subprocess.run(
        [PREFECT, "--no-prompt", "deploy", "--all"],
        cwd=REPO,
        env={**team_server.env, "PWD": str(REPO)},  # the pull step's {{ $PWD }}
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    print(f"server-mode: prefect deploy --all took {time.monotonic() - began:.1f} s")


@pytest.fixture(scope="module")
def workers(
    team_server: TeamServer, deployed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Worker]]:
    """Two process workers, as ``make worker`` starts them on two machines. At most two runs
    each at a time, so runs triggered together go to both; they poll every second."""
    folder = tmp_path_factory.mktemp("workers")
    env = {
        "OUTREACH_LIMITS": "strict",  # bootstrap made the limits; a missing one fails the run
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    limit = ["--limit", "2"]
    wanted = [
        (Worker(f"outreach-test-{n}-{os.getpid()}", folder / f"worker-{n}.log"), REPO, limit, env)
        for n in (1, 2)
    ]
    with process_workers(team_server, wanted) as started:
        yield [each.worker for each in started]


def test_bootstrap_creates_everything_then_changes_nothing(
    team_server: TeamServer,
    bootstrapped: tuple[subprocess.CompletedProcess, subprocess.CompletedProcess],
    sample: Path,
    webhook: tuple[str, list[dict]],
) -> None:
    from flows.limits import wanted_limits

    first, second = bootstrapped
    limits = wanted_limits({})
    items = 1 + len(limits) + 1 + 3 + 1  # pool, limits, automation, secret blocks, outreach_config
    first_lines = [line for line in first.stdout.splitlines() if ": created" in line]
    assert len(first_lines) == items, first.stdout
    assert "work pool outreach: created" in first.stdout
    assert "secret outreach-failure-webhook: created" in first.stdout
    unchanged = [line for line in second.stdout.splitlines() if ": unchanged" in line]
    assert len(unchanged) == items, second.stdout
    assert "Nothing to change" in second.stdout
    assert not re.search(r": (created|updated)", second.stdout), second.stdout
    for secret in [*SECRET_VALUES.values(), "secret-path"]:
        assert secret not in first.stdout + first.stderr + second.stdout + second.stderr

    with _client(team_server) as client:
        assert client.read_work_pool(POOL).type == "process"
        for name, (limit, decay) in limits.items():
            found = client.read_global_concurrency_limit_by_name(name)
            assert (found.limit, found.active) == (limit, True), name
            assert found.slot_decay_per_second == pytest.approx(decay or 0.0), name
        for block in ("outreach-smtp-password", "outreach-wordpress-app-password"):
            assert client.read_block_document_by_name(block, "secret").data["value"]
        variable = client.read_variable_by_name("outreach_config")
        assert variable is not None and variable.value == str(sample / "outreach.toml")

    changed = _bootstrap(
        team_server, OUTREACH_SMTP_RATE="20", OUTREACH_CONFIG=str(sample / "outreach.toml")
    )
    assert changed.returncode == 0, changed.stderr
    assert "concurrency limit outreach-smtp-rate: updated" in changed.stdout
    assert "variable outreach_config: unchanged" in changed.stdout
    restored = _bootstrap(team_server, OUTREACH_CONFIG=str(sample / "outreach.toml"))
    assert "concurrency limit outreach-smtp-rate: updated" in restored.stdout

    missing = _bootstrap(team_server, PREFECT_API_URL="")
    assert missing.returncode != 0 and "PREFECT_API_URL is not set" in missing.stderr
    down = _bootstrap(team_server, PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api")
    assert down.returncode != 0 and "unreachable" in down.stderr


def test_bootstrap_makes_one_automation_that_crashes_runs_whose_worker_vanished(
    team_server: TeamServer,
    bootstrapped: tuple[subprocess.CompletedProcess, subprocess.CompletedProcess],
) -> None:
    from flows.bootstrap import HEARTBEAT_SECONDS, ZOMBIE_AUTOMATION

    first, second = bootstrapped
    assert f"automation {ZOMBIE_AUTOMATION}: created" in first.stdout, first.stdout
    assert f"automation {ZOMBIE_AUTOMATION}: unchanged" in second.stdout, second.stdout

    with _client(team_server) as client:
        found = [a for a in client.read_automations() if a.name == ZOMBIE_AUTOMATION]
        assert len(found) == 1, found
        automation = found[0]
        assert automation.enabled
        trigger = automation.trigger
        assert trigger.type == "event" and trigger.posture == "Proactive"
        assert trigger.after == {"prefect.flow-run.heartbeat"}
        assert trigger.expect == {
            "prefect.flow-run.heartbeat",
            "prefect.flow-run.Completed",
            "prefect.flow-run.Failed",
            "prefect.flow-run.Cancelled",
            "prefect.flow-run.Crashed",
        }
        assert trigger.for_each == {"prefect.resource.id"}
        assert trigger.match.model_dump() == {"prefect.resource.id": ["prefect.flow-run.*"]}
        assert trigger.threshold == 1
        assert trigger.within == timedelta(seconds=3 * HEARTBEAT_SECONDS)
        [action] = automation.actions
        assert action.type == "change-flow-run-state" and action.state.value == "CRASHED"

        # A team that changes its heartbeat period gets the automation brought up to date.
        faster = _bootstrap(team_server, PREFECT_FLOWS_HEARTBEAT_FREQUENCY="40")
        assert f"automation {ZOMBIE_AUTOMATION}: updated" in faster.stdout, faster.stdout
        [updated] = client.read_automations_by_name(ZOMBIE_AUTOMATION)
        assert updated.id == automation.id
        assert updated.trigger.within == timedelta(seconds=120)
        too_fast = _bootstrap(team_server, PREFECT_FLOWS_HEARTBEAT_FREQUENCY="10")
        assert too_fast.returncode != 0  # Prefect's own settings refuse it, before any change
        assert "heartbeat_frequency" in too_fast.stderr.lower(), too_fast.stderr
        [kept] = client.read_automations_by_name(ZOMBIE_AUTOMATION)
        assert kept.trigger.within == timedelta(seconds=120)
        restored = _bootstrap(team_server)
        assert f"automation {ZOMBIE_AUTOMATION}: updated" in restored.stdout, restored.stdout
        assert len(client.read_automations_by_name(ZOMBIE_AUTOMATION)) == 1


def test_releases_triggered_together_run_on_both_workers(
    team_server: TeamServer, workers: list[Worker], sample: Path
) -> None:
    config = str(sample / "outreach.toml")
    began = time.monotonic()
    with _client(team_server) as client:
        ids = [
            _create_run(
                client,
                "release-finding/release-finding",
                # The first run names no config: the server's outreach_config variable applies.
                {"finding_id": finding, "approve_pitches": True}
                | ({"config": config} if n else {}),
            )
            for n, finding in enumerate(RELEASED)
        ]
        runs = _wait_terminal(client, ids, 150, workers)
        print(f"server-mode: {len(ids)} releases finished in {time.monotonic() - began:.1f} s")
        failed = [_failure(run, client) for run in runs.values() if not run.state.is_completed()]
        assert not failed, "\n\n".join(failed)

        ran = {run.name: _ran_by(run) for run in runs.values()}
        assert len(ran) == len(ids), "flow run names collide"
        by_worker = {w.name: sorted(n for n, by in ran.items() if by == w.name) for w in workers}
        print(f"server-mode: runs per worker {by_worker}")
        assert sorted(ran) == sorted(n for names in by_worker.values() for n in names), ran
        assert all(by_worker.values()), f"a worker ran nothing: {by_worker}"
        for worker in workers:  # each worker's own output agrees
            output = worker.log.read_text(errors="replace")
            for name in ran:
                started = f"Flow run '{name}' submitted to infrastructure" in output
                assert started == (name in by_worker[worker.name]), (name, worker.log)

        lift = [
            run
            for run in client.read_flow_runs()
            if run.parameters.get("finding_id") == EMBARGOED and run.id not in ids
        ]
        assert len(lift) == 1 and lift[0].state.is_scheduled(), lift
        assert lift[0].expected_start_time.year == 2027

    for finding in RELEASED:
        page = sample / "public" / "blog" / finding / "index.html"
        assert page.is_file() == (finding != EMBARGOED), page


def test_a_scheduled_embargo_lift_does_not_start_early(
    team_server: TeamServer, workers: list[Worker], sample: Path
) -> None:
    scheduled = datetime.now(UTC) + timedelta(seconds=15)
    with _client(team_server) as client:
        run_id = _create_run(
            client,
            "lift-embargo/lift-embargo",
            {
                "finding_id": EMBARGOED,
                "config": str(sample / "outreach.toml"),
                "approve_pitches": True,
            },
            scheduled_time=scheduled,
        )
        run = _wait_terminal(client, [run_id], 120, workers)[run_id]
        assert run.state.is_completed(), _failure(run, client)
        assert _ran_by(run) in {worker.name for worker in workers}
        pending = [
            state.timestamp for state in client.read_flow_run_states(run_id) if state.is_pending()
        ]
    # A worker took it early (workers prefetch runs due within 10 s), so the wait before it
    # started was the server's doing.
    assert pending and min(pending) < scheduled - timedelta(seconds=2), (pending, scheduled)
    # Prefect rounds the remaining wait to whole seconds (WaitForScheduledTime): a run may
    # start up to half a second before its scheduled time, never earlier.
    assert run.start_time is not None
    assert run.start_time >= scheduled - timedelta(seconds=0.5), (run.start_time, scheduled)
    assert run.expected_start_time == scheduled


def test_an_invalid_finding_fails_with_the_validation_message_in_the_run_logs(
    team_server: TeamServer,
    workers: list[Worker],
    tmp_path: Path,
    webhook: tuple[str, list[dict]],
) -> None:
    for name in ("findings", "media", "press", "templates"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "outreach.toml", tmp_path / "outreach.toml")
    broken = tmp_path / "findings" / "field-schools-and-premium-sharing.md"
    text = broken.read_text(encoding="utf-8")
    broken.write_text(re.sub(r"(?m)^topics: .*$", "topics: [no-such-topic]", text, count=1))

    with _client(team_server) as client:
        run_id = _create_run(
            client,
            "release-finding/release-finding",
            {
                "finding_id": "field-schools-and-premium-sharing",
                "config": str(tmp_path / "outreach.toml"),
                "approve_pitches": True,
            },
        )
        run = _wait_terminal(client, [run_id], 120, workers)[run_id]
        assert run.state.is_failed(), _failure(run, client)
        _wait_for_log(
            client,
            run_id,
            r"field-schools-and-premium-sharing\.md: topics\[0\]: 'no-such-topic' is not one of",
        )
    assert not (tmp_path / "public").exists()

    # The failure hook posts to the webhook bootstrap stored as a Secret block.
    deadline = time.monotonic() + 30
    while not any("field-schools-and-premium-sharing" in str(body) for body in webhook[1]):
        assert time.monotonic() < deadline, f"no failure posted to the webhook: {webhook[1]}"
        time.sleep(0.25)
