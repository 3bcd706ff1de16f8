"""Events (webinars and workshops): the format, pages, calendar files and the recording as
an episode. Validation first: every mistake named with file, field and fix, all at once."""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import icalendar
import podcastparser
import pytest
from bs4 import BeautifulSoup
from lxml import etree
from PIL import Image

from audio_tools import convert, ebur128, ffprobe, needs_ffprobe
from outreach.config import Settings, load_settings
from outreach.events.episode import prepare as episode_prepare
from outreach.events.ics import event_calendar, events_calendar
from outreach.events.model import EventsInvalid, read_event, read_events
from outreach.kinds import get_kind
from outreach.podcast.audio import (
    AudioProfile,
    decode_and_measure,
    measure_loudness,
    pcm_input_args,
)
from outreach.podcast.feed import item_guid
from outreach.release import ReleaseRequest, run_release

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


def events_project(tmp_path: Path, channels: str = "") -> Settings:
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
{channels}""",
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
    text = PAST.replace("2026-07-15T14:00:00+01:00", "2026-03-29T13:00:00+00:00").replace(
        "2026-07-15T15:00:00+01:00", "2026-03-29T14:00:00+00:00"
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
            "starts: 2026-07-15T14:00:00+01:00",
            "starts: 2026-07-15",
            "starts: '2026-07-15' has no time or timezone; write e.g. '2026-07-15T09:00:00+00:00'",
        ),
        (
            "starts: 2026-07-15T14:00:00+01:00",
            "starts: 2026-07-15T14:00:00",
            "starts: has no timezone; write a date and time with a timezone",
        ),
        (
            "ends: 2026-07-15T15:00:00+01:00",
            "ends: 2026-07-15T13:00:00+01:00",
            "ends: ends (2026-07-15T13:00:00+01:00) is not after starts",
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
    text = PAST.replace("2026-07-15T14:00:00+01:00", "2026-03-30T14:00:00+01:00").replace(
        "2026-07-15T15:00:00+01:00", "2026-03-30T15:00:00+01:00"
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


def test_a_zone_at_utc_without_daylight_saving_still_gets_its_tzid_and_vtimezone(
    tmp_path: Path,
) -> None:
    settings = events_project(tmp_path)
    event = read_events(settings)["uganda-robusta-workshop"].model_copy(
        update={"timezone": "Africa/Accra"}
    )
    calendar = icalendar.Calendar.from_ical(event_calendar(event, settings, "REQUEST", 1))
    [entry] = calendar.walk("VEVENT")
    assert entry["DTSTART"].params["TZID"] == "Africa/Accra"
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Africa/Accra"]
    assert entry.decoded("DTSTART").astimezone(UTC) == datetime(2027, 4, 14, 6, 30, tzinfo=UTC)


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


# -- pages -------------------------------------------------------------------------------

BETWEEN = datetime(2026, 9, 1, tzinfo=UTC)
"""After the webinar (July 2026), before the workshop (April 2027)."""
EVENTS_ONLY = """
[channels.events]
platforms = ["static"]
"""


ALL_CHANNELS = "".join(
    f'[channels.{name}]\nplatforms = ["static"]\n'
    for name in ("blog", "podcast", "newsroom", "events")
)


def release_events(settings: Settings, now: datetime = BETWEEN):
    return run_release(ReleaseRequest(settings, now, kinds=["event"]))


def page(settings: Settings, path: str) -> BeautifulSoup:
    return BeautifulSoup((settings.paths.public / path).read_text(encoding="utf-8"), "html.parser")


def test_the_events_index_lists_upcoming_events_first_then_past_ones(tmp_path: Path) -> None:
    settings = events_project(tmp_path, EVENTS_ONLY)
    release_events(settings)
    index = page(settings, "events/index.html")
    upcoming = [a.get_text() for a in index.select("ol.upcoming h3 a")]
    past = [a.get_text() for a in index.select("ol.past h3 a")]
    assert upcoming == ["Workshop: traceable robusta lots for Ugandan cooperatives"]
    assert past == ["Webinar: where cocoa loses value between farm gate and port"]
    register = index.select_one("ol.upcoming a.button")
    assert register["href"] == (
        "https://findings.example.org/research/events/uganda-robusta-workshop/register"
    )
    # Before the webinar, both are upcoming, soonest first: "upcoming" is the release's now.
    later = events_project(tmp_path / "again", EVENTS_ONLY)
    release_events(later, datetime(2026, 1, 1, tzinfo=UTC))
    index = page(later, "events/index.html")
    assert [a.get_text()[:8] for a in index.select("ol.upcoming h3 a")] == ["Webinar:", "Workshop"]
    assert index.select("ol.past") == []


def test_an_event_page_shows_times_in_its_zone_utc_and_common_zones_and_json_ld(
    tmp_path: Path,
) -> None:
    settings = events_project(tmp_path, EVENTS_ONLY)
    release_events(settings)
    soup = page(settings, "events/uganda-robusta-workshop/index.html")
    rows = {
        row.th.get_text(): [td.get_text() for td in row.find_all("td")]
        for row in soup.select("section.times tbody tr")
    }
    assert rows["Africa/Kampala (the event's time)"] == [
        "Wed 14 April 2027, 09:30 EAT",
        "12:00 EAT",
    ]
    assert rows["UTC"] == ["Wed 14 April 2027, 06:30 UTC", "09:00 UTC"]
    assert rows["London"] == ["Wed 14 April 2027, 07:30 BST", "10:00 BST"]
    assert rows["New York"][0] == "Wed 14 April 2027, 02:30 EDT"
    # Past midnight somewhere, the end says which day.
    assert rows["Los Angeles"] == ["Tue 13 April 2027, 23:30 PDT", "Wed 14 April 2027, 02:00 PDT"]
    assert soup.select_one("section.agenda li").get_text(" ", strip=True) == (
        "09:30 Welcome and introductions · Grace Nakato"
    )
    assert "Grace Nakato" in soup.select_one("section.speakers").get_text()
    assert soup.select_one("p.register a.button")["href"].endswith(
        "/events/uganda-robusta-workshop/register"
    )
    data = json.loads(soup.find("script", type="application/ld+json").string)
    assert data["@type"] == "Event"
    assert data["eventAttendanceMode"] == "https://schema.org/OnlineEventAttendanceMode"
    assert data["startDate"] == "2027-04-14T09:30:00+03:00"
    assert data["location"]["url"].endswith("/events/uganda-robusta-workshop/")
    share = settings.paths.public / "events/uganda-robusta-workshop/share.png"
    assert soup.find("meta", property="og:image")["content"].endswith("share.png")
    with Image.open(share) as image:
        assert image.size == (1200, 630)


def test_registration_closes_at_its_time_and_the_button_goes(tmp_path: Path) -> None:
    settings = events_project(tmp_path, EVENTS_ONLY)
    release_events(settings, datetime(2027, 4, 13, 15, tzinfo=UTC))  # after closes_at
    soup = page(settings, "events/uganda-robusta-workshop/index.html")
    assert soup.select("a.button") == []
    assert "Registration is closed." in soup.get_text()


def test_a_past_event_page_has_transcript_slides_recap_and_finding(tmp_path: Path) -> None:
    settings = events_project(tmp_path, EVENTS_ONLY + '[channels.blog]\nplatforms = ["static"]\n')
    release_events(settings)
    soup = page(settings, "events/cocoa-farm-gate-webinar/index.html")
    cues = [p.get_text(" ", strip=True) for p in soup.select("#transcript p")]
    assert cues[0] == "0:00 Welcome to this webinar from the Durable Supply Chains programme."
    links = {a.get_text(): a["href"] for a in soup.select("ul.links a")}
    assert links["Slides (PDF)"] == "/research/events/cocoa-farm-gate-webinar/slides.pdf"
    assert links["Read the finding"] == "/research/blog/farm-gate-to-fob/"
    assert (settings.paths.public / "events/cocoa-farm-gate-webinar/slides.pdf").read_bytes()[
        :5
    ] == b"%PDF-"
    assert soup.select("a.button") == []
    recap = page(settings, "blog/events/cocoa-farm-gate-webinar/index.html")
    recap_links = {a.get_text(): a["href"] for a in recap.select("ul.links a")}
    assert recap_links["Read the finding"] == "/research/blog/farm-gate-to-fob/"
    assert "Slides (PDF)" in recap_links


def test_the_calendar_feed_and_per_event_files_are_published(tmp_path: Path) -> None:
    settings = events_project(tmp_path, EVENTS_ONLY)
    release_events(settings)
    feed = icalendar.Calendar.from_ical((settings.paths.public / "events.ics").read_bytes())
    assert len(feed.walk("VEVENT")) == 2
    one = icalendar.Calendar.from_ical(
        (settings.paths.public / "events/uganda-robusta-workshop.ics").read_bytes()
    )
    assert str(one.walk("VEVENT")[0]["UID"]) == "uganda-robusta-workshop@findings.example.org"


def test_no_public_file_carries_a_join_link(tmp_path: Path) -> None:
    settings = events_project(tmp_path, ALL_CHANNELS)
    run_release(ReleaseRequest(settings, BETWEEN, approvals={}))
    events = read_events(settings)
    files = [p for p in settings.paths.public.rglob("*") if p.is_file()]
    assert any(p.name == "events.ics" for p in files)
    for path in files:
        data = path.read_bytes()
        for event in events.values():
            assert event.join_url.encode() not in data, path
        assert b"meet.example.org" not in data, path


# -- the recording as an episode -----------------------------------------------------------

PODCAST = "".join(
    f'[channels.{name}]\nplatforms = ["static"]\n' for name in ("blog", "podcast", "events")
)
EVENT_EPISODE = "podcast/episodes/events/cocoa-farm-gate-webinar.mp3"


@pytest.fixture(scope="module")
def episode_release(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Everything released once with the podcast: findings' and the event's episodes."""
    settings = events_project(tmp_path_factory.mktemp("episode"), PODCAST)
    run_release(ReleaseRequest(settings, BETWEEN))
    return settings


