"""The blog channel: a page per finding, paginated index, topic pages, Atom feed and sitemap."""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from outreach import ahead, media_files
from outreach.channels.base import CARRY, BaseChannel, Deliverable, RenderError, Site, SitePage
from outreach.config import Settings
from outreach.finding import Finding
from outreach.markdown import render_markdown, scrollable_tables
from outreach.notices import retraction_page
from outreach.reports import is_report
from outreach.share_image import HEIGHT as SHARE_HEIGHT
from outreach.share_image import SITE_CARD_PATH, draw_site_card, share_card, share_image_for
from outreach.share_image import WIDTH as SHARE_WIDTH
from outreach.templating import environment, render_bytes
from outreach.topics import TOPICS, TOPICS_BY_SLUG, Topic
from outreach.urls import (
    EPISODES,
    KIT_FOLDER,
    POSTS,
    PRESS_KITS,
    REPORTS,
    REPORTS_SITEMAP,
    episode_path,
    post_path,
    report_pdf_path,
)

if TYPE_CHECKING:  # loaded when a release has a report or an episode (not for findings alone)
    from outreach.reports.model import Report

ENTRY_NAMESPACE = uuid.UUID("3b0f0c52-9a54-5c1e-9a55-0d6c2a8f4e10")
"""Namespace for Atom entry ids: derived from the finding id, so they survive a domain move."""

FEED_PATH = "feed.atom"
FEED_ENTRIES = 50
"""The Atom feed carries the newest findings (readers poll for news); the index pages, topic
pages and sitemap list every finding."""
EMPTY_FEED_DATE = datetime(1970, 1, 1, tzinfo=UTC)
FEED_IDS, FEED_BODY = "blog:feed-ids", "blog:feed-body:"
"""``site.memo`` keys: the feed's finding ids, and a body's HTML kept for its feed entry."""
POSTS_RENDERED = "blog:posts-rendered"
"""``site.memo`` key: how many posts this release rendered (see ``FEED_APART_FROM``)."""
FEED_APART_FROM = 500
"""Posts a release renders from which the feed's XML is made in a worker process. A worker
costs a fork and feedgen's import (40-100 ms) at every release: a few percent of a release
of this many posts, whose peak it lowers by 4 MB (lxml); more than that of a smaller one
(an edit, a release of a few dozen findings), which makes its feed in-process."""


def index_page_path(number: int) -> str:
    return "" if number == 1 else f"page/{number}/"


@dataclass(frozen=True)
class Page:
    number: int
    count: int
    findings: Sequence[Finding]


def paginate(findings: Sequence[Finding], per_page: int) -> list[Page]:
    chunks = [findings[start : start + per_page] for start in range(0, len(findings), per_page)]
    chunks = chunks or [()]
    return [Page(number, len(chunks), chunk) for number, chunk in enumerate(chunks, start=1)]


def entry_id(finding: Finding) -> str:
    return f"urn:uuid:{uuid.uuid5(ENTRY_NAMESPACE, finding.id)}"


