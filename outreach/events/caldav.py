"""The "calendar" platform: the team's CalDAV calendar holds every released event.

An event is one calendar object resource named after its UID (``<collection>/<uid>.ics``):
a PUT creates or replaces it (RFC 4791 5.3.2), so a release run twice leaves one entry, and a
change of time arrives as the same UID with a higher SEQUENCE; a cancelled event is DELETEd.
The team's copy carries no join link beyond what the team's calendar already may see: it is
the organiser's calendar. The password comes from OUTREACH_CALDAV_PASSWORD and is never put
in a message.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import requests
from icalendar import Calendar

from outreach.config import Settings
from outreach.errors import OutreachError, Retryable
from outreach.events.status import is_cancelled

if TYPE_CHECKING:
    from outreach.events.model import Event

PASSWORD_VARIABLE = "OUTREACH_CALDAV_PASSWORD"


class CalendarError(OutreachError):
    """The CalDAV server refused a change; the message says which and what to check."""


class CalendarUnavailable(CalendarError, Retryable):
    """The CalDAV server could not be reached or answered 5xx: safe to retry."""


def enabled(settings: Settings) -> bool:
    return bool(settings.calendar.url)


def _resource(settings: Settings, uid: str) -> str:
    base = settings.calendar.url or ""
    return f"{base if base.endswith('/') else base + '/'}{quote(uid, safe='')}.ics"


def _session(settings: Settings) -> requests.Session:
    session = requests.Session()
    if settings.calendar.username:
        session.auth = (settings.calendar.username, os.environ.get(PASSWORD_VARIABLE, ""))
    return session


def _request(settings: Settings, method: str, uid: str, body: bytes | None = None) -> int:
    where = urlsplit(settings.calendar.url or "").netloc
    headers = {"Content-Type": "text/calendar; charset=utf-8"} if body is not None else {}
    try:
        with _session(settings) as session:
            answer = session.request(
                method,
                _resource(settings, uid),
                data=body,
                headers=headers,
                timeout=settings.calendar.timeout_seconds,
            )
    except requests.RequestException as exc:
        raise CalendarUnavailable(
            f"calendar: cannot reach the CalDAV server at {where} ({type(exc).__name__}); "
            "nothing was changed there: release again once it answers"
        ) from None
    if answer.status_code >= 500:
        raise CalendarUnavailable(
            f"calendar: the CalDAV server at {where} answered {answer.status_code} to {method}; "
            "release again later"
        )
    if answer.status_code in (401, 403):
        raise CalendarError(
            f"calendar: the CalDAV server at {where} refused the login ({answer.status_code}); "
            f"check calendar.username and {PASSWORD_VARIABLE}"
        )
    if answer.status_code >= 400 and not (method == "DELETE" and answer.status_code == 404):
        raise CalendarError(
            f"calendar: the CalDAV server at {where} answered {answer.status_code} to {method} "
            "of the event; check calendar.url names a calendar collection"
        )
    return answer.status_code


def push_event(settings: Settings, event: Event, calendar: bytes) -> str:
    """Create or update the event by its UID; or delete it when it is cancelled."""
    parsed = Calendar.from_ical(calendar)
    uid = str(next(iter(parsed.walk("VEVENT")))["UID"])
    if is_cancelled(event):
        code = _request(settings, "DELETE", uid)
        return f"calendar: deleted '{event.id}' ({'gone already' if code == 404 else code})."
    parsed.pop("METHOD", None)  # a stored calendar object carries no METHOD (RFC 4791 4.1)
    code = _request(settings, "PUT", uid, parsed.to_ical())
    return f"calendar: {'created' if code == 201 else 'updated'} '{event.id}' ({code})."
