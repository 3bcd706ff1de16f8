"""What an event's pages show, computed without templates: times in many zones, JSON-LD,
the transcript from the captions. Pure: the release's ``now`` is a parameter."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from outreach.events.model import Event
from outreach.podcast.transcript import Cue, read_transcript

COMMON_ZONES: tuple[tuple[str, str], ...] = (
    ("Los Angeles", "America/Los_Angeles"),
    ("New York", "America/New_York"),
    ("São Paulo", "America/Sao_Paulo"),
    ("London", "Europe/London"),
    ("Berlin, Paris", "Europe/Berlin"),
    ("Accra", "Africa/Accra"),
    ("Nairobi, Kampala", "Africa/Nairobi"),
    ("New Delhi", "Asia/Kolkata"),
    ("Jakarta", "Asia/Jakarta"),
    ("Tokyo", "Asia/Tokyo"),
    ("Sydney", "Australia/Sydney"),
)
"""Where the programme's audience is: the page lists the start time in each."""


@dataclass(frozen=True)
class ZoneTime:
    label: str
    zone: str
    starts: str
    ends: str


def _when(moment: datetime) -> str:
    """'Tue 10 March 2026, 14:00 GMT': the day, the time and the zone's abbreviation."""
    return f"{moment:%a} {moment.day} {moment:%B %Y, %H:%M} {moment.tzname()}"


def when(event: Event, zone: str | None = None) -> tuple[str, str]:
    """The start and end as readers see them in ``zone`` (default: the event's own)."""
    tz = zoneinfo.ZoneInfo(zone or event.timezone)
    return _when(event.starts.astimezone(tz)), f"{event.ends.astimezone(tz):%H:%M %Z}"


def zone_times(event: Event) -> list[ZoneTime]:
    """The start and end in UTC, the event's zone and the common zones (each once)."""
    rows = [ZoneTime(f"{event.timezone} (the event's time)", event.timezone, *when(event))]
    rows.append(ZoneTime("UTC", "UTC", *when(event, "UTC")))
    for label, zone in COMMON_ZONES:
        if zone != event.timezone:
            rows.append(ZoneTime(label, zone, *when(event, zone)))
    return rows


def event_json_ld(event: Event, page_url: str, image_url: str, organisation: str) -> dict:
    """schema.org ``Event``, online: the location is the event's page, never the join link."""
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": event.title,
        "description": event.summary,
        "startDate": event.local(event.starts).isoformat(),
        "endDate": event.local(event.ends).isoformat(),
        "eventAttendanceMode": "https://schema.org/OnlineEventAttendanceMode",
        "eventStatus": "https://schema.org/EventScheduled",
        "location": {"@type": "VirtualLocation", "url": page_url},
        "image": [image_url],
        "url": page_url,
        "organizer": {"@type": "Organization", "name": organisation},
        "performer": [
            {
                "@type": "Person",
                "name": speaker.name,
                "jobTitle": speaker.role,
                "affiliation": {"@type": "Organization", "name": speaker.organisation},
            }
            for speaker in event.speakers
        ],
        "isAccessibleForFree": True,
    }
    if event.registration.capacity is not None:
        data["maximumAttendeeCapacity"] = event.registration.capacity
    return data


def transcript(event: Event, media: Path) -> list[Cue]:
    """The captions as a transcript (empty when the event has none)."""
    return read_transcript(media / event.captions) if event.captions else []


def split_events(events: list[Event], now: datetime | None) -> tuple[list[Event], list[Event]]:
    """(upcoming soonest first, past most recent first) at the release's ``now``."""
    moment = now or datetime.max.replace(tzinfo=UTC)
    upcoming = sorted((e for e in events if e.is_upcoming(moment)), key=lambda e: (e.starts, e.id))
    past = sorted(
        (e for e in events if not e.is_upcoming(moment)),
        key=lambda e: (e.starts, e.id),
        reverse=True,
    )
    return upcoming, past