class BlogChannel(BaseChannel):
    name: ClassVar[str] = "blog"
    draws_share_images: ClassVar[bool] = True
    public: ClassVar[bool] = True
    hosts: ClassVar[frozenset[str]] = frozenset({POSTS})
    kinds: ClassVar[frozenset[str]] = frozenset({"finding", "report"})
    """A report gets a post announcing it (its index and feed stay the findings')."""
    lists: ClassVar[frozenset[str] | None] = frozenset({"finding"})

    # -- a report's announcement ---------------------------------------------

    def prepare_key(self, finding: Finding, settings: Settings) -> str | None:
        if not is_report(finding):
            return None
        from outreach.reports.launch import launch_key

        return launch_key(self.name, finding, settings)

    def prepare(self, finding: Finding, settings: Settings, progress=None) -> object:
        if not is_report(finding):
            return None
        from outreach.reports.launch import launch_edition

        return launch_edition(finding, settings)

    def _announcement(self, report: Report, site: Site) -> list[Deliverable]:
        """The post announcing a report at ``blog/<report id>/``: its summary, cover,
        indicators as key figures, the introduction, and links to the web edition and PDF."""
        from outreach.reports.launch import announcement_of

        edition = site.prepared.get(report.id)
        if getattr(edition, "report", None) is None:
            raise RenderError(
                f"{report.source_path}: the report's findings were not prepared before "
                "rendering its announcement; render it through the release (it runs prepare)"
            )
        links = []
        landing = site.urls.published_report(report.id)
        if landing is not None:
            links.append(f"[Read the report]({landing})")
            if edition.pdf is not None:
                links.append(f"[Download the PDF]({site.url(report_pdf_path(report.id))})")
        view = announcement_of(edition)
        body = "\n\n".join([view.body, " · ".join(links)] if links else [view.body])
        return self._post(view.model_copy(update={"id": report.id, "body": body}), site)

    # -- one finding ---------------------------------------------------------

    def render_finding(self, finding: Finding, site: Site) -> list[Deliverable]:
        if is_report(finding):
            return self._announcement(finding, site)
        return self._post(finding, site)

    def _post(self, finding: Finding, site: Site) -> list[Deliverable]:
        settings = site.settings
        base = post_path(finding.id)
        if finding.retraction is not None:  # only the notice stays; the rest is removed
            page = retraction_page(finding, site, site.url(base))
            return [Deliverable(base + "index.html", page, finding.id)]
        image_source = settings.paths.media / finding.image.file
        image_bytes = image_source.read_bytes()
        found, (image_width, image_height) = media_files.image_format_and_size(image_bytes)
        image_name = media_files.published_name(image_bytes, media_files.PUBLISHED_SUFFIX[found])
        share = share_image_for(finding, settings)
        page = (
            environment(settings.paths.templates)
            .get_template("blog/post.html.j2")
            .render(
                site=site,
                finding=finding,
                body_html=scrollable_tables(self._body(finding, site)),
                topics=[TOPICS_BY_SLUG[slug] for slug in finding.topics],
                image={
                    "href": site.href(base + image_name),
                    "width": image_width,
                    "height": image_height,
                },
                share={
                    "url": site.url(base + "share.png"),
                    "width": SHARE_WIDTH,
                    "height": SHARE_HEIGHT,
                },
                canonical=site.url(base),
                episode=self._episode_embed(finding, site),
                json_ld=self._article_json_ld(finding, site, base + image_name, base + "share.png"),
            )
        )
        return [
            Deliverable(base + "index.html", page.encode("utf-8"), finding.id),
            Deliverable(base + image_name, image_bytes, finding.id),
            Deliverable(base + "share.png", share, finding.id),
        ]

    def _body(self, finding: Finding, site: Site) -> str:
        """The body's HTML, kept until the feed is rendered when the feed carries it: the
        feed's entries are then not rendered again (at most FEED_ENTRIES bodies kept)."""
        html = render_markdown(finding.body)
        site.memo[POSTS_RENDERED] = site.memo.get(POSTS_RENDERED, 0) + 1
        in_feed = site.memo.get(FEED_IDS)
        if in_feed is None:
            in_feed = site.memo[FEED_IDS] = frozenset(f.id for f in site.listed[:FEED_ENTRIES])
        if finding.id in in_feed:
            site.memo[FEED_BODY + finding.id] = html
        return html

    def _feed_body(self, finding: Finding, site: Site) -> str:
        """A feed entry's HTML: kept by the post rendered just before, or carried from the
        release that last rendered the feed (the same body under the same code and
        templates), else rendered now; carried on to the next release either way."""
        kept = site.memo.pop(FEED_BODY + finding.id, None)
        if not site.inputs:  # keys are not in use (a preview): nothing is carried
            return render_markdown(finding.body) if kept is None else kept
        digest = hashlib.sha256(f"{site.inputs}\n{finding.body_sha256}".encode()).hexdigest()
        key = f"{CARRY}{FEED_BODY}{digest}"
        html = kept if kept is not None else site.carried.get(key)
        if html is None:
            html = render_markdown(finding.body)
        site.memo[key] = html
        return html

    def _episode_embed(self, finding: Finding, site: Site) -> dict | None:
        """Player, chapters and transcript for a finding with an episode, when podcasting is on."""
        episode = finding.episode
        if episode is None or not site.urls.hosts(EPISODES):
            return None
        from outreach.podcast.chapters import chapter_rows
        from outreach.podcast.transcript import read_transcript

        media = site.settings.paths.media
        return {
            "audio_href": site.href(episode_path(finding.id, ".mp3")),
            "number": episode.number,
            "chapters": chapter_rows(episode),
            "transcript": read_transcript(media / episode.transcript) if episode.transcript else [],
        }

    def _article_json_ld(self, finding: Finding, site: Site, image: str, share: str) -> dict:
        settings = site.settings.site
        return {
            "@context": "https://schema.org",
            "@type": "Article",
            "headline": finding.title,
            "description": finding.summary,
            "datePublished": finding.published.isoformat(),
            "dateModified": finding.last_modified.isoformat(),
            "inLanguage": settings.language,
            "mainEntityOfPage": site.url(post_path(finding.id)),
            "image": [site.url(share), site.url(image)],
            "author": {"@type": "Organization", "name": finding.author or settings.author},
            "publisher": {"@type": "Organization", "name": settings.organisation},
            "keywords": [TOPICS_BY_SLUG[slug].name for slug in finding.topics]
            + list(finding.commodities),
        }

    def check_inputs(self, settings: Settings) -> list[str]:
        stylesheet = settings.paths.templates / "blog" / "assets" / "style.css"
        return (
            [] if stylesheet.is_file() else [f"{stylesheet}: missing; restore the blog templates"]
        )

    # -- the whole site --------------------------------------------------------

    def render_site(self, site: Site) -> list[Deliverable]:
        return [d for page in self.site_pages(site) for d in page.render()]

    def site_pages(self, site: Site) -> list[SitePage]:
        """Each index page, topic page, feed and sitemap is its own unit: an edit to one
        finding re-renders only the pages that list it (and those whose numbering moved)."""
        settings = site.settings
        findings = list(site.listed)
        pages = paginate(findings, settings.site.posts_per_page)
        # The stylesheet and the site card first: pages that use them never point at a
        # missing file (and the card, drawn on a 2 MB canvas, is drawn before the feed's
        # libraries load, which a release holds to its end).
        units = [
            SitePage(
                "files",
                ("robots.txt", "assets/style.css", SITE_CARD_PATH),
                site.page_key("files", ()),
                functools.partial(self._files, site),
            )
        ]
        units += [
            SitePage(
                f"index/{page.number}",
                (index_page_path(page.number) + "index.html",),
                site.page_key(f"index/{page.number}/{page.count}", page.findings),
                functools.partial(self._index_page, site, page),
            )
            for page in pages
        ]
        # One pass over the findings (each one's topics read once, not once per topic).
        by_topic: dict[str, list[Finding]] = {t.slug: [] for t in TOPICS}
        for finding in findings:
            for slug in dict.fromkeys(finding.topics):
                by_topic[slug].append(finding)
        units += [
            SitePage(
                f"topic/{topic.slug}",
                (f"topics/{topic.slug}/index.html",),
                site.page_key(f"topic/{topic.slug}", by_topic[topic.slug]),
                functools.partial(self._topic_page, site, topic, by_topic[topic.slug]),
            )
            for topic in TOPICS
        ]
        counts = {slug: len(listed) for slug, listed in by_topic.items()}
        newest = findings[:FEED_ENTRIES]
        units += [
            SitePage(
                "topics",
                ("topics/index.html",),
                site.page_key("topics/" + json.dumps(counts, sort_keys=True), ()),
                functools.partial(self._topics_index, site, counts),
            ),
            SitePage(
                "feed",
                (FEED_PATH,),
                site.page_key("feed", newest),
                lambda: [Deliverable(FEED_PATH, self._atom_feed(newest, site))],
            ),
            SitePage(
                "sitemap",
                ("sitemap.xml",),
                site.page_key("sitemap", findings),
                functools.partial(self._sitemap, site, findings),
            ),
        ]
        return units

    def _index_page(self, site: Site, page: Page) -> list[Deliverable]:
        path = index_page_path(page.number)
        html = render_bytes(
            environment(site.settings.paths.templates).get_template("blog/index.html.j2"),
            site=site,
            page=page,
            canonical=site.url(path),
            card=self._site_card(site),
            topics_by_slug=TOPICS_BY_SLUG,
            previous_href=site.href(index_page_path(page.number - 1)) if page.number > 1 else None,
            next_href=site.href(index_page_path(page.number + 1))
            if page.number < page.count
            else None,
        )
        return [Deliverable(path + "index.html", html)]

    def _site_card(self, site: Site) -> dict[str, object]:
        settings = site.settings.site
        return share_card(
            settings.title,
            settings.tagline,
            site.url(SITE_CARD_PATH),
            f"{settings.title}: {settings.tagline}",
        )

    def _topic_page(self, site: Site, topic: Topic, in_topic: list[Finding]) -> list[Deliverable]:
        path = f"topics/{topic.slug}/"
        html = render_bytes(
            environment(site.settings.paths.templates).get_template("blog/topic.html.j2"),
            site=site,
            topic=topic,
            findings=in_topic,
            canonical=site.url(path),
            topics_by_slug=TOPICS_BY_SLUG,
        )
        return [Deliverable(path + "index.html", html)]

    def _topics_index(self, site: Site, counts: dict[str, int]) -> list[Deliverable]:
        html = (
            environment(site.settings.paths.templates)
            .get_template("blog/topics.html.j2")
            .render(site=site, topics=TOPICS, counts=counts, canonical=site.url("topics/"))
        )
        return [Deliverable("topics/index.html", html.encode("utf-8"))]

    def _sitemap(self, site: Site, findings: list[Finding]) -> list[Deliverable]:
        sitemap = render_bytes(
            environment(site.settings.paths.templates).get_template("blog/sitemap.xml.j2"),
            site=site,
            findings=findings,
            index_pages=paginate(findings, site.settings.site.posts_per_page),
            index_page_path=index_page_path,
            topics=TOPICS,
        )
        return [Deliverable("sitemap.xml", sitemap)]

    def _files(self, site: Site) -> list[Deliverable]:
        settings = site.settings
        robots = "User-agent: *\n"
        if site.urls.hosts(PRESS_KITS):
            robots += f"Disallow: {site.href(KIT_FOLDER)}\n"
        robots += f"Allow: /\nSitemap: {site.url('sitemap.xml')}\n"
        if site.urls.hosts(REPORTS):
            robots += f"Sitemap: {site.url(REPORTS_SITEMAP)}\n"
        stylesheet = settings.paths.templates / "blog" / "assets" / "style.css"
        card = draw_site_card(settings.site.title, settings.site.tagline)
        return [
            Deliverable("robots.txt", robots.encode("utf-8")),
            Deliverable("assets/style.css", stylesheet.read_bytes()),
            Deliverable(SITE_CARD_PATH, card),
        ]

    def _atom_feed(self, findings: Sequence[Finding], site: Site) -> bytes:
        """The Atom feed of ``findings``: what it says is gathered here (bodies rendered or
        carried, as for the posts), the XML is made by ``atom_feed_xml``, in a worker process
        when the release rendered many posts and may start one (``ahead.run_apart``), as the
        site card is: feedgen and lxml take 4-5 MB, which a release that loaded them would
        hold to its end (its peak). The same bytes either way."""
        settings = site.settings.site
        head = FeedHead(
            feed_url=site.url(FEED_PATH),
            site_url=site.url(),
            topics_url=site.url("topics/"),
            title=settings.title,
            tagline=settings.tagline,
            language=settings.language,
            organisation=settings.organisation,
            updated=max((f.last_modified for f in findings), default=EMPTY_FEED_DATE),
        )
        entries = tuple(
            FeedEntry(
                id=entry_id(finding),
                title=finding.title,
                url=site.url(post_path(finding.id)),
                published=finding.published,
                updated=finding.last_modified,
                author=finding.author or settings.author,
                summary=finding.summary,
                content=self._feed_body(finding, site),
                topics=tuple((slug, TOPICS_BY_SLUG[slug].name) for slug in finding.topics),
            )
            for finding in findings
        )
        made = ahead.MISSING
        # Apart only where it lowers the peak: a release of many posts whose process has not
        # loaded feedgen (a long-lived process that has keeps it, apart or not).
        many = site.memo.get(POSTS_RENDERED, 0) >= FEED_APART_FROM
        if many and "feedgen.feed" not in sys.modules:
            made = ahead.run_apart(atom_feed_xml, (head, entries))
        return atom_feed_xml(head, entries) if made is ahead.MISSING else made


