"""The press release in AP structure, built from a finding and the press folder.

Release line, headline, subhead, dateline (``CITY, Month D, YYYY —`` with AP month
abbreviations), a lead of at most 50 words, key stats with sources, attributed quotes, the
``About`` boilerplate (at most 100 words), the media contact, and ``###``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bs4 import BeautifulSoup
from email_validator import EmailNotValidError, validate_email

from outreach.errors import RenderError
from outreach.finding import Correction, Finding, Quote, Stat
from outreach.headlines import HeadlineChoice
from outreach.markdown import render_markdown
from outreach.press.style import ReleaseStyle

AP_MONTHS = (
    "Jan.",
    "Feb.",
    "March",
    "April",
    "May",
    "June",
    "July",
    "Aug.",
    "Sept.",
    "Oct.",
    "Nov.",
    "Dec.",
)


class PressDataError(RenderError):
    """A file in press/ is missing or wrong; the message names the file and the fix."""


@dataclass(frozen=True)
class MediaContact:
    name: str
    role: str
    email: str
    phone: str
    city: str
    organisation: str
    timezone: str | None = None
    """The press office's IANA zone: the zone of journalists whose row gives none."""


def load_contact(press_dir: Path) -> MediaContact:
    path = press_dir / "contact.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PressDataError(
            f"{path}: missing; add name, role, email, phone, city and organisation"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise PressDataError(f"{path}: not valid TOML ({exc})") from None
    fields = ("name", "role", "email", "phone", "city", "organisation")
    missing = [name for name in fields if not str(data.get(name, "")).strip()]
    if missing:
        raise PressDataError(f"{path}: {', '.join(missing)} missing; add them")
    values = {name: " ".join(str(data[name]).split()) for name in fields}
    try:
        values["email"] = validate_email(values["email"], check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PressDataError(f"{path}: email: {exc}") from None
    zone = str(data.get("timezone", "")).strip() or None
    if zone is not None:
        from outreach.press.zones import zone_problem

        problem = zone_problem(zone)
        if problem:
            raise PressDataError(f"{path}: timezone: {problem}")
    return MediaContact(**values, timezone=zone)


def load_boilerplate(press_dir: Path, style: ReleaseStyle) -> str:
    path = press_dir / "boilerplate.md"
    try:
        text = " ".join(path.read_text(encoding="utf-8").split())
    except FileNotFoundError:
        raise PressDataError(f"{path}: missing; write the 'About' paragraph there") from None
    words = len(text.split())
    if words > style.boilerplate_max_words:
        raise PressDataError(
            f"{path}: {words} words; shorten it to {style.boilerplate_max_words} or fewer"
        )
    return text


def ap_date(moment: datetime) -> str:
    return f"{AP_MONTHS[moment.month - 1]} {moment.day}, {moment.year}"


def embargo_line(moment: datetime) -> str:
    return f"EMBARGOED UNTIL {ap_date(moment)}, {moment:%H:%M} {moment.tzname()}"


def first_paragraph(markdown: str) -> str:
    """The body's first paragraph as plain text (the release's second paragraph)."""
    soup = BeautifulSoup(render_markdown(markdown), "html.parser")
    paragraph = soup.find("p")
    return " ".join(paragraph.get_text().split()) if paragraph else ""


def attributed(quote: Quote) -> str:
    """AP attribution: the quote's closing full stop becomes a comma inside the quotes."""
    text = quote.text.strip()
    if text.endswith("."):
        text = text[:-1] + ","
    elif not text.endswith(("?", "!", ",")):
        text += ","
    return f"“{text}” said {quote.speaker}, {quote.role}."


@dataclass(frozen=True)
class PressRelease:
    finding_id: str
    release_line: str
    embargoed_until: datetime | None
    headline: str
    subhead: str
    dateline: str
    lead: str
    context: str
    stats: tuple[Stat, ...]
    quotes: tuple[str, ...]
    """Attributed quotes, ready to print."""
    organisation: str
    about: str
    contact: MediaContact
    corrections: tuple[Correction, ...] = ()
    """The finding's corrections, oldest first: each shown as an "Updated" notice."""


def build_release(
    finding: Finding,
    headlines: HeadlineChoice,
    contact: MediaContact,
    boilerplate: str,
    style: ReleaseStyle,
    organisation: str,
) -> PressRelease:
    lead = finding.press.lead if finding.press and finding.press.lead else finding.summary
    words = len(lead.split())
    if words > style.lead_max_words:
        field = "press.lead" if finding.press and finding.press.lead else "summary"
        raise PressDataError(
            f"{finding.source_path}: {field}: the release lead has {words} words; write one of "
            f"at most {style.lead_max_words} (set press.lead to keep the summary as it is)"
        )
    city = finding.press.city if finding.press and finding.press.city else contact.city
    embargo = finding.embargo
    return PressRelease(
        finding_id=finding.id,
        release_line=embargo_line(embargo) if embargo else "FOR IMMEDIATE RELEASE",
        embargoed_until=embargo,
        headline=headlines.business.text,
        subhead=headlines.consumer.text,
        dateline=f"{city.upper()}, {ap_date(finding.published)} —",
        lead=lead,
        context=first_paragraph(finding.body),
        stats=tuple(finding.stats),
        quotes=tuple(attributed(quote) for quote in finding.quotes),
        organisation=organisation,
        about=boilerplate,
        contact=contact,
        corrections=tuple(finding.correction),
    )
