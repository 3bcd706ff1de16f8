"""A real Prefect server and process workers for the tests (tests/test_server_mode.py,
tests/test_scale_out.py): started as a team starts them, stopped with every process they
spawned, and the few client calls the tests make on runs."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import requests

from conftest import free_port

BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
POOL = "outreach"
KEEP = {"PREFECT_TASKS_DISABLE_CACHING", "PREFECT_SERVER_ANALYTICS_ENABLED"}
"""Prefect settings of the test session that the servers, tools and workers keep."""


def environ(**extra: str) -> dict[str, str]:
    """This process's environment without the developer's Prefect and outreach settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in KEEP or not key.startswith(("PREFECT_", "OUTREACH_"))
    }
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.update(extra)
    return env


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} unreadable)"
    return f"--- last lines of {path} ---\n" + "\n".join(text[-lines:])


def proc_stat(pid: int | str) -> tuple[int, str] | None:
    """A process's parent and start time (the pair tells a process from a later one that
    reuses its id), or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[19]


def descendants(pid: int) -> dict[int, str]:
    """Every live descendant of pid, with its start time (flow runs lead their own sessions,
    so a signal to the worker's group misses them)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found_stat := proc_stat(entry.name)):
            children.setdefault(found_stat[0], []).append((int(entry.name), found_stat[1]))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child, started in children.get(todo.pop(), []):
            found[child] = started
            todo.append(child)
    return found


def stop(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM the process's group, SIGKILL it after the grace, and then any of its
    descendants still alive (those that left the group)."""
    if process.poll() is not None:
        return
    strays = descendants(process.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    for pid, started in strays.items():
        if (now := proc_stat(pid)) and now[1] == started:  # the same process, still there
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True)
class TeamServer:
    api_url: str
    env: dict[str, str]
    """For the command-line tools and workers: this server, and a PREFECT_HOME of their own."""
    log: Path


@dataclass(frozen=True)
class Worker:
    name: str
    log: Path


def client(server: TeamServer) -> Any:
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(server.api_url)


@contextlib.contextmanager
def prefect_server(folder: Path, database_url: str | None = None) -> Iterator[TeamServer]:
    """``prefect server start`` as ``make server`` runs it, on ``database_url`` (PostgreSQL,
    ``postgresql+asyncpg://``) or, without one, SQLite in ``folder``."""
    port = free_port()
    log = folder / "server.log"
    extra = {"PREFECT_HOME": str(folder / "server-home")}
    if database_url:
        extra["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    env = environ(**extra)
    began = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        api = f"http://127.0.0.1:{port}/api"
        deadline = began + 120
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            if process.poll() is not None:
                pytest.fail(f"prefect server start exited\n{tail(log)}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"the Prefect server was not healthy in 120 s\n{tail(log)}")
            time.sleep(0.25)
        print(f"\nPrefect server ready in {time.monotonic() - began:.1f} s")
        clients = environ(PREFECT_HOME=str(folder / "client-home"), PREFECT_API_URL=api)
        yield TeamServer(api, clients, log)
    finally:
        stop(process)


@dataclass
class WorkerProcess:
    worker: Worker
    process: subprocess.Popen = field(repr=False)


@contextlib.contextmanager
def process_workers(
    server: TeamServer,
    workers: Sequence[tuple[Worker, Path, list[str], dict[str, str]]],
) -> Iterator[list[WorkerProcess]]:
    """``prefect worker start --type process`` for each (worker, its folder, extra options,
    its environment on top of the server's), as ``make worker`` starts them; yields once
    every one has registered with the server."""
    started: list[WorkerProcess] = []
    try:
        for worker, folder, options, env in workers:
            command = [PREFECT, "worker", "start", "--pool", POOL, "--type", "process"]
            with worker.log.open("wb") as out:
                process = subprocess.Popen(
                    [*command, "--name", worker.name, *options],
                    cwd=folder,
                    env={**server.env, **env},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(WorkerProcess(worker, process))
        names = {w.worker.name for w in started}
        deadline = time.monotonic() + 60
        with client(server) as api:
            while names - {w.name for w in api.read_workers_for_work_pool(POOL)}:
                for each in started:
                    if each.process.poll() is not None:
                        pytest.fail(f"worker {each.worker.name} exited\n{tail(each.worker.log)}")
                if time.monotonic() > deadline:
                    logs = "\n".join(tail(w.worker.log) for w in started)
                    pytest.fail(f"the workers did not register with the server in 60 s\n{logs}")
                time.sleep(0.25)
        yield started
    finally:
        for each in started:
            stop(each.process)


def create_run(
    client: Any,
    deployment: str,
    parameters: dict[str, Any],
    scheduled_time: datetime | None = None,
) -> UUID:
    from prefect.states import Scheduled

    found = client.read_deployment_by_name(deployment)
    run = client.create_flow_run_from_deployment(
        found.id, parameters=parameters, state=Scheduled(scheduled_time=scheduled_time)
    )
    return run.id


def wait_terminal(
    client: Any, ids: list[UUID], timeout: float, workers: list[Worker]
) -> dict[UUID, Any]:
    """Poll until every run is in a final state; fail listing each run's state otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        runs = {run_id: client.read_flow_run(run_id) for run_id in ids}
        if all(run.state is not None and run.state.is_final() for run in runs.values()):
            return runs
        if time.monotonic() > deadline:
            states = "\n".join(
                f"  {run.name} {run.id} {run.parameters.get('finding_id')}: "
                f"{run.state.name if run.state else '(no state)'}"
                for run in runs.values()
            )
            logs = "\n".join(tail(worker.log, 25) for worker in workers)
            pytest.fail(f"runs not finished after {timeout:.0f} s:\n{states}\n{logs}")
        time.sleep(0.5)


def logs(client: Any, run_id: UUID) -> list[Any]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    return client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))


def wait_for_log(client: Any, run_id: UUID, pattern: str, timeout: float = 30) -> None:
    """Poll the run's logs for a line: a run's last lines reach the server a moment after its
    final state (the run's process sends its logs in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        messages = "\n".join(log.message for log in logs(client, run_id))
        if re.search(pattern, messages):
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"no log line of run {run_id} matches {pattern!r} in {timeout:.0f} s:\n{messages}"
            )
        time.sleep(0.5)


def ran_by(run: Any) -> str | None:
    """The worker that ran the flow run. Workers race for a run (each logs "submitting" it);
    the one whose Pending transition the server accepts labels the run with its name, and the
    others log "Aborted submission"."""
    return (run.labels or {}).get("prefect.worker.name")


def failure(run: Any, client: Any) -> str:
    lines = [f"{log.level} {log.message}" for log in logs(client, run.id)]
    return f"{run.name} ({run.parameters.get('finding_id')}): {run.state}\n" + "\n".join(
        lines[-30:]
    )
