"""A worker machine that vanishes leaves no run stuck Running: make bootstrap's automation marks
a run Crashed once its heartbeats stop.

Live, against a real Prefect server and a real process worker: the worker and its flow-run
process are SIGKILLed together (a power cut, as far as the server can tell), and the run must
end Crashed through the automation, not through anyone reporting it. The flow run is a small
stand-in that waits to be killed: what is under test is the server's reaction to silence, not
any outreach flow. Heartbeats every 30 s (Prefect's minimum), so the automation waits 90 s; the
test takes about two and a half minutes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import pytest
import requests
from prefect_tools import (
    POOL,
    TeamServer,
    Worker,
    client,
    descendants,
    environ,
    prefect_server,
    process_workers,
    tail,
)

from conftest import REPO

HEARTBEAT = 30
"""Prefect's shortest heartbeat period: the automation then waits 3 x 30 s."""

WAITING_FLOW = """
import os
import threading
from pathlib import Path

from prefect import flow


@flow(name="wait-until-killed")
def wait_until_killed(marker: str) -> None:
    Path(marker).write_text(str(os.getpid()))
    threading.Event().wait()
"""


def _deploy_waiting_flow(server: TeamServer, folder: Path) -> None:
    (folder / "waiting.py").write_text(WAITING_FLOW)
    with client(server) as api:
        flow_id = api.create_flow_from_name("wait-until-killed")
        api.create_deployment(
            flow_id,
            "zombie",
            work_pool_name=POOL,
            entrypoint="waiting.py:wait_until_killed",
            pull_steps=[
                {"prefect.deployments.steps.set_working_directory": {"directory": str(folder)}}
            ],
        )


def _heartbeats_seen(server: TeamServer, run_id: UUID) -> int:
    """How many heartbeat events of the run the server has stored."""
    found = requests.post(
        f"{server.api_url}/events/filter",
        json={
            "filter": {
                "event": {"name": ["prefect.flow-run.heartbeat"]},
                "resource": {"id": [f"prefect.flow-run.{run_id}"]},
            }
        },
        timeout=10,
    )
    found.raise_for_status()
    return len(found.json()["events"])


def _power_cut(process: subprocess.Popen) -> None:
    """SIGKILL the worker and every process it started, at once: nothing gets to report."""
    strays = descendants(process.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for pid in strays:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(10)


def test_runs_started_outside_a_worker_heartbeat_at_the_teams_period() -> None:
    """The CLI running a flow against the team server without the env file: Prefect's own
    default (180 s) would let the automation (3 x 60 s) crash it while it works."""
    from flows.bootstrap import HEARTBEAT_MISSES
    from flows.heartbeat import HEARTBEAT_SECONDS

    read = "from prefect.settings import get_current_settings as s; print(s().flows.heartbeat_frequency)"
    for extra, wanted in (
        ({}, HEARTBEAT_SECONDS),
        ({"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "45"}, 45),
    ):
        shown = subprocess.run(
            [sys.executable, "-c", f"import outreach_cli.main, flows.release; {read}"],
            cwd=REPO,
            env=environ(**extra),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        assert int(shown.stdout.split()[-1]) == wanted
    assert HEARTBEAT_SECONDS * HEARTBEAT_MISSES <= 180  # "within about 3 minutes" (README)


@pytest.mark.parametrize("value", ["soon", "10", "-60"])
def test_bootstrap_names_the_variable_when_the_heartbeat_period_is_unusable(value: str) -> None:
    from flows.bootstrap import BootstrapError, heartbeat_seconds

    with pytest.raises(BootstrapError, match="PREFECT_FLOWS_HEARTBEAT_FREQUENCY must be") as err:
        heartbeat_seconds({"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": value})
    assert "at least 30" in str(err.value) and repr(value) in str(err.value)
    assert heartbeat_seconds({"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": " 90 "}) == 90


@pytest.mark.prefect
@pytest.mark.slow
def test_a_run_whose_worker_is_killed_ends_crashed_through_the_automation(
    tmp_path: Path,
) -> None:
    from prefect.states import Scheduled

    from flows.bootstrap import HEARTBEAT_MISSES, ZOMBIE_AUTOMATION

    with prefect_server(tmp_path) as server:
        booted = subprocess.run(
            [sys.executable, "-m", "flows.bootstrap"],
            cwd=REPO,
            env={**server.env, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert booted.returncode == 0, booted.stdout + booted.stderr
        assert f"automation {ZOMBIE_AUTOMATION}: created" in booted.stdout, booted.stdout
        _deploy_waiting_flow(server, tmp_path)

        worker = Worker(f"outreach-zombie-{os.getpid()}", tmp_path / "worker.log")
        env = {
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        marker = tmp_path / "running.pid"
        with (
            process_workers(server, [(worker, tmp_path, [], env)]) as [started],
            client(server) as api,
        ):
            deployment = api.read_deployment_by_name("wait-until-killed/zombie")
            run_id = api.create_flow_run_from_deployment(
                deployment.id, parameters={"marker": str(marker)}, state=Scheduled()
            ).id

            deadline = time.monotonic() + 90
            while not (marker.exists() and _heartbeats_seen(server, run_id)):
                if time.monotonic() > deadline:
                    pytest.fail(f"the run sent no heartbeat in 90 s\n{tail(worker.log)}")
                time.sleep(0.5)
            assert api.read_flow_run(run_id).state.is_running()

            _power_cut(started.process)
            killed = time.monotonic()
            pid = int(marker.read_text())
            assert not Path(f"/proc/{pid}").exists() or "Z" in _state_of(pid)
            assert api.read_flow_run(run_id).state.is_running()  # nobody reported anything

            deadline = killed + HEARTBEAT * HEARTBEAT_MISSES + 60
            while not (run := api.read_flow_run(run_id)).state.is_final():
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"run still {run.state.name} {time.monotonic() - killed:.0f} s after "
                        f"its worker was killed\n{tail(server.log)}"
                    )
                time.sleep(1)
            took = time.monotonic() - killed
            print(f"\nzombie run marked {run.state.name} {took:.0f} s after the kill")
            assert run.state.is_crashed(), run.state
            assert "No heartbeat" in (run.state.message or ""), run.state.message


def _state_of(pid: int) -> str:
    """The process's state letter (Z: a zombie its parent has not reaped)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return ""
