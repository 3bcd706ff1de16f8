"""``outreach log``: the audit log (decisions, sends, publishes...) as lines or JSON.

Reads the ledger file's audit store directly (no Prefect, no server): the record of what went
to whom is there whether a release ran on the command line or on the team's server. Newest
last, like a log; recipients appear by their opaque id, never by address.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, ClassVar, get_args

import typer
from rich.console import Console

from outreach.audit import AuditLog, Entry, Event
from outreach.config import load_settings
from outreach.errors import OutreachError

console = Console(highlight=False, markup=False, soft_wrap=True)

EVENTS = get_args(Event)
DETAIL_WIDTH = 90
"""The short detail of a line stops here (``--json`` gives all of it)."""


class LogQueryError(OutreachError):
    """An option of ``outreach log`` that cannot be understood; nothing was read."""

    exit_code: ClassVar[int] = 2


def parse_since(text: str) -> datetime:
    """``--since``: a date (from its midnight, UTC) or a date and time (UTC unless it gives
    its offset), as ISO 8601."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LogQueryError(
            f"--since {text!r} is not a date: write it as 2027-02-01 or 2027-02-01T09:00 "
            "(UTC unless an offset such as +01:00 is given)"
        ) from None
    if len(text.strip()) == 10:  # a date alone: from its first moment
        moment = datetime.combine(date.fromisoformat(text.strip()), time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_event(event: str | None) -> str | None:
    if event is not None and event not in EVENTS:
        raise LogQueryError(
            f"--event {event!r} is not a kind of event; choose from: {', '.join(EVENTS)}"
        )
    return event


def shown_time(at: str) -> str:
    try:
        return datetime.fromisoformat(at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:  # recorded by hand or by a later version: shown as it is
        return at


def short_detail(detail: dict[str, object]) -> str:
    text = ", ".join(f"{key}={value}" for key, value in sorted(detail.items()))
    return text if len(text) <= DETAIL_WIDTH else text[: DETAIL_WIDTH - 1] + "…"


WIDTHS = (23, 10, 24, 10, 26, 9)
"""time, event, publication, actor, subject, outcome; the detail takes the rest of a line."""
HEADING = ("time", "event", "publication", "actor", "subject", "outcome", "detail")


def columns(cells: tuple[str, ...]) -> str:
    padded = [f"{cell:<{width}}" for cell, width in zip(cells, WIDTHS, strict=False)]
    return "  ".join([*padded, *cells[len(WIDTHS) :]]).rstrip()


def line(entry: Entry) -> str:
    return columns(
        (
            shown_time(entry.at),
            entry.event,
            entry.publication or "(site)",
            entry.actor or "-",
            entry.subject or "-",
            entry.outcome or "-",
            short_detail(entry.detail),
        )
    )


def as_json(entry: Entry) -> str:
    fields = ("seq", "at", "event", "publication", "actor", "subject", "outcome", "detail")
    return json.dumps({name: getattr(entry, name) for name in fields}, ensure_ascii=False)


def print_entries(entries: Iterable[Entry], json_output: bool) -> int:
    """Print the entries as they are read (a log of 100,000 sends is never held in memory);
    returns how many were printed."""
    count = 0
    if json_output:
        print("[", end="")
        for entry in entries:
            print(("," if count else "") + "\n" + as_json(entry), end="")
            count += 1
        print("\n]" if count else "]")
        return count
    for entry in entries:
        if count == 0:
            console.print(columns(HEADING))
        console.print(line(entry))
        count += 1
    return count


def log_command(
    finding: Annotated[
        str | None,
        typer.Option(
            "--finding",
            "--publication",
            help="Only this finding's events (or another kind's 'kind:id').",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="From this date (2027-02-01) or time (2027-02-01T09:00, UTC) on."),
    ] = None,
    event: Annotated[
        str | None, typer.Option(help=f"Only this kind of event: {', '.join(EVENTS)}.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="A JSON array of events, for scripts.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
        ),
    ] = None,
) -> None:
    """The audit log: every decision, send and publish, newest last (recipients by id)."""
    moment = parse_since(since) if since is not None else None
    kind = check_event(event)
    settings = load_settings(config)
    log = AuditLog(settings.paths.ledger)
    count = print_entries(log.entries(publication=finding, since=moment, event=kind), json_output)
    if count == 0 and not json_output:
        what = " and ".join(
            part
            for part in (
                f"finding '{finding}'" if finding is not None else "",
                f"kind '{kind}'" if kind else "",
                f"since {moment.isoformat()}" if moment else "",
            )
            if part
        )
        console.print(f"No audit events{' for ' + what if what else ''}.")
