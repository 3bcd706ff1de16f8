"""The podcast RSS feed: feedgen's podcast extension plus our Podcasting 2.0 extension.

Built to what directories check on submission: ``itunes:explicit`` true/false, an Apple
category, owner email, ``atom:link rel=self``, item GUIDs that never change, enclosure lengths
equal to the tagged files' sizes, whole-second durations, RFC 2822 dates, newest first,
descriptions within 4000 bytes, and a ``lastBuildDate`` taken from the episodes, not the clock.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator

from outreach.podcast.namespace import (
    AppleExplicitEntryExtension,
    AppleExplicitExtension,
    Person,
    Podcasting20EntryExtension,
    Podcasting20Extension,
)

PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
"""The Podcasting 2.0 namespace for podcast:guid (UUIDv5 over the feed URL)."""

ITEM_GUID_NAMESPACE = uuid.UUID("6f0d2b8e-6a43-5b5e-9d0c-3a1f4c2e7b90")
"""Our namespace for item GUIDs, derived from the finding id so they survive any move."""

MAX_DESCRIPTION_BYTES = 4000
EMPTY_FEED_DATE = datetime(1970, 1, 1, tzinfo=UTC)


def podcast_guid(feed_url: str) -> str:
    """UUIDv5 of the feed URL without scheme and trailing slashes, as the spec defines it."""
    parts = urlsplit(feed_url)
    bare = (parts.netloc + parts.path).rstrip("/")
    if parts.query:
        bare += "?" + parts.query
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare))


def item_guid(finding_id: str) -> str:
    return str(uuid.uuid5(ITEM_GUID_NAMESPACE, finding_id))


@dataclass(frozen=True)
class Show:
    title: str
    description: str
    page_url: str
    feed_url: str
    image_url: str
    language: str
    author: str
    owner_name: str
    owner_email: str
    copyright: str
    category: str
    subcategory: str | None
    explicit: bool
    locked: bool
    guid: str
    funding_url: str | None = None
    funding_text: str = ""
    persons: Sequence[Person] = ()


@dataclass(frozen=True)
class FeedEpisode:
    finding_id: str
    title: str
    description_html: str
    link: str
    published: datetime
    updated: datetime
    audio_url: str
    audio_bytes: int
    duration_seconds: int
    image_url: str
    explicit: bool
    number: int
    season: int | None = None
    chapters_url: str | None = None
    transcripts: Sequence[tuple[str, str]] = field(default_factory=tuple)
    persons: Sequence[Person] = ()


def episode_description(summary: str, link: str, chapters: Sequence[str] = ()) -> str:
    """HTML description within Apple's 4000 bytes: chapters are dropped first, then the summary
    is cut, then the link; the loop ends whatever the input (each pass keeps fewer characters).

    Only ``<``, ``>`` and ``&`` are escaped: the feed writer escapes the HTML once more, and an
    apostrophe escaped twice (``&amp;#x27;``) reaches some podcast apps as nothing."""
    read_more = f'<p><a href="{html.escape(link)}">Read the finding and the transcript</a></p>'
    parts = [f"<p>{html.escape(summary, quote=False)}</p>", read_more]
    if chapters:
        items = "".join(f"<li>{html.escape(title, quote=False)}</li>" for title in chapters)
        with_chapters = [*parts[:1], f"<p>Chapters:</p><ol>{items}</ol>", read_more]
        if len("".join(with_chapters).encode()) <= MAX_DESCRIPTION_BYTES:
            return "".join(with_chapters)
    text = "".join(parts)
    keep = len(summary)
    while len(text.encode()) > MAX_DESCRIPTION_BYTES and keep > 0:
        keep = int(keep * 0.9)
        cut = summary[:keep].rsplit(" ", 1)[0] if " " in summary[:keep] else summary[:keep]
        text = f"<p>{html.escape(cut, quote=False)}…</p>{read_more}"
    if len(text.encode()) > MAX_DESCRIPTION_BYTES:
        return "<p>…</p>"  # the link alone is too long: the item's <link> still carries it
    return text


def build_feed(show: Show, episodes: Sequence[FeedEpisode]) -> bytes:
    """RSS 2.0 bytes, items newest first; the same inputs always give the same bytes."""
    ordered = sorted(episodes, key=lambda e: (e.published, e.finding_id), reverse=True)
    feed = FeedGenerator()
    feed.load_extension("podcast")
    feed.register_extension(
        "podcasting", Podcasting20Extension, Podcasting20EntryExtension, atom=False
    )
    feed.register_extension(
        "apple", AppleExplicitExtension, AppleExplicitEntryExtension, atom=False
    )

    feed.title(show.title)
    feed.description(show.description)
    feed.link(href=show.feed_url, rel="self", type="application/rss+xml")
    feed.link(href=show.page_url, rel="alternate")  # RSS <link> takes the last link given
    feed.language(show.language.lower())
    feed.copyright(show.copyright)
    feed.generator("outreach")
    feed.image(url=show.image_url, title=show.title, link=show.page_url)
    newest = max((e.updated for e in ordered), default=EMPTY_FEED_DATE)
    feed.lastBuildDate(newest)
    feed.pubDate(max((e.published for e in ordered), default=EMPTY_FEED_DATE))
    feed.podcast.itunes_author(show.author)
    feed.podcast.itunes_owner(name=show.owner_name, email=show.owner_email)
    feed.podcast.itunes_category(show.category, show.subcategory)
    feed.podcast.itunes_image(show.image_url)
    feed.podcast.itunes_type("episodic")
    feed.podcast.itunes_summary(show.description)
    feed.apple.explicit = show.explicit
    data = feed.podcasting.data
    data.guid = show.guid
    data.locked = show.locked
    data.locked_owner = show.owner_email
    data.funding_url = show.funding_url
    data.funding_text = show.funding_text
    data.persons = list(show.persons)

    for episode in ordered:
        entry = feed.add_entry(order="append")
        entry.guid(item_guid(episode.finding_id), permalink=False)
        entry.title(episode.title)
        entry.link(href=episode.link)
        entry.description(episode.description_html)
        entry.pubDate(episode.published)
        entry.enclosure(episode.audio_url, str(episode.audio_bytes), "audio/mpeg")
        entry.podcast.itunes_duration(episode.duration_seconds)
        entry.podcast.itunes_image(episode.image_url)
        entry.podcast.itunes_episode(episode.number)
        if episode.season is not None:
            entry.podcast.itunes_season(episode.season)
        entry.podcast.itunes_episode_type("full")
        entry.apple.explicit = episode.explicit
        item = entry.podcasting.data
        item.transcripts = list(episode.transcripts)
        item.chapters_url = episode.chapters_url
        item.season = episode.season
        item.episode = episode.number
        item.persons = list(episode.persons)
    return feed.rss_str(pretty=True)
