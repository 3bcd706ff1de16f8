"""The reports channel: the web edition of each report, its PDF, and the reports index, feed
and sitemap.

A report's landing page carries the cover, summary, key figures (the indicator table and
charts), the download button and the table of contents; each chapter has its own page, and
the findings page gives each finding a section linking to its post. Everything rendering
needs beyond the report (its findings, the earlier reports, the charts, the PDF) is made by
``prepare`` (``outreach.reports.edition``): rendering reads no file but templates and the
cover, and touches no clock or network.
"""

from __future__ import annotations

import functools
import io
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import ClassVar

from feedgen.feed import FeedGenerator
from PIL import Image

from outreach import media_files
from outreach.channels.base import BaseChannel, Deliverable, Site, SitePage
from outreach.config import Settings
from outreach.errors import RenderError
from outreach.markdown import render_markdown, scrollable_tables
from outreach.reports.edition import Edition, edition_key, prepare_edition
from outreach.reports.model import Report
from outreach.share_image import HEIGHT as SHARE_HEIGHT
from outreach.share_image import WIDTH as SHARE_WIDTH
from outreach.share_image import draw_share_image, share_card
from outreach.templating import environment
from outreach.topics import TOPICS_BY_SLUG
from outreach.urls import (
    REPORTS,
    REPORTS_FEED,
    REPORTS_INDEX,
    REPORTS_SITEMAP,
    report_path,
    report_pdf_path,
)

ENTRY_NAMESPACE = uuid.UUID("8c2d7f0e-5b1a-5e7c-9d3f-4a6b2c1e0f93")
"""Namespace for the reports feed's entry ids (from the report id: they survive a move)."""
EMPTY_FEED_DATE = datetime(1970, 1, 1, tzinfo=UTC)
STYLESHEET = "reports/assets/report.css"
KIND_NAMES = {
    "state-of-play": "State-of-play report",
    "findings-report": "Findings report",
    "case-study": "Country case study",
    "key-findings": "Key findings report",
    "iteration": "Next-iteration report",
}


def chart_path(report_id: str, indicator_id: str) -> str:
    return f"{report_path(report_id)}indicator-{indicator_id}.png"


