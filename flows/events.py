"""Event flows: ``release-event`` and ``event-reminders``.

Thin on purpose: ``release-event`` runs ``outreach.events.release.release_events`` (the one
release sequence for ``event:<id>``, then the event's actions) with the Prefect runner; the
events' ``ScheduleReminders`` action has each reminder scheduled as a run of
``event-reminders`` at its time by any release that publishes the event's page (this flow,
``release-findings``), with an idempotency key of event, reminder and time (a release run
twice schedules each once; a moved event gets new runs, and the old ones find nothing due).
``event-reminders`` acts at its scheduled time (``flows.common.run_clock``), never earlier,
and sends through the crash-safe send log: a retried run or a worker killed midway reaches
each registrant once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.common import FAILURE_HOOKS, flow_settings, run_clock, smtp_relay, worth_retrying
from flows.release import PrefectRunner
from outreach.actions import PitchFindings, SendIssue
from outreach.finding import SLUG_PATTERN
from outreach.release import ReleaseReport

EventId = Annotated[
    str, Field(pattern=SLUG_PATTERN.pattern, description="The event's id (its file name)")
]
FLOW_OPTIONS = {"log_prints": True, **FAILURE_HOOKS}


@flow(name="release-event", **FLOW_OPTIONS)
def release_event(
    event_ids: list[EventId],
    channels: list[str] | None = None,
    dry_run: bool = False,
    config: str | None = None,
    approve_newsletter: bool | None = None,
) -> ReleaseReport:
    """Release events: their pages, then update or cancel invites to registrants, the team's
    calendar, and the announcement to subscribers (behind the newsletter's gate).

    ``approve_newsletter``: True announces without asking, False announces nothing; by
    default the gate follows ``[approval]`` and its recorded decision, and the flow pauses
    for a decision in the Prefect UI (on a server)."""
    from outreach.events.release import release_events

    settings = flow_settings(config)
    report = release_events(
        settings,
        event_ids,
        run_clock(),  # never a parameter: see flows.common.clock
        PrefectRunner(),
        channels=channels,
        dry_run=dry_run,
        approvals={SendIssue.gate or "": approve_newsletter, PitchFindings.gate or "": None},
        config=config,
    )
    get_run_logger().info(report.summary())
    return report


@task(
    name="send-reminder",
    retries=3,
    retry_delay_seconds=30,
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
)
def send_reminder_task(event_id: str, reminder: str, config: str | None) -> str:
    from outreach.events.model import read_events
    from outreach.events.reminders import BY_LABEL, send_reminder

    settings = flow_settings(config)
    event = read_events(settings)[event_id]
    return send_reminder(settings, event, BY_LABEL[reminder], run_clock(), relay=smtp_relay())


@flow(name="event-reminders", **FLOW_OPTIONS)
def event_reminders(
    event_id: EventId, reminder: Literal["24h", "1h"], config: str | None = None
) -> str:
    """Send one reminder of an event to everyone holding a seat (release-event schedules
    these; a run before the reminder's time sends nothing)."""
    summary = send_reminder_task(event_id, reminder, config)
    get_run_logger().info(summary)
    return summary
