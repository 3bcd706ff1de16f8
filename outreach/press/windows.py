"""Send windows: when a pitch reaches a journalist, in their own working morning.

Pure planning (no clock, no I/O): ``next_slot`` takes ``now`` and the lift, so tests freeze
time by passing it. A pitch goes at the first moment of the journalist's next morning window
(default weekdays 08:30-11:00 local) that is not a public holiday of their country. An
embargoed pitch must arrive before the lift: when that morning is after the lift, it takes
the latest working day's slot before the lift (from the window's start until
``working_until``), or goes now if there is none, and the slot says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

from outreach.press.journalists import Journalist

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 60
"""How far ahead a window is looked for (a long holiday season is shorter than this)."""


@dataclass(frozen=True)
class WindowRules:
    days: frozenset[int] = frozenset(range(5))
    """Working weekdays, Monday = 0."""
    start: time = time(8, 30)
    end: time = time(11, 0)
    working_until: time = time(18, 0)
    skip_holidays: bool = True

    @classmethod
    def from_style(cls, style) -> WindowRules:
        """From press/style.toml's ``[pitch_window]`` (outreach.press.style.PitchWindowStyle)."""
        return cls(
            frozenset(DAYS.index(day) for day in style.days),
            time.fromisoformat(style.start),
            time.fromisoformat(style.end),
            time.fromisoformat(style.working_until),
            style.skip_holidays,
        )


@dataclass(frozen=True)
class Slot:
    """When one journalist's pitch goes, and why then."""

    at: datetime
    """UTC."""
    zone: str
    kind: Literal["window", "before-lift", "now"]
    reason: str = ""

    def local(self) -> datetime:
        return self.at.astimezone(ZoneInfo(self.zone))


@cache
def _holidays(country: str, year: int) -> holidays.HolidayBase | None:
    try:
        return holidays.country_holidays(country, years=year)
    except NotImplementedError:  # a country the package has no calendar for
        return None


def holiday_name(country: str | None, day: date) -> str | None:
    """The public holiday on ``day`` in ``country``, or None."""
    if not country:
        return None
    calendar = _holidays(country, day.year)
    return calendar.get(day) if calendar is not None else None


def working_day(day: date, country: str | None, rules: WindowRules) -> bool:
    if day.weekday() not in rules.days:
        return False
    return not (rules.skip_holidays and holiday_name(country, day))


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time on ``day`` as UTC (zoneinfo applies that day's offset, so a
    window the day after a daylight-saving change opens at the new local time)."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def next_slot(
    journalist: Journalist,
    now: datetime,
    lift: datetime | None,
    rules: WindowRules,
    default_zone: str | None = None,
) -> Slot:
    """When ``journalist``'s pitch goes: now if inside their window, else the next window's
    opening; before ``lift`` (if it is still ahead) whatever the window says."""
    zone_name = journalist.timezone or default_zone
    now = now.astimezone(UTC)
    if zone_name is None:
        return Slot(now, "UTC", "now", "no time zone known")
    zone = ZoneInfo(zone_name)
    today = now.astimezone(zone).date()
    embargoed = lift is not None and lift > now
    for offset in range(HORIZON_DAYS):
        day = today + timedelta(days=offset)
        if not working_day(day, journalist.country, rules):
            continue
        opens, closes = _at(day, rules.start, zone), _at(day, rules.end, zone)
        if closes <= now:
            continue
        at = max(opens, now)
        if embargoed and at >= lift:
            break
        return Slot(at, zone_name, "window")
    else:
        if not embargoed:
            return Slot(now, zone_name, "now", f"no working morning in {HORIZON_DAYS} days")
    return _before_lift(journalist, now, lift, rules, zone_name)


def _before_lift(
    journalist: Journalist, now: datetime, lift: datetime, rules: WindowRules, zone_name: str
) -> Slot:
    """The latest working day's slot between now and the lift; now if there is none."""
    zone = ZoneInfo(zone_name)
    day = lift.astimezone(zone).date()
    first = now.astimezone(zone).date()
    while day >= first:
        if working_day(day, journalist.country, rules):
            opens = max(_at(day, rules.start, zone), now)
            closes = min(_at(day, rules.working_until, zone), lift)
            if opens < closes:
                return Slot(
                    opens, zone_name, "before-lift",
                    "their next morning is after the lift: the last working hours before it",
                )  # fmt: skip
        day -= timedelta(days=1)
    return Slot(now, zone_name, "now", "no working hours before the lift: sent at once")
