"""The podcast channel: mastered, tagged episodes with art, chapters and transcripts, the
podcast RSS feed and a podcast page.

Mastering is the slow part: ``prepare`` does it (cached by content) before rendering, and
rendering receives the mastered audio (``site.prepared``): it only reads it and tags bytes in
memory, so it is fast and deterministic and runs no program.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar

from PIL import Image

from outreach.actions import Action, HookContext, PingFeed
from outreach.channels.base import BaseChannel, Deliverable, Site
from outreach.config import Settings
from outreach.events import episode as event_episode
from outreach.events.model import Event
from outreach.finding import Finding
from outreach.media_files import MEDIA_TYPES, PUBLISHED_SUFFIX, image_format
from outreach.podcast.art import draw_episode_art
from outreach.podcast.audio import MasteredAudio, cached_mastering_key, master
from outreach.podcast.chapters import chapters_json
from outreach.podcast.feed import FeedEpisode, Show, build_feed, episode_description, podcast_guid
from outreach.podcast.namespace import Person
from outreach.podcast.show import PodcastError, audio_profile, show_cover
from outreach.podcast.tags import EpisodeTags, chapter_marks, tag_mp3
from outreach.podcast.transcript import media_type
from outreach.share_image import share_card
from outreach.templating import environment
from outreach.urls import EPISODES, PODCAST_COVER, PODCAST_FEED, PODCAST_PAGE, episode_path

FEED_PATH = PODCAST_FEED
COVER_PATH = PODCAST_COVER

__all__ = ["CHANNEL", "PodcastError", "audio_profile", "episode_path", "show_cover"]


def show_for(site: Site) -> Show:
    settings, podcast = site.settings, site.settings.podcast
    feed_url = site.url(FEED_PATH)
    return Show(
        title=podcast.title,
        description=podcast.description,
        page_url=site.url(PODCAST_PAGE),
        feed_url=feed_url,
        image_url=site.url(COVER_PATH),
        language=settings.site.language,
        author=podcast.author,
        owner_name=podcast.owner_name,
        owner_email=podcast.owner_email,
        copyright=podcast.copyright,
        category=podcast.category,
        subcategory=podcast.subcategory,
        explicit=podcast.explicit,
        locked=podcast.locked,
        guid=podcast.guid or podcast_guid(feed_url),
        funding_url=podcast.funding_url,
        funding_text=podcast.funding_text,
        persons=[Person(p.name, p.role, p.href) for p in podcast.persons],
    )


@dataclass(frozen=True)
class EpisodeFiles:
    deliverables: list[Deliverable]
    entry: FeedEpisode
    mastered: MasteredAudio


class PodcastChannel(BaseChannel):
    name: ClassVar[str] = "podcast"
    public: ClassVar[bool] = True
    hosts: ClassVar[frozenset[str]] = frozenset({EPISODES})
    prepares_listed: ClassVar[bool] = True
    """The feed lists every released episode with its size and duration."""
    kinds: ClassVar[frozenset[str]] = frozenset({"finding", "event"})
    """An event's recording is an episode too: one feed lists both."""

    # -- the slow, cached step -----------------------------------------------------

    def check_inputs(self, settings: Settings) -> list[str]:
        try:
            show_cover(settings)
        except PodcastError as exc:
            return [str(exc)]
        return []

    def prepare_key(self, finding: Finding | Event, settings: Settings) -> str | None:
        if isinstance(finding, Event):
            return event_episode.mastering_key(finding, settings)
        if finding.episode is None:
            return None
        source = settings.paths.media / finding.episode.audio
        return "master-" + cached_mastering_key(
            source, audio_profile(settings), settings.paths.audio_cache
        )

    def prepare(
        self,
        finding: Finding | Event,
        settings: Settings,
        progress: Callable[[float], None] | None = None,
    ) -> MasteredAudio | None:
        """Master the finding's (or the event's) recording (from the cache when unchanged)."""
        if isinstance(finding, Event):
            return event_episode.prepare(finding, settings, progress)
        if finding.episode is None:
            return None
        source = settings.paths.media / finding.episode.audio
        try:
            return master(source, settings.paths.audio_cache, audio_profile(settings), progress)
        except Exception as exc:
            raise PodcastError(f"{finding.source_path}: episode.audio {source}: {exc}") from exc

    # -- rendering -----------------------------------------------------------------

    def render_finding(self, finding: Finding | Event, site: Site) -> list[Deliverable]:
        if isinstance(finding, Event):
            return self._event_episode(finding, site).deliverables if finding.recording else []
        if finding.episode is None or finding.retraction is not None:
            return []
        return self._episode(finding, site).deliverables

    def render_site(self, site: Site) -> list[Deliverable]:
        episodes = [
            self._event_entry(f, site) if isinstance(f, Event) else self._entry(f, site)
            for f in site.listed
            if (f.recording is not None if isinstance(f, Event) else f.episode is not None)
        ]
        show = show_for(site)
        cover = show_cover(site.settings)
        with Image.open(io.BytesIO(cover)) as picture:
            cover_size = picture.size
        feed = build_feed(show, [entry for entry, _ in episodes])
        page = (
            environment(site.settings.paths.templates)
            .get_template("podcast/index.html.j2")
            .render(
                site=site,
                show=show,
                episodes=episodes,
                canonical=show.page_url,
                feed_href=site.href(FEED_PATH),
                card=share_card(
                    show.title,
                    show.description,
                    show.image_url,
                    f"{show.title} cover art",
                    size=cover_size,
                ),
            )
        )
        return [
            Deliverable(COVER_PATH, cover),
            Deliverable("podcast/index.html", page.encode("utf-8")),
            Deliverable(FEED_PATH, feed),
        ]

    def _event_episode(self, event: Event, site: Site) -> event_episode.EventEpisode:
        """An event's recording as an episode; its feed entry kept for this release."""
        mastered = site.prepared.get(event.id)
        if not isinstance(mastered, MasteredAudio):
            raise PodcastError(
                f"{event.source_path}: recording {event.recording} was not mastered before "
                "rendering; the release's prepare step masters it (PodcastChannel.prepare)"
            )
        files = event_episode.episode_files(event, mastered, site.settings, site.urls)
        site.memo[f"podcast-entry:event:{event.id}"] = (files.entry, mastered)
        return files

    def _event_entry(self, event: Event, site: Site) -> tuple[FeedEpisode, MasteredAudio]:
        known = site.memo.get(f"podcast-entry:event:{event.id}")
        if known is not None:
            return known  # type: ignore[return-value]
        files = self._event_episode(event, site)
        return files.entry, site.prepared[event.id]  # type: ignore[return-value]

    def _episode(self, finding: Finding, site: Site) -> EpisodeFiles:
        files = self._build_episode(finding, site)
        # The feed lists this episode again: keep its entry (not its audio) for this release.
        site.memo[f"podcast-entry:{finding.id}"] = (files.entry, files.mastered)
        return files

    def _entry(self, finding: Finding, site: Site) -> tuple[FeedEpisode, MasteredAudio]:
        """The feed entry of an episode, as rendered earlier in this release when it was."""
        known = site.memo.get(f"podcast-entry:{finding.id}")
        if known is not None:
            return known  # type: ignore[return-value]
        files = self._build_episode(finding, site)
        return files.entry, files.mastered

    def _mastered(self, finding: Finding, site: Site) -> MasteredAudio:
        """The mastered episode the release prepared (rendering never masters)."""
        episode = finding.episode
        assert episode is not None
        mastered = site.prepared.get(finding.id)
        if not isinstance(mastered, MasteredAudio):
            raise PodcastError(
                f"{finding.source_path}: episode.audio {episode.audio} was not mastered before "
                "rendering; the release's prepare step masters it (PodcastChannel.prepare)"
            )
        if not mastered.path.is_file():
            raise PodcastError(
                f"{finding.source_path}: the mastered episode {mastered.path} is no longer in "
                "the audio cache; run the release again to master it anew"
            )
        return mastered

    def _build_episode(self, finding: Finding, site: Site) -> EpisodeFiles:
        episode = finding.episode
        assert episode is not None
        settings = site.settings
        mastered = self._mastered(finding, site)
        post_url = site.urls.post(finding.id)

        if episode.image:
            art = (settings.paths.media / episode.image).read_bytes()
            art_format = image_format(art)
            art_mime, art_suffix = MEDIA_TYPES[art_format], PUBLISHED_SUFFIX[art_format]
        else:
            art = draw_episode_art(show_cover(settings), finding.title, episode.number)
            art_mime, art_suffix = "image/jpeg", ".jpg"

        starts = [(c.start, c.title, c.url) for c in episode.chapters]
        tags = EpisodeTags(
            title=finding.title,
            artist=settings.podcast.author,
            album=settings.podcast.title,
            track=episode.number,
            date=finding.published,
            comment=finding.summary,
            link=post_url,
            cover=art,
            cover_mime=art_mime,
            chapters=chapter_marks(starts, mastered.duration),
        )
        audio = tag_mp3(mastered.path.read_bytes(), tags)
        deliverables = [
            Deliverable(episode_path(finding.id, ".mp3"), audio, finding.id),
            Deliverable(episode_path(finding.id, art_suffix), art, finding.id),
        ]
        chapters_url = None
        if episode.chapters:
            deliverables.append(
                Deliverable(
                    episode_path(finding.id, ".chapters.json"),
                    chapters_json(episode.chapters),
                    finding.id,
                )
            )
            chapters_url = site.url(episode_path(finding.id, ".chapters.json"))
        transcripts: list[tuple[str, str]] = []
        if episode.transcript:
            suffix = PurePosixPath(episode.transcript).suffix.lower()
            path = episode_path(finding.id, suffix)
            deliverables.append(
                Deliverable(
                    path, (settings.paths.media / episode.transcript).read_bytes(), finding.id
                )
            )
            transcripts.append((site.url(path), media_type(path)))
            transcripts.append((post_url + "#transcript", "text/html"))
        entry = FeedEpisode(
            finding_id=finding.id,
            title=finding.title,
            description_html=episode_description(
                finding.summary, post_url, [c.title for c in episode.chapters]
            ),
            link=post_url,
            published=finding.published,
            updated=finding.last_modified,
            audio_url=site.url(episode_path(finding.id, ".mp3")),
            audio_bytes=len(audio),
            duration_seconds=round(mastered.duration),
            image_url=site.url(episode_path(finding.id, art_suffix)),
            explicit=episode.explicit,
            number=episode.number,
            season=episode.season,
            chapters_url=chapters_url,
            transcripts=transcripts,
        )
        return EpisodeFiles(deliverables, entry, mastered)

    # -- after publishing --------------------------------------------------------------

    def after_publish(self, context: HookContext) -> list[Action]:
        """Ping hubs when the feed changed."""
        podcast = context.settings.podcast
        changed = any(
            r.item == FEED_PATH and r.action in ("created", "updated") for r in context.receipts
        )
        if not changed or not (podcast.websub_hubs or podcast.podcast_index_pubnotify):
            return []
        feed_url = context.settings.site.base_url + FEED_PATH
        return [PingFeed(feed_url, tuple(podcast.websub_hubs), podcast.podcast_index_pubnotify)]


CHANNEL = PodcastChannel()