@needs_ffprobe
def test_the_recording_becomes_a_mastered_episode_with_agenda_chapters(
    episode_release: Settings,
) -> None:
    path = episode_release.paths.public / EVENT_EPISODE
    probe = ffprobe(path)
    [stream] = [s for s in probe["streams"] if s["codec_type"] == "audio"]
    # The video track is gone: only the episode art (a picture in the tag) remains.
    assert all(s["disposition"]["attached_pic"] for s in probe["streams"] if s is not stream)
    assert stream["codec_name"] == "mp3"
    assert int(stream["sample_rate"]) == 44100
    assert stream["channels"] == 1
    # ID3 frames are in no set order (mutagen writes shorter ones first): the table of
    # contents orders them, so compare them by start time.
    marks = sorted(probe["chapters"], key=lambda c: float(c["start_time"]))
    assert [c["tags"]["title"] for c in marks] == [
        "Welcome",
        "Where value leaks",
        "Questions",
    ]
    assert [round(float(c["start_time"])) for c in marks] == [0, 10, 19]
    integrated, peak = ebur128(path)
    assert abs(integrated - (-19.0)) <= 1.0, integrated  # the podcast's mono target
    assert peak <= -1.0
    art = episode_release.paths.public / EVENT_EPISODE.replace(".mp3", ".jpg")
    with Image.open(art) as image:
        assert image.size[0] == image.size[1] >= 1400
    chapters = json.loads(
        (episode_release.paths.public / EVENT_EPISODE.replace(".mp3", ".chapters.json")).read_text()
    )
    assert [c["startTime"] for c in chapters["chapters"]] == [0.0, 10.0, 19.0]


