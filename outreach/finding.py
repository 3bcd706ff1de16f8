"""The Finding model and its reader.

A finding is a Markdown file with YAML front matter. Reading is strict on purpose: the comms
team should learn about every mistake in a file at once, each message naming the file, the
field and what to write instead, before anything is rendered or published.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from outreach.errors import OutreachError
from outreach.media_files import outside_media, suffix_problem
from outreach.topics import TOPICS, TOPICS_BY_SLUG

if TYPE_CHECKING:
    from outreach.finding_cache import FindingCache

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it: ten times faster on a thousand findings."""
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_TIMESTAMP = re.compile(r"^(?:(\d+):)?([0-5]?\d):([0-5]\d(?:\.\d+)?)$")

# Limits: a finding is a web post, not a book. Past these, building slows to minutes and
# gigabytes (a 30 MB body took 4.5 minutes), so the reader refuses with a clear message.
MAX_FILE_BYTES = 1_000_000
"""A finding file (front matter and body) is at most 1 MB."""
MAX_BODY_CHARS = 200_000
"""The Markdown body is at most 200,000 characters (about 30,000 words)."""
MAX_LINE_CHARS = 500
"""One-line fields (captions, labels, names) are at most 500 characters."""
MAX_TEXT_CHARS = 2_000
"""Multi-line fields other than the body (quotes) are at most 2,000 characters."""
MAX_URL_CHARS = 2_000
MAX_LIST_ITEMS = 50
"""Lists (stats, quotes, commodities, regions) hold at most 50 items; chapters at most 200."""
MAX_CHAPTERS = 200


def _single_line(value: str) -> str:
    """Reject line breaks and control characters: these fields reach headers and titles."""
    if _CONTROL_CHARS.search(value):
        raise PydanticCustomError(
            "outreach_single_line",
            "contains a line break or control character; write it on one line",
        )
    return value


Line = Annotated[str, Field(min_length=1, max_length=MAX_LINE_CHARS), AfterValidator(_single_line)]
"""One line of text: stripped, non-empty, no control characters, at most 500 characters."""

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
"""Free text that may span lines (YAML folded or literal blocks)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


MEDIA_EXAMPLES = {
    "images": "images/example.jpg",
    "audio": "audio/episode-1.wav",
    "transcripts": "transcripts/episode-1.vtt",
}


def _media_file(value: str, info: ValidationInfo, kind: str) -> str:
    """Check a path is relative, stays inside media/ (links followed) and names a file."""
    posix = PurePosixPath(value.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or not posix.parts:
        raise PydanticCustomError(
            "outreach_media_path",
            "'{value}' is not a path inside media/; write a relative path such as '{example}'",
            {"value": value, "example": MEDIA_EXAMPLES[kind]},
        )
    media_dir: Path | None = (info.context or {}).get("media_dir")
    if media_dir is not None and outside_media(media_dir, posix.as_posix()):
        raise PydanticCustomError(
            "outreach_media_outside",
            "{path} is a link to a file outside media/; copy the file itself into media/",
            {"path": str(media_dir / posix)},
        )
    if media_dir is not None and not (media_dir / posix).is_file():
        raise PydanticCustomError(
            "outreach_media_missing",
            "no file at {path}; put the file there or correct the path (relative to media/)",
            {"path": str(media_dir / posix)},
        )
    return posix.as_posix()


def _image_file(value: str, info: ValidationInfo, formats: tuple[str, ...]) -> str:
    """An image path whose extension is one we publish (the media checks read the content)."""
    path = _media_file(value, info, "images")
    problem = suffix_problem(path, formats)
    if problem:
        raise PydanticCustomError("outreach_image_name", problem)
    return path


def _web_url(value: str) -> str:
    """Only http(s) links reach pages: a ``javascript:`` URL would run in readers' browsers."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PydanticCustomError(
            "outreach_url",
            "'{value}' is not a web address; write a full http(s) URL such as "
            "'https://example.org/report'",
            {"value": value},
        )
    return value


WebUrl = Annotated[
    str,
    Field(min_length=1, max_length=MAX_URL_CHARS),
    AfterValidator(_single_line),
    AfterValidator(_web_url),
]


