"""The events channel: the events index (upcoming first, then past), a page per event, the
calendar feed ``events.ics`` and a ``.ics`` per event, and for a past event with a
recording, its recap post on the blog.

Pure, like every channel: the release's ``now`` (``site.now``) decides what is upcoming and
whether the register button shows. The private join link is in the Event but never read
here: no public file carries it (the tests check every one).
"""

from __future__ import annotations

from typing import ClassVar

from outreach.actions import Action, HookContext
from outreach.channels.base import BaseChannel, Deliverable, Site
from outreach.events.actions import event_actions
from outreach.events.ics import event_calendar, events_calendar
from outreach.events.model import Event
from outreach.events.pages import event_json_ld, split_events, transcript, when, zone_times
from outreach.markdown import render_markdown
from outreach.share_image import WIDTH as SHARE_WIDTH
from outreach.share_image import draw_share_image, draw_site_card, share_card
from outreach.templating import environment
from outreach.topics import TOPICS_BY_SLUG
from outreach.urls import (
    EPISODES,
    EVENTS,
    EVENTS_CALENDAR,
    EVENTS_INDEX,
    POSTS,
    event_calendar_path,
    event_episode_path,
    event_path,
    event_register_url,
    post_path,
    recap_path,
)

SHARE_IMAGE = "share.png"
"""The card image beside each event page (a fixed name no media file can take)."""


class EventsChannel(BaseChannel):
    name: ClassVar[str] = "events"
    public: ClassVar[bool] = True
    kinds: ClassVar[frozenset[str]] = frozenset({"event"})
    hosts: ClassVar[frozenset[str]] = frozenset({EVENTS})

    def after_publish(self, context: HookContext) -> list[Action]:
        """For each event whose page went out: update or cancel invites when its invite
        changed, the team's calendar, and the announcement while registration is open (each
        action does nothing when there is nothing new, so a release of everything run twice
        reaches nobody twice). Not on a rebuild: a repair tells nobody anything."""
        if context.rebuild or context.now is None:
            return []
        return [
            action
            for event in context.released
            for action in event_actions(event, context.settings, context.now)
        ]

    def render_finding(self, event: Event, site: Site) -> list[Deliverable]:
        """The event's page, share image and calendar file; its recap once it has a recording."""
        settings = site.settings
        base = event_path(event.id)
        page_url = site.url(base)
        image_url = site.url(base + SHARE_IMAGE)
        upcoming = site.now is None or event.is_upcoming(site.now)
        starts, ends = when(event)
        share = draw_share_image(
            event.title,
            event.kind.capitalize(),
            f"{starts} to {ends}",
            event.topics[0],
            settings.site.title,
        )
        context = {
            "site": site,
            "event": event,
            "canonical": page_url,
            "upcoming": upcoming,
            "starts": starts,
            "ends": ends,
            "zones": zone_times(event),
            "agenda": [
                (event.clock(at), item)
                for item, at in zip(event.agenda, event.agenda_times(), strict=True)
            ],
            "topics": [TOPICS_BY_SLUG[slug] for slug in event.topics],
            "topic_links": site.urls.hosts(POSTS),
            "register_url": self._register_url(event, site),
            "ics_href": site.href(event_calendar_path(event.id)),
            "episode": self._episode(event, site),
            "transcript": transcript(event, settings.paths.media) if event.recording else [],
            "slides_href": site.href(base + "slides.pdf") if event.slides else None,
            "presented": self._presented(event, site),
            "recap_href": site.href(recap_path(event.id)) if event.recording else None,
            "json_ld": event_json_ld(event, page_url, image_url, settings.site.organisation),
            "body_html": render_markdown(event.body) if event.body.strip() else "",
            "card": share_card(
                event.title, event.summary, image_url, f"{event.title}: {starts}", kind="website"
            ),
        }
        env = environment(settings.paths.templates)
        files = [
            Deliverable(
                base + "index.html",
                env.get_template("events/event.html.j2").render(**context).encode("utf-8"),
                event.id,
            ),
            Deliverable(base + SHARE_IMAGE, share, event.id),
            Deliverable(event_calendar_path(event.id), event_calendar(event, settings), event.id),
        ]
        if event.slides:
            slides = (settings.paths.media / event.slides).read_bytes()
            files.append(Deliverable(base + "slides.pdf", slides, event.id))
        if event.recording and not upcoming:
            recap = env.get_template("events/recap.html.j2").render(
                **{**context, "canonical": site.url(recap_path(event.id))}
            )
            files.append(Deliverable(recap_path(event.id) + "index.html", recap.encode(), event.id))
        return files

    def render_site(self, site: Site) -> list[Deliverable]:
        settings = site.settings
        upcoming, past = split_events(list(site.listed), site.now)
        index_url = site.url(EVENTS_INDEX)
        page = (
            environment(settings.paths.templates)
            .get_template("events/index.html.j2")
            .render(
                site=site,
                canonical=index_url,
                upcoming=[(e, when(e), self._register_url(e, site)) for e in upcoming],
                past=[(e, when(e)) for e in past],
                calendar_href=site.href(EVENTS_CALENDAR),
                calendar_url=site.url(EVENTS_CALENDAR),
                card=share_card(
                    f"Events · {settings.site.title}",
                    settings.site.tagline,
                    site.url(EVENTS_INDEX + SHARE_IMAGE),
                    f"{settings.site.title}: webinars and workshops",
                    size=(SHARE_WIDTH, 630),
                ),
            )
        )
        card = draw_site_card(settings.site.title, settings.site.tagline, "Webinars and workshops")
        return [
            Deliverable(EVENTS_INDEX + "index.html", page.encode("utf-8")),
            Deliverable(EVENTS_INDEX + SHARE_IMAGE, card),
            Deliverable(EVENTS_CALENDAR, events_calendar(site.listed, settings)),
        ]

    # -- links to other sections (through the URL map, only when hosted) ----------------

    def _register_url(self, event: Event, site: Site) -> str | None:
        if site.now is not None and not event.registration_open(site.now):
            return None
        if site.now is None and not event.registration.open:
            return None
        web = site.settings.newsletter.web_base_url or site.settings.site.base_url
        return event_register_url(web, event.id)

    def _episode(self, event: Event, site: Site) -> dict[str, object] | None:
        if not event.recording or not site.urls.hosts(EPISODES):
            return None
        return {
            "number": event.episode_number,
            "audio_href": site.href(event_episode_path(event.id, ".mp3")),
            "chapters": [
                (event.clock(at), item.title)
                for item, at in zip(event.agenda, event.agenda_times(), strict=True)
            ],
        }

    def _presented(self, event: Event, site: Site) -> tuple[str, str] | None:
        """(label, href) of the finding or report the event presented, when published."""
        if event.finding and site.urls.hosts(POSTS):
            return ("Read the finding", site.href(post_path(event.finding)))
        if event.report:
            report_url = getattr(site.urls, "published_report", lambda _i: None)(event.report)
            if report_url:
                return ("Read the report", report_url)
        return None


CHANNEL = EventsChannel()
