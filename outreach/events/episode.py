"""An event's recording as a podcast episode: mastered through the podcast's own mastering
(the same loudness targets, one decode and one encode; a video's audio is taken without
decoding the picture), chapters from the agenda, the transcript from the captions, art
drawn from the show art and the event's title, the speakers as Podcasting 2.0 ``person``
tags.

``prepare`` is the slow part (the release runs it before rendering); ``episode_files`` only
reads the mastered MP3 and tags bytes in memory, so rendering stays pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from outreach.config import Settings
from outreach.events.model import Event, EventProblem, EventsInvalid
from outreach.finding import Chapter
from outreach.podcast.art import draw_episode_art
from outreach.podcast.audio import MasteredAudio, cached_mastering_key, master
from outreach.podcast.chapters import chapters_json
from outreach.podcast.feed import FeedEpisode, episode_description
from outreach.podcast.namespace import Person
from outreach.podcast.show import PodcastError, audio_profile, show_cover
from outreach.podcast.tags import EpisodeTags, chapter_marks, tag_mp3
from outreach.urls import SiteUrls, event_episode_path, event_path
from outreach.vocabulary import Deliverable

GUID_PREFIX = "event:"
"""Feed GUIDs of event episodes are made from ``event:<id>``: stable, and never a finding's."""


def mastering_key(event: Event, settings: Settings) -> str | None:
    """The content key of the event's mastered recording (None: no recording)."""
    if event.recording is None:
        return None
    source = settings.paths.media / event.recording
    return "master-" + cached_mastering_key(
        source, audio_profile(settings), settings.paths.audio_cache
    )


def prepare(
    event: Event, settings: Settings, progress: Callable[[float], None] | None = None
) -> MasteredAudio | None:
    """Master the recording (from the cache when unchanged) and check every agenda item
    starts within it: a chapter past the end is an error naming the item, before any work
    is published."""
    if event.recording is None:
        return None
    source = settings.paths.media / event.recording
    try:
        mastered = master(source, settings.paths.audio_cache, audio_profile(settings), progress)
    except Exception as exc:
        raise PodcastError(f"{event.source_path}: recording {source}: {exc}") from exc
    problems = chapter_problems(event, mastered.duration)
    if problems:
        raise EventsInvalid(problems)
    return mastered


def chapter_problems(event: Event, duration: float) -> list[EventProblem]:
    """Agenda items that start at or after the recording's end."""
    problems = []
    for index, (item, offset) in enumerate(zip(event.agenda, event.agenda_offsets(), strict=True)):
        if offset >= duration:
            problems.append(
                EventProblem(
                    event.source_path,
                    f"agenda[{index}].start",
                    f"'{item.title}' starts {offset:g} s after the event's start, past the end "
                    f"of the recording ({duration:.1f} s); correct the time, or trim the agenda "
                    "to what was recorded (the recording is taken to begin at 'starts')",
                )
            )
    return problems


def chapters(event: Event) -> list[Chapter]:
    """The agenda as chapters: offsets from the start of the recording."""
    return [
        Chapter(start=offset, title=item.title)
        for item, offset in zip(event.agenda, event.agenda_offsets(), strict=True)
    ]


@dataclass(frozen=True)
class EventEpisode:
    deliverables: list[Deliverable]
    entry: FeedEpisode


def episode_files(
    event: Event, mastered: MasteredAudio, settings: Settings, urls: SiteUrls
) -> EventEpisode:
    """The tagged MP3, its art, chapters and captions, and the feed entry."""
    assert event.recording is not None and event.episode_number is not None
    number = event.episode_number
    page_url = urls.url(event_path(event.id))
    art = draw_episode_art(show_cover(settings), event.title, number)
    marks = chapters(event)
    tags = EpisodeTags(
        title=event.title,
        artist=settings.podcast.author,
        album=settings.podcast.title,
        track=number,
        date=event.starts,
        comment=event.summary,
        link=page_url,
        cover=art,
        cover_mime="image/jpeg",
        chapters=chapter_marks([(c.start, c.title, None) for c in marks], mastered.duration),
    )
    audio = tag_mp3(mastered.path.read_bytes(), tags)
    owner = event.id

    def path(suffix: str) -> str:
        return event_episode_path(event.id, suffix)

    files = [
        Deliverable(path(".mp3"), audio, owner),
        Deliverable(path(".jpg"), art, owner),
    ]
    chapters_url = None
    if marks:
        files.append(Deliverable(path(".chapters.json"), chapters_json(marks), owner))
        chapters_url = urls.url(path(".chapters.json"))
    transcripts: list[tuple[str, str]] = []
    if event.captions:
        captions = (settings.paths.media / event.captions).read_bytes()
        files.append(Deliverable(path(".vtt"), captions, owner))
        transcripts = [
            (urls.url(path(".vtt")), "text/vtt"),
            (page_url + "#transcript", "text/html"),
        ]
    entry = FeedEpisode(
        finding_id=GUID_PREFIX + event.id,
        title=event.title,
        description_html=episode_description(event.summary, page_url, [c.title for c in marks]),
        link=page_url,
        published=event.ends,
        updated=event.ends,
        audio_url=urls.url(path(".mp3")),
        audio_bytes=len(audio),
        duration_seconds=round(mastered.duration),
        image_url=urls.url(path(".jpg")),
        explicit=False,
        number=number,
        chapters_url=chapters_url,
        transcripts=transcripts,
        persons=[Person(speaker.name, "guest", None) for speaker in event.speakers],
    )
    return EventEpisode(files, entry)
