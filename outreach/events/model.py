"""The Event model and its reader: ``events/<id>.md``, front matter and a Markdown body.

An event is a webinar or workshop: when and where (its IANA zone), who speaks, the agenda,
how to register, and afterwards its recording, captions and slides. Reading is as strict as
for findings: every problem in every event file at once, each naming the file, the field and
what to write. The ``join_url`` is private: it is sent to confirmed registrants only and no
public page, feed or calendar file ever carries it.
"""

from __future__ import annotations

import difflib
import itertools
import re
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, ClassVar

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

from outreach.config import Settings
from outreach.finding import (
    SLUG_PATTERN,
    FilesInvalid,
    FindingProblem,
    Line,
    WebUrl,
    _field_path,
    _image_file,
    _media_file,
    _needs_time,
    _topic,
    read_findings,
    read_front_matter,
    text_sha256,
)

EVENT_KINDS = ("webinar", "workshop")
RECORDING_SUFFIXES = (".mp4", ".webm", ".mkv", ".wav", ".flac", ".mp3", ".m4a")
"""Recordings the episode is made from: video (audio extracted) or audio."""
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv")
MAX_EVENT_FILE_BYTES = 500_000
MAX_EVENT_BODY_CHARS = 50_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""An event without ``announce`` is public from the first release that includes it."""


class _Strict(BaseModel):
    """The findings' settings: unknown fields refused, values frozen, text stripped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


EventProblem = FindingProblem
"""One mistake in one event file: file, field, message (the findings' shape)."""


class EventsInvalid(FilesInvalid):
    """Every problem in the event files, so the team can fix them all in one pass."""

    kind: ClassVar[str] = "event"


@cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _zone(value: str) -> str:
    """An IANA zone name zoneinfo knows; a misspelling gets the closest names."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, _zone_names(), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise PydanticCustomError(
            "outreach_timezone",
            "'{value}' is not a time zone name; {hint}write an IANA name such as "
            "'Europe/London', 'Africa/Accra' or 'UTC'",
            {"value": value, "hint": hint},
        ) from None
    return value


def _slug(value: str) -> str:
    if not SLUG_PATTERN.match(value):
        suggestion = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "cocoa-webinar"
        raise PydanticCustomError(
            "outreach_slug",
            "'{value}' is not a slug; use lowercase letters, digits and single hyphens, "
            "e.g. '{suggestion}' (the id is permanent: it names the event's URL and invites)",
            {"value": value, "suggestion": suggestion},
        )
    return value


Slug = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_slug)]
Topic = Annotated[str, AfterValidator(_topic)]


def _suffixed(value: str, suffixes: tuple[str, ...], what: str) -> str:
    suffix = PurePosixPath(value).suffix.lower()
    if suffix not in suffixes:
        raise PydanticCustomError(
            "outreach_media_suffix",
            "'{value}' is not {what}; use a file ending in {suffixes}",
            {"value": value, "what": what, "suffixes": ", ".join(suffixes)},
        )
    return value


class Speaker(_Strict):
    name: Line
    role: Line
    organisation: Line
    photo: Line | None = None

    @field_validator("photo")
    @classmethod
    def _photo_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _image_file(value, info, ("JPEG", "PNG"))


class AgendaItem(_Strict):
    """One item of the agenda: its wall-clock start in the event's zone ('14:05' or
    '14:05:30'), its title and who speaks (a speaker's name, or none)."""

    start: time
    title: Line
    speaker: Line | None = None

    @field_validator("start", mode="before")
    @classmethod
    def _wall_clock(cls, value: Any) -> Any:
        if isinstance(value, int | float):  # bool is an int too
            # YAML 1.1 reads an unquoted 14:05 as the number 845 (base 60).
            raise PydanticCustomError(
                "outreach_agenda_time",
                "is a number to YAML; write the time in quotes, e.g. start: '14:05'",
            )
        if isinstance(value, str):
            try:
                return time.fromisoformat(value.strip())
            except ValueError:
                raise PydanticCustomError(
                    "outreach_agenda_time",
                    "'{value}' is not a time of day; write HH:MM or HH:MM:SS in the event's "
                    "time zone, e.g. '14:05'",
                    {"value": value},
                ) from None
        return value


class Registration(_Strict):
    open: bool = True
    capacity: Annotated[int, Field(ge=1, le=100_000)] | None = None
    """Places; registrants beyond it join the waiting list. None: no limit."""
    closes_at: AwareDatetime | None = None
    """When the form closes; defaults to the event's start."""

    @field_validator("closes_at", mode="before")
    @classmethod
    def _needs_time(cls, value: Any) -> Any:
        return _needs_time(value)


class Event(_Strict):
    """One webinar or workshop, validated. ``body`` is the Markdown description."""

    publication_kind: ClassVar[str] = "event"

    id: Slug
    title: Annotated[Line, Field(max_length=150)]
    summary: Annotated[Line, Field(max_length=400)]
    kind: str
    starts: AwareDatetime
    ends: AwareDatetime
    timezone: Annotated[str, AfterValidator(_zone)]
    speakers: Annotated[list[Speaker], Field(min_length=1, max_length=30)]
    agenda: Annotated[list[AgendaItem], Field(max_length=100)] = []
    topics: Annotated[list[Topic], Field(min_length=1, max_length=6)]
    registration: Registration = Registration()
    cancelled: bool = False  # called off: registrants get a CANCEL, the calendar entry goes
    join_url: WebUrl
    """Private: sent to confirmed registrants only, never on a public page or feed."""
    announce: AwareDatetime | None = None
    """When the event's page may go public; leave out to publish at the next release."""
    recording: Line | None = None
    captions: Line | None = None
    slides: Line | None = None
    finding: Slug | None = None
    report: Slug | None = None
    episode_number: Annotated[int, Field(ge=1)] | None = None
    """The recording's episode number in the podcast feed; leave out for none."""
    body: Annotated[str, Field(max_length=MAX_EVENT_BODY_CHARS)] = ""
    source_path: str = ""

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in EVENT_KINDS:
            close = difflib.get_close_matches(value, EVENT_KINDS, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise PydanticCustomError(
                "outreach_event_kind",
                "'{value}' is not a kind of event; {hint}write one of: {kinds}",
                {"value": value, "hint": hint, "kinds": ", ".join(EVENT_KINDS)},
            )
        return value

    @field_validator("starts", "ends", "announce", mode="before")
    @classmethod
    def _dates_need_times(cls, value: Any) -> Any:
        return _needs_time(value)

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, topics: list[str]) -> list[str]:
        if len(set(topics)) != len(topics):
            raise PydanticCustomError(
                "outreach_duplicate_topic", "lists a topic twice; list each topic once"
            )
        return topics

    @field_validator("recording")
    @classmethod
    def _recording_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        _suffixed(value, RECORDING_SUFFIXES, "a recording")
        return _media_file(value, info, "audio")

    @field_validator("captions")
    @classmethod
    def _captions_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        _suffixed(value, (".vtt",), "WebVTT captions")
        path = _media_file(value, info, "transcripts")
        media_dir: Path | None = (info.context or {}).get("media_dir")
        if media_dir is not None:
            head = (media_dir / path).read_bytes()[:16].lstrip(b"\xef\xbb\xbf")
            if not head.startswith(b"WEBVTT"):
                raise PydanticCustomError(
                    "outreach_captions_format",
                    "{path} does not start with 'WEBVTT'; export the captions as WebVTT",
                    {"path": str(media_dir / path)},
                )
        return path

    @field_validator("slides")
    @classmethod
    def _slides_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        _suffixed(value, (".pdf",), "a PDF")
        path = _media_file(value, info, "images")
        media_dir: Path | None = (info.context or {}).get("media_dir")
        if media_dir is not None and not (media_dir / path).read_bytes()[:5] == b"%PDF-":
            raise PydanticCustomError(
                "outreach_slides_format",
                "{path} is not a PDF file; export the slides as PDF",
                {"path": str(media_dir / path)},
            )
        return path

    @model_validator(mode="after")
    def _consistent(self) -> Event:
        """Checks across fields, each raised with the field a writer must change."""
        if self.ends <= self.starts:
            raise _located(
                "ends",
                "ends ({ends}) is not after starts ({starts}); write the end time",
                ends=self.ends.isoformat(),
                starts=self.starts.isoformat(),
            )
        if self.captions and not self.recording:
            raise _located("captions", "captions need a recording; add 'recording:' or remove")
        if self.recording and self.episode_number is None:
            raise _located(
                "episode_number",
                "the recording becomes a podcast episode; add its number, e.g. episode_number: 4",
            )
        if self.finding and self.report:
            raise _located(
                "report", "an event presents one finding or one report; keep one of them"
            )
        closes = self.registration.closes_at
        if closes is not None and closes > self.ends:
            raise _located(
                "registration.closes_at",
                "closes after the event ends ({ends}); close it by the start, e.g. '{starts}'",
                ends=self.ends.isoformat(),
                starts=self.starts.isoformat(),
            )
        names = [speaker.name for speaker in self.speakers]
        if len(set(names)) != len(names):
            raise _located("speakers", "lists a speaker twice; list each speaker once")
        for index, (item, at) in enumerate(zip(self.agenda, self.agenda_times(), strict=True)):
            if item.speaker is not None and item.speaker not in names:
                close = difflib.get_close_matches(item.speaker, names, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise _located(
                    f"agenda[{index}].speaker",
                    "'{name}' is not one of the speakers; {hint}write a name from 'speakers'",
                    name=item.speaker,
                    hint=hint,
                )
            if not self.starts <= at < self.ends:
                raise _located(
                    f"agenda[{index}].start",
                    "'{title}' starts at {at}, outside the event ({start} to {end} {zone}); "
                    "write a time within it",
                    title=item.title,
                    at=item.start.isoformat(),
                    start=self.local(self.starts).time().isoformat(),
                    end=self.local(self.ends).time().isoformat(),
                    zone=self.timezone,
                )
        for index, (before, after) in enumerate(itertools.pairwise(self.agenda_times()), 1):
            if after <= before:
                raise _located(
                    f"agenda[{index}].start",
                    "'{title}' does not start after the item before it; list the agenda in "
                    "time order",
                    title=self.agenda[index].title,
                )
        return self

    # -- what pages, invites and the episode read ---------------------------------------

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the event's zone (daylight saving as it is on that day)."""
        return moment.astimezone(self.zone)

    def clock(self, moment: datetime) -> str:
        """``moment`` as a wall-clock time in the event's zone: 'HH:MM' (':SS' when set)."""
        local = self.local(moment)
        return local.strftime("%H:%M:%S" if local.second else "%H:%M")

    def agenda_times(self) -> list[datetime]:
        """Each agenda item's start as an aware instant: its wall-clock time on the event's
        local start day (the next day when it is earlier than the start: past midnight)."""
        start = self.local(self.starts)
        spans_midnight = self.local(self.ends).date() > start.date()
        times = []
        for item in self.agenda:
            at = datetime.combine(start.date(), item.start, tzinfo=self.zone)
            if spans_midnight and at < start:
                at += timedelta(days=1)
            times.append(at)
        return times

    def agenda_offsets(self) -> list[float]:
        """Seconds from the start to each agenda item: the recording's chapter starts."""
        return [(at - self.starts).total_seconds() for at in self.agenda_times()]

    @property
    def published(self) -> datetime:
        """When the event's page may first be public (``announce``, else always)."""
        return self.announce or EPOCH

    @property
    def public_from(self) -> datetime:
        return self.published

    def is_public(self, now: datetime) -> bool:
        return now >= self.public_from

    @property
    def last_modified(self) -> datetime:
        return max(self.published, self.starts - timedelta(days=365))

    def is_upcoming(self, now: datetime) -> bool:
        """Not yet ended at ``now`` (the release's time, a parameter)."""
        return now < self.ends

    def registration_open(self, now: datetime) -> bool:
        """Whether the form takes sign-ups at ``now``: open, and before it closes."""
        closes = self.registration.closes_at or self.starts
        return self.registration.open and now < closes

    @property
    def is_video(self) -> bool:
        return (
            self.recording is not None
            and PurePosixPath(self.recording).suffix.lower() in VIDEO_SUFFIXES
        )

    @property
    def body_sha256(self) -> str:
        return text_sha256(self.body)


def _located(field: str, message: str, **values: str) -> PydanticCustomError:
    """A cross-field problem that names its field (read back by ``_problem``)."""
    return PydanticCustomError(
        "outreach_event_field", "{field}|" + message, {"field": field, **values}
    )


# ---------------------------------------------------------------------------
# Errors: the findings' wording with the event's fields

FIELD_HINTS: dict[str, str] = {
    "id": "a permanent slug such as 'cocoa-pricing-webinar' (it names the event's URL)",
    "title": "the event title on one line, at most 150 characters",
    "summary": "one or two sentences on one line, at most 400 characters",
    "kind": "one of " + ", ".join(EVENT_KINDS),
    "starts": "a date and time with a timezone, e.g. '2026-12-10T14:00:00+00:00'",
    "ends": "a date and time with a timezone, e.g. '2026-12-10T15:00:00+00:00'",
    "timezone": "the IANA zone the page and invite use, e.g. 'Europe/London'",
    "speakers": "a list of speakers, each with name, role and organisation",
    "speakers.name": "the speaker's name",
    "speakers.role": "the speaker's role, e.g. 'Research lead'",
    "speakers.organisation": "the speaker's organisation",
    "speakers.photo": "a square JPEG or PNG inside media/, or leave it out",
    "agenda": "a list of items, each with start ('14:05'), title and speaker",
    "agenda.start": "the time of day in the event's zone, in quotes, e.g. '14:05'",
    "agenda.title": "the item's title on one line",
    "agenda.speaker": "a name from 'speakers', or leave it out",
    "topics": "a list of topic slugs, e.g. [food-agriculture, scope-3-climate]",
    "registration": "a mapping with open, capacity and closes_at",
    "registration.open": "true or false",
    "registration.capacity": "the number of places, e.g. 100, or leave it out for no limit",
    "registration.closes_at": "a date and time with a timezone, or leave it out (the start)",
    "join_url": "the private joining link (https://...), sent to registrants only",
    "announce": "when the page may go public, with a timezone, or leave it out",
    "recording": "a video or audio file inside media/, e.g. 'video/event.mp4'",
    "captions": "a WebVTT file inside media/, e.g. 'transcripts/event.vtt'",
    "slides": "a PDF inside media/, e.g. 'slides/event.pdf'",
    "finding": "the id of the finding presented, or leave it out",
    "report": "the id of the report presented, or leave it out",
    "episode_number": "the episode number in the podcast feed, a whole number from 1",
    "body": "the Markdown description after the closing '---' line",
}

KNOWN_FIELDS: dict[str, list[str]] = {
    "": [name for name in Event.model_fields if name not in ("body", "source_path")],
    "speakers": list(Speaker.model_fields),
    "agenda": list(AgendaItem.model_fields),
    "registration": list(Registration.model_fields),
}


def _problem(file: str, error: Any) -> EventProblem:
    loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
    loc = tuple(part for part in loc if isinstance(part, int) or not str(part)[0].isupper())
    shown, key = _field_path(loc)
    kind = error["type"]
    hint = FIELD_HINTS.get(key, "")
    if kind == "outreach_event_field":
        field, message = error["msg"].split("|", 1)
        return EventProblem(file, field, message)
    if kind.startswith("outreach_"):
        message = error["msg"]
    elif kind == "missing":
        message = f"missing; add it: {hint}" if hint else "missing; add it"
    elif kind == "extra_forbidden":
        parent = ".".join(key.split(".")[:-1])
        known = KNOWN_FIELDS.get(parent, [])
        close = difflib.get_close_matches(key.split(".")[-1], known, n=1, cutoff=0.6)
        message = (
            f"unknown field; did you mean '{close[0]}'?"
            if close
            else f"unknown field; remove it (known fields: {', '.join(known)})"
        )
    elif kind in ("string_too_short", "too_short") and error.get("ctx", {}).get("min_length") == 1:
        message = f"is empty; write {hint}" if hint else "is empty"
    elif kind in ("string_too_long", "too_long"):
        limit = error.get("ctx", {}).get("max_length")
        unit = "characters" if kind == "string_too_long" else "items"
        message = f"is too long ({len(error['input']):,} {unit}); shorten it to at most {limit:,}"
    elif kind == "timezone_aware":
        message = f"has no timezone; write {hint}"
    else:
        reason = error["msg"][0].lower() + error["msg"][1:]
        message = f"{reason}; write {hint}" if hint else reason
    return EventProblem(file, shown, message)


# ---------------------------------------------------------------------------
# Reading


def _load(path: Path, file: str) -> dict[str, Any]:
    data, body = read_front_matter(
        path,
        file,
        EventsInvalid,
        max_bytes=MAX_EVENT_FILE_BYTES,
        too_large=f"an event file may be at most {MAX_EVENT_FILE_BYTES:,} bytes: shorten the "
        "description",
        body_name="Markdown description",
    )
    return {**data, "body": body, "source_path": file}


def read_event(path: Path, media_dir: Path | None, shown_as: str | None = None) -> Event:
    """Read and validate one event file on its own; raise EventsInvalid with every problem."""
    file = shown_as or str(path)
    data = _load(path, file)
    try:
        return Event.model_validate(data, context={"media_dir": media_dir})
    except ValidationError as exc:
        raise EventsInvalid([_problem(file, error) for error in exc.errors()]) from None


def _unknown(kind: str, wanted: str, known: list[str]) -> str:
    close = difflib.get_close_matches(wanted, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (
        f"no {kind} with id '{wanted}'; {hint}write the id of a file in {kind}s/ "
        f"(known: {', '.join(known) or 'none'})"
    )


def read_events(settings: Settings) -> dict[str, Event]:
    """Every event in the events folder (sorted), by id, with the finding or report each
    presents checked. Raises EventsInvalid with every problem in every file. No folder, or
    no event in it: an empty catalog."""
    folder = settings.paths.events
    paths = [p for p in sorted(folder.glob("*.md")) if p.name.lower() != "readme.md"]
    if not paths:
        return {}
    media = settings.paths.media
    problems: list[EventProblem] = []
    events: dict[str, Event] = {}
    for path in paths:
        shown = _shown(path, settings.root)
        try:
            event = read_event(path, media, shown_as=shown)
        except EventsInvalid as exc:
            problems.extend(exc.problems)
            continue
        if event.id != path.stem:
            problems.append(
                EventProblem(
                    shown,
                    "id",
                    f"'{event.id}' differs from the file name; name the file "
                    f"'{event.id}.md' or set id: {path.stem}",
                )
            )
            continue
        events[event.id] = event
    presented = [event for event in events.values() if event.finding or event.report]
    if presented:
        problems.extend(_presented_problems(settings, presented))
    if problems:
        raise EventsInvalid(problems)
    return events


def _presented_problems(settings: Settings, events: list[Event]) -> list[EventProblem]:
    """An event presenting a finding or report names one that exists (and is not a draft)."""
    problems: list[EventProblem] = []
    if any(event.finding for event in events):
        findings = [f.id for f in read_findings(settings.paths.findings, None, settings.root)]
        for event in events:
            if event.finding and event.finding not in findings:
                problems.append(
                    EventProblem(
                        event.source_path, "finding", _unknown("finding", event.finding, findings)
                    )
                )
    if any(event.report for event in events):
        reports = sorted(_reports(settings))
        for event in events:
            if event.report and event.report not in reports:
                problems.append(
                    EventProblem(
                        event.source_path, "report", _unknown("report", event.report, reports)
                    )
                )
    return problems


def _reports(settings: Settings) -> Mapping[str, Any]:
    """The report catalog when the report kind is known here (else none)."""
    from outreach.kinds import get_kind, known_kinds

    return get_kind("report").read(settings) if "report" in known_kinds() else {}


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
