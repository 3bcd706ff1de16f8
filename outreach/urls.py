"""Every path of the published site in one place, so no channel spells another's URLs.

Channels, the newsletter, the press pitch and the CLI ask this map for a post, an episode's
files, a newsroom page, a press kit or a feed; a change of layout is a change here only.
Paths are relative to the site root; ``url`` and ``href`` turn them into links.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from outreach.errors import RenderError

BLOG_FEED = "feed.atom"
PODCAST_PAGE = "podcast/"
PODCAST_FEED = "podcast/feed.xml"
PODCAST_COVER = "podcast/cover.jpg"
NEWSROOM = "newsroom/"
TOPICS = "topics/"
KIT_FOLDER = "press/kit/"
"""Where every press kit's folder is; its own index lists none of them."""

REPORTS_INDEX = "reports/"
REPORTS_FEED = "reports/feed.atom"
REPORTS_SITEMAP = "reports/sitemap.xml"
EVENTS_INDEX = "events/"
EVENTS_CALENDAR = "events.ics"
EVENTS = "events"
"""Every event as one calendar feed (subscribe once, get new events)."""

POSTS = "posts"
EPISODES = "episodes"
PRESS_KITS = "press kits"
REPORTS = "reports"
"""Sections of the site a channel may host (its ``hosts``): the map links to one only when a
configured channel hosts it, so no channel asks which other channels are on."""


def post_path(finding_id: str) -> str:
    return f"blog/{finding_id}/"


def report_path(report_id: str, chapter: str = "") -> str:
    """A report's landing page, or one of its chapter pages (``chapter`` is its slug)."""
    return f"{REPORTS_INDEX}{report_id}/" + (f"{chapter}/" if chapter else "")


def report_pdf_path(report_id: str) -> str:
    """The PDF edition's stable address (the same for the report's whole life)."""
    return f"{REPORTS_INDEX}{report_id}/{report_id}.pdf"


def event_path(event_id: str) -> str:
    """An event's page (its folder also holds its share image)."""
    return f"{EVENTS_INDEX}{event_id}/"


def event_calendar_path(event_id: str) -> str:
    """One event's calendar file (``.ics``): add it to a calendar without registering."""
    return f"{EVENTS_INDEX}{event_id}.ics"


def event_episode_path(event_id: str, suffix: str) -> str:
    """An event recording's episode file: ``.mp3``, its art, chapters or transcript."""
    return f"podcast/episodes/events/{event_id}{suffix}"


def recap_path(event_id: str) -> str:
    """The recap post of an event on the blog (episode, slides, what was presented)."""
    return f"blog/events/{event_id}/"


def event_register_url(web_base_url: str, event_id: str) -> str:
    """The subscriber web app's registration form for an event."""
    return f"{web_base_url.rstrip('/')}/events/{event_id}/register"


def episode_path(finding_id: str, suffix: str) -> str:
    """An episode's file: ``.mp3``, its art, chapters or transcript."""
    return f"podcast/episodes/{finding_id}{suffix}"


def newsroom_path(finding_id: str) -> str:
    return f"{NEWSROOM}{finding_id}/"


def topic_path(slug: str) -> str:
    return f"{TOPICS}{slug}/"


def kit_path(token: str) -> str:
    """A press kit's folder, named by its unguessable token."""
    return f"{KIT_FOLDER}{token}/"


def kit_token(secret: bytes, finding_id: str) -> str:
    """32 hex digits (128 bits) that nobody can derive without the secret."""
    return hmac.new(secret, f"press-kit:{finding_id}".encode(), hashlib.sha256).hexdigest()[:32]


def kit_zip_name(finding_id: str) -> str:
    return f"{finding_id}-press-kit.zip"


@dataclass(frozen=True)
class SiteUrls:
    """The site's links for one configuration: absolute URLs, root-relative hrefs, and which
    sections exist (a post only when a configured channel publishes posts)."""

    base_url: str
    offers: Collection[str] = ()
    """The sections the configured channels host (``POSTS``, ``EPISODES``, ``PRESS_KITS``)."""
    kit_secret: bytes = field(default=b"", repr=False)
    """The key of the press kits' unguessable addresses (read by the caller, never here)."""

    def url(self, path: str = "") -> str:
        """Absolute URL of a site path such as ``blog/x/``."""
        return self.base_url + path.lstrip("/")

    def href(self, path: str = "") -> str:
        """Root-relative link for a site path, honouring a base URL with a path prefix."""
        return self._root + path.lstrip("/")

    @cached_property
    def _root(self) -> str:
        """The base URL's path (``/`` or a prefix such as ``/research/``): what every
        ``href`` starts with (a page listing findings asks for a few links each)."""
        return urlsplit(self.base_url).path

    def post(self, finding_id: str) -> str:
        return self.url(post_path(finding_id))

    def episode(self, finding_id: str, suffix: str = ".mp3") -> str:
        return self.url(episode_path(finding_id, suffix))

    def kit(self, finding_id: str) -> str:
        """The path of a finding's press kit folder, under its unguessable token."""
        if not self.kit_secret:
            # An empty key would give every kit a token anyone can compute.
            raise RenderError(
                "the press kits' secret was not passed to rendering: read it with "
                "outreach.secrets_store.press_secret before rendering (OUTREACH_PRESS_SECRET)"
            )
        return kit_path(kit_token(self.kit_secret, finding_id))

    def hosts(self, section: str) -> bool:
        """Whether a configured channel publishes this section (``EPISODES``, ...)."""
        return section in self.offers

    def published_post(self, finding_id: str) -> str | None:
        """The post's URL when a configured channel publishes posts, else None."""
        return self.post(finding_id) if self.hosts(POSTS) else None

    def published_report(self, report_id: str) -> str | None:
        """The report's landing page URL when a configured channel publishes reports."""
        return self.url(report_path(report_id)) if self.hosts(REPORTS) else None

    def published_episode(self, finding_id: str) -> str | None:
        """The episode's audio URL when a configured channel publishes episodes, else None."""
        return self.episode(finding_id) if self.hosts(EPISODES) else None
