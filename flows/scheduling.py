"""Runs an after-publish action asks for later (``outreach.actions.ScheduledRun``), started by
the server at their time: one ``run_deployment`` each with its idempotency key, so a release
run twice schedules each run once. A missing deployment never fails the release: the report
says what to deploy, or what to run by hand and when."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import get_run_logger
from prefect.deployments import run_deployment

from flows.common import run_clock
from outreach.actions import ScheduledRun


def schedule_runs(runs: Sequence[ScheduledRun]) -> list[str]:
    """Schedule each run still ahead; returns one note per run for the release report."""
    now = run_clock()
    notes: list[str] = []
    for wanted in runs:
        if wanted.at <= now:
            continue
        try:
            run = run_deployment(
                wanted.deployment,
                parameters=dict(wanted.parameters),
                scheduled_time=wanted.at,
                idempotency_key=wanted.key,
                timeout=0,
                as_subflow=False,
            )
        except Exception as exc:  # a missing deployment must not fail the release
            get_run_logger().warning("could not schedule %s: %s", wanted.key, exc)
            notes.append(
                f"Could not schedule {wanted.label} ({exc}); deploy with 'prefect deploy "
                f"--all', or: {wanted.note}"
            )
            continue
        notes.append(f"Scheduled {wanted.label} for {wanted.at.isoformat()} (run {run.id}).")
    return notes