class ReportsChannel(BaseChannel):
    name: ClassVar[str] = "reports"
    public: ClassVar[bool] = True
    kinds: ClassVar[frozenset[str]] = frozenset({"report"})
    lists: ClassVar[frozenset[str] | None] = frozenset({"report"})
    hosts: ClassVar[frozenset[str]] = frozenset({REPORTS})

    def check_inputs(self, settings: Settings) -> list[str]:
        folder = settings.paths.templates / "reports"
        missing = [
            name
            for name in ("landing.html.j2", "chapter.html.j2", "index.html.j2", "report.css")
            if not (folder / name).is_file()
        ]
        return [f"{folder / name}: missing; restore the report templates" for name in missing]

    # -- prepared work: findings, indicators, charts, PDF -------------------------

    def prepare_key(self, report: Report, settings: Settings) -> str | None:
        return edition_key(report, settings)

    def prepare(
        self, report: Report, settings: Settings, progress: Callable[[float], None] | None = None
    ) -> Edition:
        return prepare_edition(report, settings)

    def _edition(self, report: Report, site: Site) -> Edition:
        edition = site.prepared.get(report.id)
        if not isinstance(edition, Edition):
            raise RenderError(
                f"{report.source_path}: the report's findings and charts were not prepared "
                "before rendering; render it through the release (it runs the channel's prepare)"
            )
        return edition

    # -- one report -----------------------------------------------------------------

    def render_finding(self, report: Report, site: Site) -> list[Deliverable]:
        """The report's pages, cover, share image, charts and PDF (``render_finding`` is the
        channel interface's name for rendering one publication of any kind)."""
        edition = self._edition(report, site)
        settings = site.settings
        base = report_path(report.id)
        cover_bytes = (settings.paths.media / report.cover.file).read_bytes()
        with Image.open(io.BytesIO(cover_bytes)) as picture:
            cover_size = picture.size
        cover_name = media_files.image_name(cover_bytes)
        headline = next((row for row in edition.rows if row.headline and row.this), None)
        share = draw_share_image(
            report.title,
            headline.this.value if headline and headline.this else report.covers,
            headline.label if headline else KIND_NAMES[report.kind],
            report.topics[0],
            settings.site.title,
        )
        pdf = report_pdf_path(report.id) if edition.pdf is not None else None
        context = {
            "site": site,
            "report": report,
            "edition": edition,
            "kind_name": KIND_NAMES[report.kind],
            "topics": [TOPICS_BY_SLUG[slug] for slug in report.topics],
            "cover": {
                "href": site.href(base + cover_name),
                "width": cover_size[0],
                "height": cover_size[1],
            },
            "card": share_card(
                report.title,
                report.summary,
                site.url(base + "share.png"),
                f"{KIND_NAMES[report.kind]}: {report.title}",
                kind="article",
                size=(SHARE_WIDTH, SHARE_HEIGHT),
            ),
            "pdf": {"href": site.href(pdf), "bytes": len(edition.pdf or b"")} if pdf else None,
            "charts": {
                row_id: site.href(chart_path(report.id, row_id)) for row_id in edition.charts
            },
            "post_url": site.urls.published_post,
            "chapter_href": lambda slug: site.href(report_path(report.id, slug)),
            "landing_href": site.href(base),
            "markdown": lambda text: scrollable_tables(render_markdown(text)),
            "citation": citation(report, site),
        }
        templates = environment(settings.paths.templates)
        landing = templates.get_template("reports/landing.html.j2").render(
            **context,
            canonical=site.url(base),
            json_ld=report_json_ld(report, site, base + cover_name, pdf),
        )
        made = [
            Deliverable(base + "index.html", landing.encode("utf-8"), report.id),
            Deliverable(base + cover_name, cover_bytes, report.id),
            Deliverable(base + "share.png", share, report.id),
        ]
        chapter_template = templates.get_template("reports/chapter.html.j2")
        chapters = report.chapters
        for index, chapter in enumerate(chapters):
            page = chapter_template.render(
                **context,
                chapter=chapter,
                previous=chapters[index - 1] if index else None,
                next=chapters[index + 1] if index + 1 < len(chapters) else None,
                current_chapter=chapter.slug,
                canonical=site.url(report_path(report.id, chapter.slug)),
            )
            made.append(
                Deliverable(
                    report_path(report.id, chapter.slug) + "index.html",
                    page.encode("utf-8"),
                    report.id,
                )
            )
        findings_page = templates.get_template("reports/findings.html.j2").render(
            **context,
            canonical=site.url(report_path(report.id, "findings")),
            current_chapter="findings",
        )
        made.append(
            Deliverable(
                report_path(report.id, "findings") + "index.html",
                findings_page.encode("utf-8"),
                report.id,
            )
        )
        for row_id, png in edition.charts.items():
            made.append(Deliverable(chart_path(report.id, row_id), png, report.id))
        if edition.pdf is not None:
            made.append(Deliverable(report_pdf_path(report.id), edition.pdf, report.id))
        return made

    # -- the reports index, feed and sitemap --------------------------------------

    def site_pages(self, site: Site) -> list[SitePage]:
        reports: list[Report] = list(site.listed)
        return [
            SitePage(
                "reports/index",
                (REPORTS_INDEX + "index.html",),
                None,
                functools.partial(self._index, site, reports),
            ),
            SitePage(
                "reports/feed",
                (REPORTS_FEED,),
                None,
                lambda: [Deliverable(REPORTS_FEED, self._feed(site, reports))],
            ),
            SitePage(
                "reports/sitemap",
                (REPORTS_SITEMAP, STYLESHEET),
                None,
                functools.partial(self._sitemap_and_style, site, reports),
            ),
        ]

    def render_site(self, site: Site) -> list[Deliverable]:
        return [d for page in self.site_pages(site) for d in page.render()]

    def _index(self, site: Site, reports: Sequence[Report]) -> list[Deliverable]:
        html = (
            environment(site.settings.paths.templates)
            .get_template("reports/index.html.j2")
            .render(
                site=site,
                reports=reports,
                kind_names=KIND_NAMES,
                canonical=site.url(REPORTS_INDEX),
                report_href=lambda report: site.href(report_path(report.id)),
            )
        )
        return [Deliverable(REPORTS_INDEX + "index.html", html.encode("utf-8"))]

    def _feed(self, site: Site, reports: Sequence[Report]) -> bytes:
        settings = site.settings.site
        feed = FeedGenerator()
        feed.id(site.url(REPORTS_FEED))
        feed.title(f"{settings.title}: reports")
        feed.subtitle(f"Reports from the {settings.organisation}")
        feed.link(href=site.url(REPORTS_FEED), rel="self", type="application/atom+xml")
        feed.link(href=site.url(REPORTS_INDEX), rel="alternate", type="text/html")
        feed.language(settings.language)
        feed.author({"name": settings.organisation})
        feed.generator("outreach")
        feed.updated(max((r.last_modified for r in reports), default=EMPTY_FEED_DATE))
        for report in reports:
            entry = feed.add_entry(order="append")
            entry.id(f"urn:uuid:{uuid.uuid5(ENTRY_NAMESPACE, report.id)}")
            entry.title(report.title)
            entry.link(href=site.url(report_path(report.id)), rel="alternate", type="text/html")
            entry.published(report.published)
            entry.updated(report.last_modified)
            for author in report.authors:
                entry.author({"name": author.name})
            entry.summary(report.summary)
            for slug in report.topics:
                entry.category(term=slug, label=TOPICS_BY_SLUG[slug].name)
        return feed.atom_str(pretty=True)

    def _sitemap_and_style(self, site: Site, reports: Sequence[Report]) -> list[Deliverable]:
        templates = environment(site.settings.paths.templates)
        sitemap = templates.get_template("reports/sitemap.xml.j2").render(
            site=site,
            reports=reports,
            index=REPORTS_INDEX,
            report_path=report_path,
        )
        stylesheet = (site.settings.paths.templates / "reports" / "report.css").read_bytes()
        return [
            Deliverable(REPORTS_SITEMAP, sitemap.encode("utf-8")),
            Deliverable(STYLESHEET, stylesheet),
        ]