def _indicator_slug(value: str) -> str:
    if not SLUG_PATTERN.match(value):
        suggestion = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "farm-gate-share"
        raise PydanticCustomError(
            "outreach_indicator_slug",
            "'{value}' is not an indicator slug; use lowercase letters, digits and single "
            "hyphens, e.g. '{suggestion}' (the same slug every year, so reports can compare)",
            {"value": value, "suggestion": suggestion},
        )
    return value


class Stat(_Strict):
    """A key statistic. ``illustrative`` marks figures that are examples, not measurements.

    ``indicator`` names a figure tracked year on year (reports compare it with the previous
    report's); ``number`` and ``unit`` are its numeric value beside the display ``value``."""

    value: Line
    label: Line
    source: Line
    source_url: WebUrl | None = None
    illustrative: bool = False
    indicator: Annotated[str, Field(max_length=80), AfterValidator(_indicator_slug)] | None = None
    number: Annotated[float, Field(allow_inf_nan=False)] | None = None
    unit: Annotated[Line, Field(max_length=40)] | None = None

    @model_validator(mode="after")
    def _indicator_needs_number(self) -> Stat:
        if self.indicator is not None and self.number is None:
            raise PydanticCustomError(
                "outreach_indicator_number",
                "stat with indicator '{indicator}' has no number; add 'number:' with the "
                "figure as a plain number (e.g. 38 for '38%'), so reports can compare years",
                {"indicator": self.indicator},
            )
        return self


class Quote(_Strict):
    text: Text
    speaker: Line
    role: Line


class Image(_Strict):
    file: Line
    caption: Line
    credit: Line
    licence: Line
    alt: Annotated[Line, Field(max_length=250)]

    @field_validator("file")
    @classmethod
    def _file_exists(cls, value: str, info: ValidationInfo) -> str:
        return _image_file(value, info, ("JPEG", "PNG", "WEBP"))


def parse_timestamp(value: object) -> float:
    """Seconds from ``HH:MM:SS``, ``MM:SS`` or a plain number of seconds.

    Raises ValueError for anything else: an empty value, a list or mapping, a negative,
    infinite or NaN number (YAML reads ``.nan`` and ``.inf`` as numbers)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(value)
        return float(value)
    if not isinstance(value, str):
        raise ValueError(value)
    match = _TIMESTAMP.match(value.strip())
    if not match:
        raise ValueError(value)
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


class Chapter(_Strict):
    start: float
    title: Line
    url: WebUrl | None = None

    @field_validator("start", mode="before")
    @classmethod
    def _parse_start(cls, value: Any) -> float:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise PydanticCustomError(
                "outreach_timestamp", "is empty; write a time such as '02:30' (MM:SS or HH:MM:SS)"
            )
        try:
            return parse_timestamp(value)
        except ValueError:
            raise PydanticCustomError(
                "outreach_timestamp",
                "'{value}' is not a time; write HH:MM:SS or MM:SS, e.g. '02:30'",
                {"value": str(value)},
            ) from None


class Episode(_Strict):
    audio: Line
    number: Annotated[int, Field(ge=1)]
    season: Annotated[int, Field(ge=1)] | None = None
    explicit: bool = False
    transcript: Line | None = None
    image: Line | None = None
    """Episode art (square JPEG or PNG, 1400-3000 px); drawn from the show art when absent."""
    chapters: Annotated[list[Chapter], Field(max_length=MAX_CHAPTERS)] = []

    @field_validator("audio")
    @classmethod
    def _audio_exists(cls, value: str, info: ValidationInfo) -> str:
        return _media_file(value, info, "audio")

    @field_validator("transcript")
    @classmethod
    def _transcript_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _media_file(value, info, "transcripts")

    @field_validator("image")
    @classmethod
    def _image_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _image_file(value, info, ("JPEG", "PNG"))

    @field_validator("chapters")
    @classmethod
    def _chapters_in_order(cls, chapters: list[Chapter]) -> list[Chapter]:
        if chapters and chapters[0].start != 0:
            raise PydanticCustomError(
                "outreach_chapters_start",
                "the first chapter starts at {start} s; start it at '00:00'",
                {"start": f"{chapters[0].start:g}"},
            )
        for before, after in itertools.pairwise(chapters):
            if after.start <= before.start:
                raise PydanticCustomError(
                    "outreach_chapters_order",
                    "chapter '{title}' does not start after the one before it; list chapters "
                    "in time order with increasing start times",
                    {"title": after.title},
                )
        return chapters


class Headlines(_Strict):
    """Headline overrides; they win over generated ones but are still scored."""

    business: Line | None = None
    consumer: Line | None = None


class SocialText(_Strict):
    """Per-network post text that replaces the generated one (headline and key stat); the
    link is added after it. Checked against the network's limit before anything is posted."""

    bluesky: Annotated[str, Field(min_length=1, max_length=3000)] | None = None
    mastodon: Annotated[str, Field(min_length=1, max_length=10000)] | None = None


