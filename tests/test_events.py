"""Events (webinars and workshops): the format, pages, calendar files and the recording as
an episode. Validation first: every mistake named with file, field and fix, all at once."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest

from outreach.config import Settings, load_settings
from outreach.events.ics import event_calendar, events_calendar
from outreach.events.model import EventsInvalid, read_event, read_events
from outreach.kinds import get_kind

REPO = Path(__file__).resolve().parent.parent
MEDIA = REPO / "media"
PAST = (REPO / "events" / "cocoa-farm-gate-webinar.md").read_text(encoding="utf-8")
UPCOMING = (REPO / "events" / "uganda-robusta-workshop.md").read_text(encoding="utf-8")


def problems_for(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "event.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EventsInvalid) as caught:
        read_event(path, MEDIA, shown_as="events/event.md")
    return [str(problem) for problem in caught.value.problems]


def events_project(tmp_path: Path) -> Settings:
    """A project with the repository's findings, media and sample events."""
    for name in ("findings", "events"):
        shutil.copytree(REPO / name, tmp_path / name)
    (tmp_path / "outreach.toml").write_text(
        f"""
[site]
base_url = "https://findings.example.org/research/"
[paths]
media = "{MEDIA.as_posix()}"
templates = "{(REPO / "templates").as_posix()}"
press = "{(REPO / "press").as_posix()}"
""",
        encoding="utf-8",
    )
    return load_settings(tmp_path / "outreach.toml")


def test_the_sample_events_are_valid_and_are_the_event_kind(tmp_path: Path) -> None:
    settings = events_project(tmp_path)
    events = get_kind("event").read(settings)
    assert sorted(events) == ["cocoa-farm-gate-webinar", "uganda-robusta-workshop"]
    past = events["cocoa-farm-gate-webinar"]
    assert past.agenda_offsets() == [0.0, 10.0, 19.0]
    assert past.is_video and past.captions and past.slides
    assert get_kind("event").ledger_key("x") == "event:x"


def test_agenda_times_are_wall_clock_in_the_events_zone_across_daylight_saving(
    tmp_path: Path,
) -> None:
    # 29 March 2026: London moves to BST at 01:00 UTC. 14:00 local is 13:00 UTC.
    text = PAST.replace("2026-03-10T14:00:00+00:00", "2026-03-29T13:00:00+00:00").replace(
        "2026-03-10T15:00:00+00:00", "2026-03-29T14:00:00+00:00"
    )
    path = tmp_path / "event.md"
    path.write_text(text, encoding="utf-8")
    event = read_event(path, MEDIA)
    assert event.local(event.starts).hour == 14
    assert event.agenda_offsets() == [0.0, 10.0, 19.0]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "timezone: Europe/London",
            "timezone: Europe/Londn",
            "events/event.md: timezone: 'Europe/Londn' is not a time zone name; did you mean "
            "'Europe/London'?",
        ),
        (
            "kind: webinar",
            "kind: webnar",
            "kind: 'webnar' is not a kind of event; did you mean 'webinar'?",
        ),
        (
            "starts: 2026-03-10T14:00:00+00:00",
            "starts: 2026-03-10",
            "starts: '2026-03-10' has no time or timezone; write e.g. '2026-03-10T09:00:00+00:00'",
        ),
        (
            "starts: 2026-03-10T14:00:00+00:00",
            "starts: 2026-03-10T14:00:00",
            "starts: has no timezone; write a date and time with a timezone",
        ),
        (
            "ends: 2026-03-10T15:00:00+00:00",
            "ends: 2026-03-10T13:00:00+00:00",
            "ends: ends (2026-03-10T13:00:00+00:00) is not after starts",
        ),
        (
            "recording: video/cocoa-farm-gate-webinar.mp4",
            "recording: video/cocoa-farm-gate-webinar.avi",
            "recording: 'video/cocoa-farm-gate-webinar.avi' is not a recording; use a file ending "
            "in .mp4, .webm, .mkv, .wav, .flac, .mp3, .m4a",
        ),
        (
            "recording: video/cocoa-farm-gate-webinar.mp4",
            "recording: video/missing.mp4",
            "recording: no file at",
        ),
        (
            "slides: slides/cocoa-farm-gate-webinar.pdf",
            "slides: transcripts/cocoa-farm-gate-webinar.vtt",
            "slides: 'transcripts/cocoa-farm-gate-webinar.vtt' is not a PDF",
        ),
        (
            "captions: transcripts/cocoa-farm-gate-webinar.vtt",
            "captions: transcripts/uganda-robusta-case-study.srt",
            "captions: 'transcripts/uganda-robusta-case-study.srt' is not WebVTT captions",
        ),
        (
            "title: Questions, speaker: Tom Okello}",
            "title: Questions, speaker: Tom Okelo}",
            "agenda[2].speaker: 'Tom Okelo' is not one of the speakers; did you mean 'Tom Okello'?",
        ),
        (
            '{start: "14:00:19"',
            "{start: 14:00:19",
            "agenda[2].start: is a number to YAML; write the time in quotes",
        ),
        (
            '{start: "14:00:19"',
            '{start: "15:30"',
            "agenda[2].start: 'Questions' starts at 15:30:00, outside the event (14:00:00 to "
            "15:00:00 Europe/London)",
        ),
        (
            '{start: "14:00:19"',
            '{start: "14:00:05"',
            "agenda[2].start: 'Questions' does not start after the item before it",
        ),
        ("join_url: https://", "join_url: javascript://", "join_url: 'javascript://"),
        ("  capacity: 200", "  capacity: 0", "registration.capacity: input should be greater"),
        ("id: cocoa-farm-gate-webinar", "id: Cocoa Webinar", "id: 'Cocoa Webinar' is not a slug"),
        (
            "  open: false",
            "  opne: false",
            "registration.opne: unknown field; did you mean 'open'?",
        ),
    ],
)
def test_each_mistake_names_file_field_and_fix(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in PAST
    problems = problems_for(tmp_path, PAST.replace(old, new, 1))
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith("events/event.md: ") for problem in problems)


