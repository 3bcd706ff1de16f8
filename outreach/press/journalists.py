"""The journalist list (``press/journalists.csv``) and who gets a pitch for a finding.

A journalist matches when one of their beats is one of the finding's topics and, if they
list regions, one of them is one of the finding's regions. Opted-out journalists never match;
for an embargoed finding, neither do those who do not accept embargoes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from outreach.errors import RenderError
from outreach.finding import Finding
from outreach.press.zones import country_problem, language_problem, zone_problem
from outreach.topics import TOPICS_BY_SLUG

COLUMNS = ("name", "email", "outlet", "beats", "regions", "accepts_embargoes", "opted_out")
WHERE_COLUMNS = ("timezone", "country", "language")
"""Optional: where the journalist reads (an empty or missing timezone falls back to the
media contact's, in press/contact.toml; language defaults to en)."""
YES, NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0", ""}


class JournalistListError(RenderError):
    """The journalist list has mistakes; every one is listed with its row and column."""


@dataclass(frozen=True)
class Journalist:
    name: str
    email: str
    outlet: str
    beats: tuple[str, ...]
    regions: tuple[str, ...]
    accepts_embargoes: bool
    opted_out: bool
    timezone: str | None = None
    """IANA zone name; None: not given (the media contact's zone is used)."""
    country: str | None = None
    """ISO 3166 alpha-2 code, for the public holidays their send window skips."""
    language: str = "en"
    """For dates written in the reader's time."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(";") if part.strip())


def load_journalists(path: Path) -> list[Journalist]:
    if not path.is_file():
        return []
    problems: list[str] = []
    journalists: list[Journalist] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise JournalistListError(
                f"{path}: missing columns {', '.join(missing)}; "
                f"the header must be {','.join(COLUMNS)} (optionally followed by "
                f"{','.join(WHERE_COLUMNS)})"
            )
        for line, row in enumerate(reader, start=2):
            where = f"{path}: row {line}"
            name = " ".join((row["name"] or "").split())
            if not name or any(c in (row["name"] or "") for c in "\r\n"):
                problems.append(f"{where}: name: write the journalist's name on one line")
            try:
                email = validate_email(
                    (row["email"] or "").strip(), check_deliverability=False
                ).normalized
            except EmailNotValidError as exc:
                problems.append(f"{where}: email: {exc}")
                continue
            if email.lower() in seen:
                problems.append(
                    f"{where}: email: {email} is listed twice; keep one row per journalist"
                )
                continue
            seen.add(email.lower())
            beats = _split(row["beats"] or "")
            unknown = [beat for beat in beats if beat not in TOPICS_BY_SLUG]
            if unknown or not beats:
                problems.append(
                    f"{where}: beats: {', '.join(unknown) or '(empty)'} not topic slugs; "
                    "write some of "
                    f"{', '.join(TOPICS_BY_SLUG)} separated by ';'"
                )
            flags = {}
            for column in ("accepts_embargoes", "opted_out"):
                value = (row[column] or "").strip().lower()
                if value not in YES | NO:
                    problems.append(f"{where}: {column}: '{value}' is not yes or no")
                flags[column] = value in YES
            where_values = {}
            for column, check in zip(
                WHERE_COLUMNS, (zone_problem, country_problem, language_problem), strict=True
            ):
                value = (row.get(column) or "").strip()
                problem = check(value) if value else None
                if problem:
                    problems.append(f"{where}: {column}: {problem}")
                where_values[column] = value or None
            journalists.append(
                Journalist(
                    name,
                    email,
                    " ".join((row["outlet"] or "").split()),
                    beats,
                    _split(row["regions"] or ""),
                    flags["accepts_embargoes"],
                    flags["opted_out"],
                    where_values["timezone"],
                    where_values["country"],
                    where_values["language"] or "en",
                )
            )
    if problems:
        raise JournalistListError("\n".join(problems))
    return journalists


def match_journalists(
    finding: Finding, journalists: list[Journalist], now: datetime
) -> tuple[list[Journalist], list[tuple[Journalist, str]]]:
    """(journalists to pitch, [(journalist, why skipped)]) for one finding."""
    embargoed = finding.embargo is not None and now < finding.embargo
    regions = {region.lower() for region in finding.regions}
    chosen: list[Journalist] = []
    skipped: list[tuple[Journalist, str]] = []
    for journalist in journalists:
        if not set(journalist.beats) & set(finding.topics):
            continue
        if journalist.regions and not {r.lower() for r in journalist.regions} & regions:
            continue
        if journalist.opted_out:
            skipped.append((journalist, "opted out"))
        elif embargoed and not journalist.accepts_embargoes:
            skipped.append((journalist, "does not accept embargoes"))
        else:
            chosen.append(journalist)
    return chosen, skipped