class PressAngle(_Strict):
    """The story in parts, for generated headlines and the release lead."""

    subject: Line | None = None
    """Who the story is about, in plain words: 'Cocoa farmers'."""
    sector: Line | None = None
    """The sector business readers know: 'Cocoa and coffee exporters'."""
    consequence: Line | None = None
    """What changes for people, active voice, no subject: 'lose a tenth of each harvest'."""
    lead: Annotated[Line, Field(max_length=400)] | None = None
    """The release's first sentence (at most 50 words); defaults to the summary."""
    city: Line | None = None
    """Dateline city; defaults to the media contact's city."""


class Correction(_Strict):
    """A change to a released finding that readers and journalists are told about: the
    notice "Updated <date>: <note>" on every page that carries the finding."""

    date: AwareDatetime
    note: Annotated[Line, Field(max_length=400)]

    @field_validator("date", mode="before")
    @classmethod
    def _date_needs_time(cls, value: Any) -> Any:
        return _needs_time(value)


class Retraction(_Strict):
    """A publication taken down (``outreach retract``): recorded in the ledger, never
    written in front matter; the release passes it to rendering, which then shows only a
    short notice at the finding's addresses."""

    at: datetime
    note: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]


def _needs_time(value: Any) -> Any:
    """YAML turns ``2026-03-04`` into a date; say plainly that a time and zone are needed."""
    if isinstance(value, date) and not isinstance(value, datetime):
        raise PydanticCustomError(
            "outreach_date_only",
            "'{value}' has no time or timezone; write e.g. '{value}T09:00:00+00:00'",
            {"value": value.isoformat()},
        )
    return value