def citation(report: Report, site: Site) -> str:
    """The recommended citation: authors, year, title, publisher, address."""
    authors = ", ".join(author.name for author in report.authors)
    return (
        f"{authors} ({report.published.year}). {report.title}. "
        f"{site.settings.site.organisation}. {site.url(report_path(report.id))}"
    )


def report_json_ld(report: Report, site: Site, cover: str, pdf: str | None) -> dict:
    """schema.org ``Report``: what search engines and citation tools read."""
    settings = site.settings.site
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "Report",
        "name": report.title,
        "headline": report.title,
        "description": report.summary,
        "datePublished": report.published.isoformat(),
        "inLanguage": settings.language,
        "url": site.url(report_path(report.id)),
        "image": [site.url(report_path(report.id) + "share.png"), site.url(cover)],
        "author": [
            {"@type": "Organization", "name": a.name}
            if a.affiliation is None
            else {
                "@type": "Person",
                "name": a.name,
                "affiliation": {"@type": "Organization", "name": a.affiliation},
            }
            for a in report.authors
        ],
        "publisher": {"@type": "Organization", "name": settings.organisation},
        "about": [TOPICS_BY_SLUG[slug].name for slug in report.topics],
        "keywords": list(report.commodities) + list(report.regions),
        "temporalCoverage": report.covers,
    }
    if report.subtitle:
        data["alternativeHeadline"] = report.subtitle
    if pdf:
        data["encoding"] = {
            "@type": "MediaObject",
            "contentUrl": site.url(pdf),
            "encodingFormat": "application/pdf",
        }
    return data


CHANNEL = ReportsChannel()
