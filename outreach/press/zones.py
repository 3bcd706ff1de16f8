"""Where a journalist reads: checks for time zone, country and language values, and the
embargo written in the reader's time.

Zones come from ``zoneinfo`` over the pinned ``tzdata`` package, so every machine converts
the same way (a lift across a daylight-saving change included); country and language names
come from ``babel``'s CLDR data. A value that is almost right gets a "did you mean".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, get_timezone_location


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _countries() -> dict[str, str]:
    """ISO 3166 alpha-2 code -> English name (CLDR's territories, without regions like 001)."""
    names = Locale("en").territories
    # CLDR's groupings, pseudo-locales and reserved codes (e.g. Canary Islands, IC) are not
    # assigned ISO 3166-1 countries.
    groupings = {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB", "AC", "CP", "CQ", "DG", "EA", "IC",
                 "TA"}  # fmt: skip
    return {
        code: name
        for code, name in names.items()
        if len(code) == 2 and code.isalpha() and code not in groupings
    }


def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def zone_problem(value: str) -> str | None:
    """None if ``value`` is an IANA zone name, else what is wrong and how to fix it."""
    if value in _zones():
        return None
    by_case = {zone.lower(): zone for zone in _zones()}
    hint = (
        f"; did you mean '{by_case[value.lower()]}'?"
        if value.lower() in by_case
        else _did_you_mean(value, _zones())
    )
    return (
        f"'{value}' is not an IANA time zone{hint} "
        "(write a name like Europe/London, Africa/Nairobi or America/Sao_Paulo)"
    )


def country_problem(value: str) -> str | None:
    """None if ``value`` is an ISO 3166 alpha-2 code (upper case), else the fix."""
    countries = _countries()
    if value in countries:
        return None
    if value.upper() in countries:
        hint = f"; did you mean '{value.upper()}'?"
    elif value.upper() == "UK":
        hint = "; did you mean 'GB'?"
    else:
        by_name = {name.lower(): code for code, name in countries.items()}
        code = by_name.get(value.lower())
        hint = f"; did you mean '{code}' ({countries[code]})?" if code else ""
    return f"'{value}' is not an ISO 3166 two-letter country code{hint} (e.g. GB, KE, BR)"


def language_problem(value: str) -> str | None:
    """None if babel knows ``value`` as a language (``en``, ``fr``, ``pt-BR``), else the fix."""
    try:
        Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return f"'{value}' is not a language code babel knows (e.g. en, fr, pt-BR, id)"
    return None


def city(zone: str) -> str:
    """The zone's exemplar city in English: 'São Paulo' for America/Sao_Paulo."""
    return get_timezone_location(zone, locale="en", return_city=True)


def reader_time(moment: datetime, zone: str, language: str = "en") -> str:
    """'12:00 in Nairobi', with the local date (localised) when it is not the UTC date:
    '06:00 in Jakarta, 2 Jul 2026'."""
    utc = moment.astimezone(UTC)
    local = utc.astimezone(ZoneInfo(zone))
    text = f"{local:%H:%M} in {city(zone)}"
    if local.date() != utc.date():
        text += f", {format_date(local, 'medium', locale=language.replace('-', '_'))}"
    return text


def embargo_line_in(moment: datetime, zones: Iterable[str], language: str = "en") -> str:
    """The embargo in UTC, then in each of ``zones`` (soonest local clock first, UTC itself
    left out): 'EMBARGOED UNTIL Feb. 2, 2027, 09:00 UTC (12:00 in Nairobi)'."""
    from outreach.press.release import embargo_line

    utc = moment.astimezone(UTC)
    line = embargo_line(utc)
    shown = sorted(
        {z for z in zones if z != "UTC" and not z.startswith("Etc/")},
        key=lambda z: (utc.astimezone(ZoneInfo(z)).utcoffset(), z),
    )
    if shown:
        line += " (" + "; ".join(reader_time(utc, z, language) for z in shown) + ")"
    return line