def test_the_episode_joins_the_podcast_feed_with_a_stable_guid_and_its_speakers(
    episode_release: Settings,
) -> None:
    raw = (episode_release.paths.public / "podcast/feed.xml").read_bytes()
    parsed = feedparser.parse(raw)
    assert not parsed.bozo, parsed.get("bozo_exception")
    titles = [entry.title for entry in parsed.entries]
    assert "Webinar: where cocoa loses value between farm gate and port" in titles
    assert len(titles) == 3  # two findings' episodes and the event's
    other = podcastparser.parse(
        "https://findings.example.org/research/podcast/feed.xml", io.BytesIO(raw)
    )
    event = next(e for e in other["episodes"] if e["title"].startswith("Webinar"))
    assert event["guid"] == item_guid("event:cocoa-farm-gate-webinar")
    assert event["enclosures"][0]["url"].endswith(EVENT_EPISODE)
    assert event["total_time"] in range(24, 28)
    tree = etree.fromstring(raw)
    ns = {"podcast": "https://podcastindex.org/namespace/1.0"}
    item = next(i for i in tree.iter("item") if i.findtext("title").startswith("Webinar"))
    persons = [(p.text, p.get("role")) for p in item.findall("podcast:person", ns)]
    assert persons == [("Amina Mensah", "guest"), ("Tom Okello", "guest")]
    assert item.find("podcast:transcript", ns).get("url").endswith("cocoa-farm-gate-webinar.vtt")


