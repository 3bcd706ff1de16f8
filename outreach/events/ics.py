"""Calendar files for events (RFC 5545, written with ``icalendar``).

One function makes every calendar an event appears in: the public ``events.ics`` and
``events/<id>.ics``, and the invites, updates and cancellations mailed to registrants
(``method`` REQUEST or CANCEL, ``sequence`` bumped by the caller on each published change).

- UID ``<id>@<site host>``: the same event is the same calendar entry everywhere, so an
  update or a cancellation replaces the entry a registrant already has.
- Times carry the event's IANA zone with its ``VTIMEZONE``, so a calendar shows the right
  hour after a daylight-saving change; ``DTSTAMP`` comes from the event's own dates (output
  stays deterministic: no "now").
- The private join link is written only when the caller asks (``with_join_url``): an invite
  to a confirmed registrant. No public file ever carries it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, timedelta
from typing import Literal
from urllib.parse import urlsplit

from icalendar import Calendar, vCalAddress
from icalendar import Event as CalendarEvent

from outreach.config import Settings
from outreach.events.model import Event
from outreach.urls import event_path

Method = Literal["PUBLISH", "REQUEST", "CANCEL"]
PRODID = "-//Durable Supply Chains//outreach events//EN"


def event_uid(event: Event, settings: Settings) -> str:
    """``<id>@<site host>``: stable for the event's whole life."""
    host = urlsplit(settings.site.base_url).hostname or "localhost"
    return f"{event.id}@{host}"


def event_page_url(event: Event, settings: Settings) -> str:
    return settings.site.base_url + event_path(event.id)


def _description(event: Event, settings: Settings, with_join_url: bool) -> str:
    lines = [event.summary, "", f"Details: {event_page_url(event, settings)}"]
    if with_join_url:
        lines += ["", f"Join: {event.join_url}"]
    if event.agenda:
        lines += ["", "Agenda:"]
        for item, at in zip(event.agenda, event.agenda_times(), strict=True):
            who = f" ({item.speaker})" if item.speaker else ""
            lines.append(f"{event.clock(at)} {item.title}{who}")
    return "\n".join(lines)


def _component(
    event: Event, settings: Settings, method: Method, sequence: int, with_join_url: bool
) -> CalendarEvent:
    entry = CalendarEvent()
    entry.add("uid", event_uid(event, settings))
    # From the event's own dates: the same event renders the same bytes on every run.
    entry.add("dtstamp", (event.announce or event.starts).astimezone(UTC))
    entry.add("dtstart", event.local(event.starts))
    entry.add("dtend", event.local(event.ends))
    entry.add("sequence", sequence)
    entry.add("summary", event.title)
    entry.add("description", _description(event, settings, with_join_url))
    entry.add("url", event_page_url(event, settings))
    entry.add("location", event.join_url if with_join_url else "Online")
    entry.add("categories", [event.kind, *event.topics])
    entry.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    entry.add("transp", "OPAQUE")
    if method != "PUBLISH":
        organizer = vCalAddress(f"mailto:{settings.newsletter.from_email}")
        organizer.params["cn"] = settings.newsletter.from_name
        entry.add("organizer", organizer)
    return entry


def _calendar(method: Method, name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    calendar.add("x-wr-calname", name)
    return calendar


def event_calendar(
    event: Event,
    settings: Settings,
    method: Method = "PUBLISH",
    sequence: int = 0,
    with_join_url: bool = False,
    attendee: str | None = None,
) -> bytes:
    """One event as a calendar file: the public ``.ics`` (PUBLISH), an invite or update
    (REQUEST) or a cancellation (CANCEL). ``attendee``: the registrant's address on an
    invite; ``with_join_url``: only for confirmed registrants, never for a public file."""
    calendar = _calendar(method, event.title)
    entry = _component(event, settings, method, sequence, with_join_url)
    if attendee is not None:
        address = vCalAddress(f"mailto:{attendee}")
        address.params["role"] = "REQ-PARTICIPANT"
        address.params["partstat"] = "ACCEPTED"
        entry.add("attendee", address)
    calendar.add_component(entry)
    _add_zones(calendar, [event])
    return calendar.to_ical()


def events_calendar(events: Iterable[Event], settings: Settings) -> bytes:
    """Every event in one public calendar feed (``events.ics``), in start order."""
    calendar = _calendar("PUBLISH", f"{settings.site.title}: events")
    ordered = sorted(events, key=lambda e: (e.starts, e.id))
    for event in ordered:
        calendar.add_component(_component(event, settings, "PUBLISH", 0, False))
    _add_zones(calendar, ordered)
    return calendar.to_ical()


def _add_zones(calendar: Calendar, events: list[Event]) -> None:
    """A VTIMEZONE for each zone used, covering the events' years (not 1970 to 2038: the
    transitions around the event are what a calendar needs, and the file stays small)."""
    if events:
        first = min(event.starts for event in events).date() - timedelta(days=366)
        last = max(event.ends for event in events).date() + timedelta(days=366)
        calendar.add_missing_timezones(date(first.year, 1, 1), date(last.year + 1, 1, 1))
