"""``outreach events check|list|remind`` and ``outreach registrations export``, and the
``--event`` path of ``outreach release``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from outreach.config import Settings, load_settings

console = Console(highlight=False, markup=False)
events_app = typer.Typer(help="Webinars and workshops: check, list, remind.", no_args_is_help=True)
registrations_app = typer.Typer(help="Event registrations.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
    ),
]


def _events(settings: Settings) -> dict:
    from outreach.events.model import read_events

    return read_events(settings)


def _event(settings: Settings, event_id: str):
    from outreach.events.release import check_event_ids

    check_event_ids(settings, [event_id])
    return _events(settings)[event_id]


@events_app.command("check")
def events_check(config: ConfigOption = None) -> None:
    """Validate every event file; list the problems of all of them at once."""
    events = _events(load_settings(config))
    console.print(f"{len(events)} event file(s) valid.")


@events_app.command("list")
def events_list(config: ConfigOption = None) -> None:
    """Events with their times, registrations and reminders sent."""
    from outreach.events.registrations import RegistrationStore
    from outreach.events.reminders import next_due, sent_counts

    settings = load_settings(config)
    now = datetime.now(UTC)
    store = RegistrationStore(settings.paths.subscribers)
    table = Table("event", "starts (UTC)", "zone", "seats", "registered", "reminders")
    for event in sorted(_events(settings).values(), key=lambda e: e.starts):
        counts = store.counts(event.id)
        seats = str(event.registration.capacity or "no limit")
        registered = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"
        sent = sent_counts(settings, event)
        upcoming = next_due(event, now)
        reminders = ", ".join(f"{label}: {n} sent" for label, n in sent.items())
        if upcoming is not None:
            reminders += f"; next {upcoming[0].label} at {upcoming[1].isoformat()}"
        table.add_row(
            event.id,
            event.starts.astimezone(UTC).isoformat(),
            event.timezone,
            seats,
            registered,
            reminders,
        )
    console.print(table)


@events_app.command("remind")
def events_remind(
    event_id: Annotated[str, typer.Argument(help="The event's id.")],
    config: ConfigOption = None,
) -> None:
    """Send the reminder due now (24 hours or 1 hour before the start), and say when the next
    one is due. A re-run after a failure resumes: nobody gets a reminder twice."""
    from outreach.events.reminders import send_due

    settings = load_settings(config)
    for note in send_due(settings, _event(settings, event_id), datetime.now(UTC)):
        console.print(note, soft_wrap=True)


@registrations_app.command("export")
def registrations_export(
    event_id: Annotated[str, typer.Argument(help="The event's id.")],
    config: ConfigOption = None,
) -> None:
    """Print the event's registrations as CSV (cells safe to open in a spreadsheet)."""
    from outreach.events.registrations import RegistrationStore

    settings = load_settings(config)
    _event(settings, event_id)
    typer.echo(RegistrationStore(settings.paths.subscribers).export_csv(event_id), nl=False)


def release_events_command(
    settings: Settings,
    event_ids: list[str],
    channels: list[str] | None,
    dry_run: bool,
    approve: bool,
    config: str | None,
):
    """``outreach release --event``: the release-event flow on a server, directly without."""
    from outreach.actions import SendIssue
    from outreach_cli import runs

    approvals = runs.approvals_for(approve)
    if runs.prefect_server():
        from flows.events import release_event
        from outreach_cli.main import quiet_expected_tracebacks

        quiet_expected_tracebacks()
        return release_event(
            event_ids, channels, dry_run, config, approvals.get(SendIssue.gate or "")
        )
    from outreach.events.release import release_events
    from outreach.runner import PlainRunner

    runs.show_notices()
    return release_events(
        settings,
        event_ids,
        datetime.now(UTC),
        PlainRunner(),
        channels=channels,
        dry_run=dry_run,
        approvals=approvals,
        config=config,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
    app.add_typer(registrations_app, name="registrations")