def test_a_later_release_of_events_alone_keeps_the_findings_episodes_in_the_feed(
    tmp_path: Path,
) -> None:
    settings = events_project(tmp_path, PODCAST)
    run_release(ReleaseRequest(settings, BETWEEN, kinds=["finding"]))
    before = feedparser.parse((settings.paths.public / "podcast/feed.xml").read_bytes())
    assert len(before.entries) == 2
    run_release(ReleaseRequest(settings, BETWEEN, kinds=["event"]))
    after = feedparser.parse((settings.paths.public / "podcast/feed.xml").read_bytes())
    assert len(after.entries) == 3
    assert {e.id for e in before.entries} < {e.id for e in after.entries}


def test_an_agenda_item_past_the_recordings_end_stops_the_release_naming_it(
    tmp_path: Path,
) -> None:
    settings = events_project(tmp_path, PODCAST)
    path = settings.paths.events / "cocoa-farm-gate-webinar.md"
    path.write_text(PAST.replace('"14:00:19"', '"14:00:40"'), encoding="utf-8")
    with pytest.raises(EventsInvalid) as caught:
        run_release(ReleaseRequest(settings, BETWEEN, kinds=["event"]))
    assert (
        "events/cocoa-farm-gate-webinar.md: agenda[2].start: 'Questions' starts 40 s after the "
        "event's start, past the end of the recording (25."
    ) in str(caught.value)
    assert not (settings.paths.public / EVENT_EPISODE).exists()


@pytest.mark.parametrize("suffix", [".mkv", ".webm"])
def test_a_matroska_or_webm_recording_is_mastered_too(tmp_path: Path, suffix: str) -> None:
    media = tmp_path / "media"
    (media / "video").mkdir(parents=True)
    source = MEDIA / "video" / "cocoa-farm-gate-webinar.mp4"
    codec = (
        ["-c", "copy"]
        if suffix == ".mkv"
        else ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"]
    )
    convert(source, media / "video" / f"talk{suffix}", *codec)
    settings = Settings.model_validate(
        {"paths": {"media": str(media), "state": str(tmp_path / "state")}}
    )
    event = read_event(REPO / "events" / "cocoa-farm-gate-webinar.md", MEDIA).model_copy(
        update={"recording": f"video/talk{suffix}"}
    )
    mastered = episode_prepare(event, settings)
    assert mastered is not None and 24 < mastered.duration < 27
    assert abs(mastered.output_lufs - (-19.0)) <= 1.0


def test_a_videos_loudness_measured_while_extracting_its_audio_equals_one_pass(
    tmp_path: Path,
) -> None:
    # 45 s (speech, then silence, where the loudness filter's state decays).
    source = convert(
        MEDIA / "video" / "cocoa-farm-gate-webinar.mp4",
        tmp_path / "long.mkv",
        "-af", "apad=pad_dur=20", "-c:v", "copy", "-c:a", "flac",
    )  # fmt: skip
    profile = AudioProfile()
    loudness, seconds = decode_and_measure(source, profile, tmp_path / "audio.pcm")
    assert 45 <= seconds < 46
    one_pass = measure_loudness(tmp_path / "audio.pcm", input_args=pcm_input_args(profile))
    assert abs(loudness.integrated - one_pass.integrated) <= 0.05
    assert loudness.peak is not None and round(loudness.peak, 1) == one_pass.peak


def test_an_event_is_held_until_its_announce_time(tmp_path: Path) -> None:
    settings = events_project(tmp_path, EVENTS_ONLY)
    path = settings.paths.events / "uganda-robusta-workshop.md"
    path.write_text(
        UPCOMING.replace("kind: workshop", "kind: workshop\nannounce: 2026-10-01T09:00:00+00:00"),
        encoding="utf-8",
    )
    report = release_events(settings)  # 1 September 2026: before the announcement
    # Held under its ledger key: a run scheduled for the announcement releases the event.
    assert [held.finding_id for held in report.held] == ["event:uganda-robusta-workshop"]
    assert not (settings.paths.public / "events/uganda-robusta-workshop").exists()
    feed = icalendar.Calendar.from_ical((settings.paths.public / "events.ics").read_bytes())
    assert [str(e["UID"]).split("@")[0] for e in feed.walk("VEVENT")] == ["cocoa-farm-gate-webinar"]
    assert "robusta" not in (settings.paths.public / "events/index.html").read_text()
    release_events(settings, datetime(2026, 10, 2, tzinfo=UTC))
    assert (settings.paths.public / "events/uganda-robusta-workshop/index.html").is_file()
