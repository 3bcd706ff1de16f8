"""Releasing some events: the one release sequence for ``event:<id>``; the events channel's
after-publish hook returns each event's actions (update or cancel invites, the calendar push,
the gated announcement), exactly as in a release of everything.

Every caller runs this: ``outreach release --event`` on embedded defaults with the plain
runner, the ``release-event`` flow with the Prefect runner (each action a task, the
announcement behind the newsletter's gate). A dry run changes nothing and mails nobody.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from outreach.config import Settings
from outreach.release import ReleaseReport, ReleaseRequest, run_release
from outreach.release_steps import ReleaseError
from outreach.runner import Runner


def event_catalog(settings: Settings) -> Mapping:
    from outreach.events.model import read_events

    return read_events(settings)


def check_event_ids(settings: Settings, event_ids: Sequence[str]) -> None:
    """Every id names an event file (all validated first), or ReleaseError naming the fix."""
    events = event_catalog(settings)
    unknown = [i for i in event_ids if i not in events]
    if unknown:
        raise ReleaseError(
            f"no event named {', '.join(repr(u) for u in unknown)} in {settings.paths.events}; "
            f"known: {', '.join(sorted(events)) or 'none'}"
        )


def release_events(
    settings: Settings,
    event_ids: Sequence[str],
    now: datetime,
    runner: Runner,
    *,
    channels: Sequence[str] | None = None,
    dry_run: bool = False,
    approvals: Mapping[str, bool | None] | None = None,
    config: str | None = None,
) -> ReleaseReport:
    check_event_ids(settings, event_ids)
    request = ReleaseRequest(
        settings,
        now,
        [f"event:{i}" for i in event_ids],
        channels=channels,
        dry_run=dry_run,
        approvals=dict(approvals or {}),
        config=config,
    )
    return run_release(request, runner)
