"""What is scheduled: future releases, embargo lifts and newsletter sends, for the calendar.

Read from the findings themselves (their ``published`` and ``embargo`` times), the same data
the release holds findings by and schedules its lift runs from on a server, so the calendar
cannot disagree with what will happen. Times are shown in the team's zone and in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from outreach.channels import available_channels
from outreach.config import Settings
from outreach.finding import Finding

ORDER = {"release": 0, "embargo lift": 1, "newsletter": 2}


@dataclass(frozen=True)
class Scheduled:
    """One thing due at a time: what happens, to which finding."""

    at: datetime
    what: str
    finding_id: str
    detail: str


def upcoming(catalog: Mapping[str, Finding], settings: Settings, now: datetime) -> list[Scheduled]:
    """Everything due after ``now``, soonest first (retracted findings have nothing due)."""
    channels = set(settings.channels) or set(available_channels())
    due: list[Scheduled] = []
    for finding in catalog.values():
        if finding.retraction is not None:
            continue
        embargo = finding.embargo
        if finding.published > now and (embargo is None or embargo <= finding.published):
            due.append(
                Scheduled(finding.published, "release", finding.id,
                          f"public pages go out: {finding.title}")
            )  # fmt: skip
        if embargo is not None and embargo > now:
            due.append(
                Scheduled(embargo, "embargo lift", finding.id,
                          f"public pages go out, waiting pitches are sent: {finding.title}")
            )  # fmt: skip
        if "newsletter" in channels and finding.public_from > now:
            due.append(
                Scheduled(
                    finding.public_from, "newsletter", finding.id,
                    f"issue to subscribers of {', '.join(finding.topics)}, once approved "
                    "(gate 'newsletter')",
                )
            )  # fmt: skip
    return sorted(due, key=lambda s: (s.at, ORDER.get(s.what, 9), s.finding_id))


def in_zone(moment: datetime, zone: str) -> str:
    """'Wed 1 Jul 2026 11:00 CEST' in ``zone``."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y %H:%M} {local.tzname()}"


def in_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