def test_every_mistake_in_every_event_file_is_reported_at_once(tmp_path: Path) -> None:
    settings = events_project(tmp_path)
    folder = settings.paths.events
    past = folder / "cocoa-farm-gate-webinar.md"
    past.write_text(
        PAST.replace("kind: webinar", "kind: talk").replace(
            "timezone: Europe/London", "timezone: Mars/Olympus"
        ),
        encoding="utf-8",
    )
    upcoming = folder / "uganda-robusta-workshop.md"
    upcoming.write_text(
        UPCOMING.replace("finding: uganda-robusta-case-study", "finding: uganda-robusta"),
        encoding="utf-8",
    )
    with pytest.raises(EventsInvalid) as caught:
        read_events(settings)
    text = str(caught.value)
    assert text.startswith("3 problems in 2 event files:")
    assert "events/cocoa-farm-gate-webinar.md: kind: 'talk'" in text
    assert "events/cocoa-farm-gate-webinar.md: timezone: 'Mars/Olympus'" in text
    assert (
        "events/uganda-robusta-workshop.md: finding: no finding with id 'uganda-robusta'; "
        "did you mean 'uganda-robusta-case-study'?"
    ) in text


def test_an_event_whose_id_differs_from_its_file_name_is_refused(tmp_path: Path) -> None:
    settings = events_project(tmp_path)
    (settings.paths.events / "uganda-robusta-workshop.md").rename(
        settings.paths.events / "robusta.md"
    )
    with pytest.raises(EventsInvalid, match=r"events/robusta\.md: id: 'uganda-robusta-workshop'"):
        read_events(settings)


def test_no_events_folder_is_an_empty_catalog(tmp_path: Path) -> None:
    settings = events_project(tmp_path)
    shutil.rmtree(settings.paths.events)
    assert read_events(settings) == {}


# -- calendar files --------------------------------------------------------------------


def dst_event(tmp_path: Path):
    """The past sample moved to the first Monday after London's clocks went forward."""
    text = PAST.replace("2026-03-10T14:00:00+00:00", "2026-03-30T14:00:00+01:00").replace(
        "2026-03-10T15:00:00+00:00", "2026-03-30T15:00:00+01:00"
    )
    path = tmp_path / "event.md"
    path.write_text(text, encoding="utf-8")
    return read_event(path, MEDIA)


def test_an_invite_has_a_stable_uid_its_sequence_and_the_zone_and_lands_at_the_right_instant(
    tmp_path: Path,
) -> None:
    settings = events_project(tmp_path)
    event = dst_event(tmp_path)
    data = event_calendar(event, settings, "REQUEST", 3, with_join_url=True, attendee="a@x.org")
    calendar = icalendar.Calendar.from_ical(data)
    assert calendar["METHOD"] == "REQUEST"
    [entry] = calendar.walk("VEVENT")
    assert str(entry["UID"]) == "cocoa-farm-gate-webinar@findings.example.org"
    assert int(entry["SEQUENCE"]) == 3
    [zone] = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/London"
    start = entry.decoded("DTSTART")
    assert entry["DTSTART"].params["TZID"] == "Europe/London"
    # 14:00 in London on 30 March 2026 is 13:00 UTC (summer time began on the 29th).
    assert start.astimezone(UTC) == datetime(2026, 3, 30, 13, 0, tzinfo=UTC)
    # A reader that resolves TZID from the file's own VTIMEZONE gets the same instant.
    own_zone = zone.to_tz()
    wall = datetime(2026, 3, 30, 14, 0)
    assert wall.replace(tzinfo=own_zone).astimezone(UTC) == datetime(2026, 3, 30, 13, tzinfo=UTC)
    # A week before the change, the same wall-clock time is 14:00 UTC.
    assert datetime(2026, 3, 23, 14).replace(tzinfo=own_zone).utcoffset().total_seconds() == 0
    assert "https://meet.example.org/j/cocoa-farm-gate-8f2k" in data.decode()
    # The same event gives the same bytes on every run (DTSTAMP from its own dates).
    assert data == event_calendar(
        event, settings, "REQUEST", 3, with_join_url=True, attendee="a@x.org"
    )


def test_a_cancellation_is_method_cancel_with_the_same_uid(tmp_path: Path) -> None:
    settings = events_project(tmp_path)
    event = read_events(settings)["uganda-robusta-workshop"]
    calendar = icalendar.Calendar.from_ical(event_calendar(event, settings, "CANCEL", 4))
    [entry] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "CANCEL"
    assert str(entry["STATUS"]) == "CANCELLED"
    assert str(entry["UID"]) == "uganda-robusta-workshop@findings.example.org"
    assert int(entry["SEQUENCE"]) == 4


def test_public_calendar_files_carry_no_join_link(tmp_path: Path) -> None:
    settings = events_project(tmp_path)
    events = read_events(settings)
    public = [events_calendar(events.values(), settings)]
    public += [event_calendar(event, settings) for event in events.values()]
    for data in public:
        for event in events.values():
            assert event.join_url.encode() not in data
            assert b"meet.example.org" not in data
    calendar = icalendar.Calendar.from_ical(public[0])
    assert [str(e["UID"]).split("@")[0] for e in calendar.walk("VEVENT")] == [
        "cocoa-farm-gate-webinar",
        "uganda-robusta-workshop",
    ]
    assert {str(z["TZID"]) for z in calendar.walk("VTIMEZONE")} == {
        "Europe/London",
        "Africa/Kampala",
    }