@dataclass(frozen=True)
class FeedHead:
    """The feed's own fields: plain values, so a worker process can be handed them."""

    feed_url: str
    site_url: str
    topics_url: str
    title: str
    tagline: str
    language: str
    organisation: str
    updated: datetime


@dataclass(frozen=True)
class FeedEntry:
    """One finding's entry in the feed, as plain values (``content``: the body's HTML)."""

    id: str
    title: str
    url: str
    published: datetime
    updated: datetime
    author: str
    summary: str
    content: str
    topics: tuple[tuple[str, str], ...]
    """(slug, name) of each of the finding's topics."""


def atom_feed_xml(head: FeedHead, entries: Sequence[FeedEntry]) -> bytes:
    """The Atom XML, made by feedgen; pure (it reads nothing but its arguments), so a worker
    process makes the same bytes."""
    # Imported here, in the worker when there is one: feedgen and lxml take 4-5 MB.
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.id(head.feed_url)
    feed.title(head.title)
    feed.subtitle(head.tagline)
    feed.link(href=head.feed_url, rel="self", type="application/atom+xml")
    feed.link(href=head.site_url, rel="alternate", type="text/html")
    feed.language(head.language)
    feed.author({"name": head.organisation})
    feed.generator("outreach")
    feed.updated(head.updated)
    for item in entries:
        entry = feed.add_entry(order="append")
        entry.id(item.id)
        entry.title(item.title)
        entry.link(href=item.url, rel="alternate", type="text/html")
        entry.published(item.published)
        entry.updated(item.updated)
        entry.author({"name": item.author})
        entry.summary(item.summary)
        entry.content(item.content, type="html")
        for slug, name in item.topics:
            entry.category(term=slug, label=name, scheme=head.topics_url)
    return feed.atom_str(pretty=True)


CHANNEL = BlogChannel()