def _topic(value: str) -> str:
    if value not in TOPICS_BY_SLUG:
        slugs = [topic.slug for topic in TOPICS]
        close = difflib.get_close_matches(value, slugs, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise PydanticCustomError(
            "outreach_topic",
            "'{value}' is not one of the six topics; {hint}write one of: {slugs}",
            {"value": value, "hint": hint, "slugs": ", ".join(slugs)},
        )
    return value


class Finding(_Strict):
    """One research finding, validated. ``body`` is the Markdown after the front matter."""

    id: Annotated[str, Field(max_length=80)]
    title: Annotated[Line, Field(max_length=150)]
    summary: Annotated[Line, Field(max_length=400)]
    published: AwareDatetime
    embargo: AwareDatetime | None = None
    updated: AwareDatetime | None = None
    topics: Annotated[
        list[Annotated[str, AfterValidator(_topic)]], Field(min_length=1, max_length=len(TOPICS))
    ]
    commodities: Annotated[list[Line], Field(max_length=MAX_LIST_ITEMS)] = []
    regions: Annotated[list[Line], Field(max_length=MAX_LIST_ITEMS)] = []
    author: Line | None = None
    stats: Annotated[list[Stat], Field(min_length=1, max_length=MAX_LIST_ITEMS)]
    quotes: Annotated[list[Quote], Field(max_length=MAX_LIST_ITEMS)] = []
    image: Image
    episode: Episode | None = None
    headlines: Headlines | None = None
    press: PressAngle | None = None
    social: SocialText | None = None
    """Per-network post text for the social channel (optional)."""
    status: Literal["draft", "ready"] = "ready"
    """A draft is validated (its problems are warnings) but never published."""
    correction: Annotated[list[Correction], Field(max_length=MAX_LIST_ITEMS)] = []
    """Corrections in date order, each shown as an "Updated" notice (never a silent edit)."""
    body: Annotated[str, Field(min_length=1, max_length=MAX_BODY_CHARS)]
    source_path: str = ""
    retraction: Retraction | None = None
    """Set by the release from the ledger (``outreach retract``), never from front matter."""

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG_PATTERN.match(value):
            suggestion = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "cocoa-farm-gate"
            raise PydanticCustomError(
                "outreach_slug",
                "'{value}' is not a slug; use lowercase letters, digits and single hyphens, "
                "e.g. '{suggestion}' (the id is permanent: it names the post's URL)",
                {"value": value, "suggestion": suggestion},
            )
        return value

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, topics: list[str]) -> list[str]:
        if len(set(topics)) != len(topics):
            raise PydanticCustomError(
                "outreach_duplicate_topic", "lists a topic twice; list each topic once"
            )
        return topics

    @field_validator("published", "embargo", "updated", mode="before")
    @classmethod
    def _dates_need_times(cls, value: Any) -> Any:
        return _needs_time(value)

    @field_validator("correction", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        """One correction may be written as a mapping; several as a list of them."""
        return [value] if isinstance(value, dict) else value

    @field_validator("correction")
    @classmethod
    def _corrections_in_order(cls, corrections: list[Correction]) -> list[Correction]:
        for before, after in itertools.pairwise(corrections):
            if after.date <= before.date:
                raise PydanticCustomError(
                    "outreach_correction_order",
                    "the correction of {date} is not later than the one before it; list "
                    "corrections oldest first, each with its own date",
                    {"date": after.date.isoformat()},
                )
        return corrections

    @property
    def public_from(self) -> datetime:
        """The earliest moment any public page may show this finding."""
        if self.embargo is None:
            return self.published
        return max(self.published, self.embargo)

    def is_public(self, now: datetime) -> bool:
        return now >= self.public_from

    @property
    def last_modified(self) -> datetime:
        """When readers should consider the post last changed (feeds, sitemaps): a
        correction counts, so feed readers and crawlers see the change."""
        latest = max(self.updated or self.published, self.published)
        return max(latest, self.correction[-1].date) if self.correction else latest

    @property
    def key_stat(self) -> Stat:
        return self.stats[0]

    @property
    def body_sha256(self) -> str:
        """The body's digest: content keys cover the body without holding it (outreach.shelf)."""
        return text_sha256(self.body)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class FindingProblem:
    """One mistake in one file: where it is, what is wrong, and what to write instead."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


class FilesInvalid(OutreachError):
    """Every problem found in one kind's publication files (findings, reports, events), so
    the team can fix them all in one pass; ``kind`` names the files in the heading."""

    before_any_change: ClassVar[bool] = True
    kind: ClassVar[str] = "publication"

    def __init__(self, problems: list[FindingProblem]):
        self.problems = problems
        files = len({problem.file for problem in problems})
        noun = "problem" if len(problems) == 1 else "problems"
        heading = f"{len(problems)} {noun} in {files} {self.kind} file{'s' if files != 1 else ''}"
        super().__init__(heading + ":\n" + "\n".join(f"  - {p}" for p in problems))


class FindingsInvalid(FilesInvalid):
    """Raised with every problem found in the finding files."""

    kind: ClassVar[str] = "finding"


# What to write, per field (list indices dropped), used when pydantic's own message is terse.
FIELD_HINTS: dict[str, str] = {
    "id": "a permanent slug such as 'cocoa-farm-gate'",
    "title": "the post title on one line, at most 150 characters",
    "summary": "one or two sentences on one line, at most 400 characters",
    "published": "a date and time with a timezone, e.g. '2026-03-04T09:00:00+00:00'",
    "embargo": "a date and time with a timezone, e.g. '2026-03-04T09:00:00+00:00', or leave it out",
    "updated": "the date and time of the last real edit, with a timezone, or leave it out",
    "topics": "a list of topic slugs, e.g. [food-agriculture, scope-3-climate]",
    "commodities": "a list such as [cocoa, coffee]",
    "regions": "a list such as [Ghana, West Africa]",
    "stats": "a list of stats, each with value, label and source",
    "stats.value": "the figure as text, e.g. '38%'",
    "stats.label": "what the figure measures, e.g. 'rise in farm-gate income'",
    "stats.source": "where the figure comes from, e.g. 'Programme survey, 2025'",
    "stats.illustrative": "true or false",
    "stats.indicator": "the tracked indicator's slug, e.g. 'farm-gate-share', or leave it out",
    "stats.number": "the figure as a plain number, e.g. 38 for '38%'",
    "stats.unit": "the number's unit, e.g. '%' or 'USD/kg', or leave it out",
    "quotes.text": "the quoted words",
    "quotes.speaker": "the speaker's name",
    "quotes.role": "the speaker's role and organisation",
    "image": "a mapping with file, caption, credit, licence and alt",
    "image.file": "a path inside media/, e.g. 'images/cocoa.jpg'",
    "image.alt": "a short description of the image for screen readers (at most 250 characters)",
    "image.caption": "a caption on one line",
    "image.credit": "who made the image",
    "image.licence": "the licence, e.g. 'CC BY 4.0'",
    "episode": "a mapping with audio and number (and optional chapters, transcript, season)",
    "episode.audio": "a path inside media/, e.g. 'audio/episode-1.wav'",
    "episode.number": "the episode number, a whole number from 1",
    "episode.season": "the season number, a whole number from 1, or leave it out",
    "episode.explicit": "true or false",
    "episode.transcript": "a WebVTT or SRT file inside media/, e.g. 'transcripts/episode-1.vtt'",
    "episode.image": "a square JPEG or PNG inside media/, e.g. 'images/episode-1.jpg'",
    "episode.chapters.start": "a time such as '02:30'",
    "episode.chapters.title": "the chapter title on one line",
    "headlines.business": "a headline on one line, or leave it out",
    "headlines.consumer": "a headline on one line, or leave it out",
    "press.subject": "who the story is about, e.g. 'Cocoa farmers'",
    "press.sector": "the sector, e.g. 'Cocoa exporters'",
    "press.consequence": "what changes for people, e.g. 'lose a tenth of each harvest'",
    "press.lead": "the release's opening sentence, at most 50 words",
    "press.city": "the dateline city, e.g. 'London'",
    "social": "a mapping with bluesky and/or mastodon post text, or leave it out",
    "social.bluesky": "the Bluesky post text (at most 300 graphemes with the link)",
    "social.mastodon": "the Mastodon post text (within the instance's limit; links count 23)",
    "status": "draft or ready (leave it out for ready)",
    "correction": "a list of corrections, each with date and note",
    "correction.date": "the date and time of the correction, e.g. '2026-03-04T09:00:00+00:00'",
    "correction.note": "what changed, on one line, e.g. 'The yield figure was 38%, not 42%.'",
    "retraction": "nothing: retractions are made with 'outreach retract', not in the file",
    "body": "the Markdown text of the post after the closing '---' line",
}

KNOWN_FIELDS: dict[str, list[str]] = {
    "": list(Finding.model_fields),
    "stats": list(Stat.model_fields),
    "quotes": list(Quote.model_fields),
    "image": list(Image.model_fields),
    "episode": list(Episode.model_fields),
    "episode.chapters": list(Chapter.model_fields),
    "headlines": list(Headlines.model_fields),
    "press": list(PressAngle.model_fields),
    "social": list(SocialText.model_fields),
    "correction": list(Correction.model_fields),
}


def _field_path(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Return (display path like ``stats[1].source``, hint key like ``stats.source``)."""
    shown = ""
    key_parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            shown += f"[{part}]"
        else:
            shown += f".{part}" if shown else str(part)
            key_parts.append(str(part))
    return shown or "front matter", ".".join(key_parts)


def _problem_from_error(
    file: str,
    error: Any,
    hints: Mapping[str, str] | None = None,
    known_fields: Mapping[str, list[str]] | None = None,
) -> FindingProblem:
    """One pydantic error as file, field and fix; ``hints`` and ``known_fields`` default to
    the finding's (reports pass their own)."""
    hints = FIELD_HINTS if hints is None else hints
    known_fields = KNOWN_FIELDS if known_fields is None else known_fields
    loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
    # Annotated validators add their own location segments; keep model fields and indices.
    loc = tuple(part for part in loc if isinstance(part, int) or not str(part)[0].isupper())
    shown, key = _field_path(loc)
    kind = error["type"]
    hint = hints.get(key, "")
    if kind.startswith("outreach_"):
        message = error["msg"]
    elif kind == "missing":
        message = f"missing; add it: {hint}" if hint else "missing; add it"
    elif kind == "extra_forbidden":
        parent = ".".join(key.split(".")[:-1])
        known = [
            name
            for name in known_fields.get(parent, [])
            if name not in ("body", "source_path", "retraction")
        ]
        close = difflib.get_close_matches(key.split(".")[-1], known, n=1, cutoff=0.6)
        if close:
            message = f"unknown field; did you mean '{close[0]}'?"
        else:
            message = f"unknown field; remove it (known fields: {', '.join(known)})"
    elif kind in ("string_too_short", "too_short") and error.get("ctx", {}).get("min_length") == 1:
        message = f"is empty; write {hint}" if hint else "is empty"
    elif kind in ("string_too_long", "too_long"):
        limit = error.get("ctx", {}).get("max_length")
        unit = "characters" if kind == "string_too_long" else "items"
        message = f"is too long ({len(error['input']):,} {unit}); shorten it to at most {limit:,}"
        message += " (or split the finding in two)" if key == "body" else f" {unit}"
    elif kind == "timezone_aware":
        message = f"has no timezone; write {hint}"
    else:
        reason = error["msg"][0].lower() + error["msg"][1:]
        message = f"{reason}; write {hint}" if hint else reason
    return FindingProblem(file=file, field=shown, message=message)


# ---------------------------------------------------------------------------
# Reading


def split_front_matter(text: str) -> tuple[str, str] | None:
    """Split ``---`` YAML ``---`` Markdown; None when the file has no front matter."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :])
    return None


def read_front_matter(
    path: str | Path,
    file: str,
    invalid: Callable[[list[FindingProblem]], Exception],
    *,
    max_bytes: int,
    too_large: str,
    body_name: str = "Markdown body",
) -> tuple[dict[str, Any], str]:
    """A publication file's YAML front matter (a mapping) and its Markdown, for every kind
    (findings, reports, events): each problem raised as ``invalid([problem])`` naming the file,
    the place and the fix. ``too_large`` finishes "is N bytes; <too_large>"."""
    size = os.stat(path).st_size
    if size > max_bytes:
        raise invalid([FindingProblem(file, "file", f"is {size:,} bytes; {too_large}")])
    try:
        with open(path, encoding="utf-8") as opened:
            text = opened.read()
    except UnicodeDecodeError as exc:
        raise invalid(
            [FindingProblem(file, "file", f"is not UTF-8 text ({exc.reason}); save it as UTF-8")]
        ) from None
    parts = split_front_matter(text)
    if parts is None:
        raise invalid(
            [
                FindingProblem(
                    file,
                    "front matter",
                    "not found; start the file with a '---' line, then the YAML fields, then "
                    f"another '---' line, then the {body_name}",
                )
            ]
        )
    front, body = parts
    try:
        data = yaml.load(front, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 2}" if mark is not None else "front matter"
        problem = getattr(exc, "problem", None) or str(exc)
        raise invalid(
            [
                FindingProblem(
                    file,
                    where,
                    f"YAML syntax error ({problem}); check indentation and put text containing "
                    "': ' or '#' in quotes",
                )
            ]
        ) from None
    if not isinstance(data, dict):
        raise invalid(
            [FindingProblem(file, "front matter", "is not a mapping; write 'field: value' lines")]
        )
    return data, body


def read_finding(path: str | Path, media_dir: Path | None, shown_as: str | None = None) -> Finding:
    """Read and validate one finding file; raise FindingsInvalid with all its problems.
    ``path`` may be text: a release reads every finding, and a Path would intern each file's
    name in the interpreter's table of interned strings, which never shrinks."""
    file = shown_as or str(path)
    data, body = read_front_matter(
        path,
        file,
        FindingsInvalid,
        max_bytes=MAX_FILE_BYTES,
        too_large=f"a finding may be at most {MAX_FILE_BYTES:,} bytes: shorten the body, split "
        "the finding in two, or move data into a linked report",
    )
    if "retraction" in data:
        raise FindingsInvalid(
            [
                FindingProblem(
                    file,
                    "retraction",
                    "is recorded by 'outreach retract ID --note TEXT', not written in the file; "
                    "remove it",
                )
            ]
        )
    data = {**data, "body": body, "source_path": file}
    try:
        return Finding.model_validate(data, context={"media_dir": media_dir})
    except ValidationError as exc:
        problems = [_problem_from_error(file, error) for error in exc.errors()]
        raise FindingsInvalid(problems) from None


@dataclass(frozen=True)
class Draft:
    """A finding whose front matter says ``status: draft``: validated, never published.
    ``problems`` are what would stop it once it is ``ready`` (shown as warnings now)."""

    id: str
    file: str
    problems: tuple[FindingProblem, ...] = ()

    def warnings(self) -> list[str]:
        return [f"Draft {p}" for p in self.problems]


def declared_draft(path: Path) -> str | None:
    """The id (or the file's stem) of a file whose front matter says ``status: draft``,
    read leniently: a draft that does not validate must still be recognised as a draft."""
    try:
        parts = split_front_matter(path.read_text(encoding="utf-8"))
        data = yaml.load(parts[0], Loader=SAFE_LOADER) if parts else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or data.get("status") != "draft":
        return None
    found = data.get("id")
    return found if isinstance(found, str) and found.strip() else path.stem


def read_findings(
    folder: Path,
    media_dir: Path | None,
    relative_to: Path | None = None,
    extra_checks: Callable[[Finding], list[FindingProblem]] | None = None,
    keep: Callable[[Finding, str | Path], Finding] | None = None,
    drafts: dict[str, Draft] | None = None,
    cache: FindingCache | None = None,
) -> list[Finding]:
    """Read every ready ``*.md`` in ``folder`` (sorted), collecting all problems before
    raising: one invalid ready finding stops everything (nothing half-checked goes out).

    Drafts (``status: draft``, even in a file that does not validate) are left out of the
    list and never raise: they go into ``drafts`` with their problems, as warnings.
    ``extra_checks`` runs on each finding that passed validation (the media checks use it);
    ``keep`` turns each valid finding and its file into what the list holds (the release
    keeps bodies on disk: ``outreach.shelf``).
    ``cache`` (``outreach.finding_cache``) hands back findings whose file and media are
    unchanged since they passed validation and ``extra_checks`` (the same checks each time),
    and records those that pass now: only changed files are read and checked again.
    """
    findings: list[Finding] = []
    problems: list[FindingProblem] = []
    ids: dict[str, str] = {}
    drafts = {} if drafts is None else drafts
    # Names listed up front, not Path objects: 10,000 paths held at once cost 2.7 MB.
    listed = os.listdir(folder) if folder.is_dir() else []
    # Files are shown relative to ``relative_to``: the folder's part worked out once.
    base = str(folder.relative_to(relative_to)) if relative_to and listed else str(folder)
    # Joined as text, not ``folder / name``: pathlib interns the name it is given, and the
    # listing keeps every name alive, so 10,000 names would stay in the interpreter's table of
    # interned strings, which never shrinks. The folders' parts are joined once (a listed
    # name is a plain file name).
    within, shown_within = os.path.join(folder, ""), os.path.join(base, "")
    for name in sorted(entry for entry in listed if entry.endswith(".md")):
        if name.lower() == "readme.md":
            continue
        file = within + name
        shown = name if base == "." else shown_within + name
        cached, seen = cache.lookup(shown, file) if cache is not None else (None, None)
        try:
            finding = cached or read_finding(file, media_dir, shown_as=shown)
        except FindingsInvalid as exc:
            draft_id = declared_draft(Path(file))
            if draft_id is None:
                problems.extend(exc.problems)
            else:
                drafts[draft_id] = Draft(draft_id, shown, tuple(exc.problems))
            continue
        if cached is None and finding.status == "draft":  # drafts are never cached
            found = tuple(extra_checks(finding)) if extra_checks is not None else ()
            drafts[finding.id] = Draft(finding.id, shown, found)
            continue
        if finding.id in ids:
            problems.append(
                FindingProblem(
                    shown,
                    "id",
                    f"'{finding.id}' is already the id of {ids[finding.id]}; "
                    "give each finding its own id",
                )
            )
            continue
        ids[finding.id] = shown
        if extra_checks is not None and cached is None:
            found = extra_checks(finding)
            if found:
                problems.extend(found)
                continue
        if cache is not None and seen is not None:
            cache.remember(seen, finding, file)
        findings.append(finding if keep is None else keep(finding, file))
    if problems:
        raise FindingsInvalid(problems)
    return findings
