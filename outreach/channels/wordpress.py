"""The WordPress channel: one post payload and its featured image per finding.

The payload is plain JSON (title, HTML body, excerpt, slug, date, topic and tag names, the
canonical link), so it is reviewable and golden-tested like any page; the ``wordpress``
platform turns it into REST calls. The channel is not public: a post is pushed before its
embargo lifts and WordPress holds it as a scheduled post, which the scheduled lift run then
publishes.
"""

from __future__ import annotations

import json
from datetime import UTC
from html import escape
from typing import ClassVar

from outreach.channels.base import BaseChannel, Deliverable, RenderError, Site
from outreach.config import Settings
from outreach.finding import Finding
from outreach.markdown import render_markdown
from outreach.notices import retraction_post
from outreach.podcast.chapters import chapter_rows
from outreach.reports.launch import announcement_of, launch_edition, launch_key
from outreach.reports.model import Report
from outreach.share_image import share_image_for
from outreach.templating import environment
from outreach.topics import TOPICS_BY_SLUG
from outreach.urls import report_pdf_path

TEMPLATE = "wordpress/post.html.j2"
POST_FILE = "post.json"
IMAGE_FILE = "share.png"
PDF_TYPE = "application/pdf"


def payload_path(finding_id: str, name: str = POST_FILE) -> str:
    return f"wordpress/{finding_id}/{name}"


class WordPressChannel(BaseChannel):
    name: ClassVar[str] = "wordpress"
    draws_share_images: ClassVar[bool] = True
    public: ClassVar[bool] = False
    accepts: ClassVar[frozenset[str] | None] = frozenset({"wordpress"})
    kinds: ClassVar[frozenset[str]] = frozenset({"finding", "report"})
    """A report gets a post announcing it, with its PDF as a media item."""
    lists: ClassVar[frozenset[str] | None] = frozenset({"finding"})

    def check_inputs(self, settings: Settings) -> list[str]:
        template = settings.paths.templates / TEMPLATE
        return (
            [] if template.is_file() else [f"{template}: missing; restore the WordPress template"]
        )

    def prepare_key(self, finding: Finding, settings: Settings) -> str | None:
        return launch_key(self.name, finding, settings) if isinstance(finding, Report) else None

    def prepare(self, finding: Finding, settings: Settings, progress=None) -> object:
        return launch_edition(finding, settings) if isinstance(finding, Report) else None

    def _report_post(self, report: Report, site: Site) -> list[Deliverable]:
        """A report's post: the announcement (key figures, introduction, links to the web
        edition and the PDF), with the PDF as a media item attached to the post. WordPress
        serves media to anyone, so the platform uploads the PDF only at the lift."""
        edition = site.prepared.get(report.id)
        if getattr(edition, "report", None) is None:
            raise RenderError(
                f"{report.source_path}: the report's findings were not prepared before "
                "rendering its WordPress post; render it through the release (it runs prepare)"
            )
        view = announcement_of(edition).model_copy(update={"id": report.id})
        landing = site.urls.published_report(report.id)
        links = [f"[Read the report]({landing})"] if landing else []
        if landing and edition.pdf is not None:
            links.append(f"[Download the PDF]({site.url(report_pdf_path(report.id))})")
        body = "\n\n".join([view.body, " · ".join(links)] if links else [view.body])
        made = self._post(view.model_copy(update={"body": body}), site, landing)
        if edition.pdf is None:
            return made
        name = f"{report.id}.pdf"
        payload = json.loads(made[0].content)
        payload["attachments"] = [
            {"file": name, "title": escape(report.title, quote=False), "type": PDF_TYPE}
        ]
        text = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        return [
            Deliverable(made[0].path, text.encode("utf-8"), report.id),
            *made[1:],
            Deliverable(payload_path(report.id, name), edition.pdf, report.id),
        ]

    def render_finding(self, finding: Finding, site: Site) -> list[Deliverable]:
        if isinstance(finding, Report):
            return self._report_post(finding, site)
        return self._post(finding, site, site.urls.published_post(finding.id))

    def _post(self, finding: Finding, site: Site, original: str | None) -> list[Deliverable]:
        settings = site.settings
        retracted = finding.retraction is not None
        content = (
            retraction_post(finding, site)
            if retracted  # the post goes back to draft with only the notice in it
            else environment(settings.paths.templates)
            .get_template(TEMPLATE)
            .render(
                site=site,
                finding=finding,
                body_html=render_markdown(finding.body),
                episode=self._episode(finding, site),
                original=original,
            )
        )
        stat = finding.key_stat
        payload = {
            "slug": finding.id,
            # WordPress shows titles and excerpts as HTML: escape them like any page text.
            "title": escape(finding.title, quote=False),
            "excerpt": escape(finding.summary, quote=False),
            "content": content,
            "date_gmt": finding.public_from.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "status": "draft" if retracted else settings.wordpress.status,
            "categories": [
                {"slug": slug, "name": TOPICS_BY_SLUG[slug].name} for slug in finding.topics
            ],
            "tags": sorted(set(finding.commodities) | set(finding.regions), key=str.casefold),
            "featured_image": {
                "file": IMAGE_FILE,
                "alt": f"{finding.title}: {stat.value} {stat.label}",
            },
            "canonical": original if settings.wordpress.canonical else None,
        }
        share = share_image_for(finding, settings)
        text = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        return [
            Deliverable(payload_path(finding.id), text.encode("utf-8"), finding.id),
            Deliverable(payload_path(finding.id, IMAGE_FILE), share, finding.id),
        ]

    def _episode(self, finding: Finding, site: Site) -> dict | None:
        """The player for the episode the podcast channel hosts, when podcasting is on."""
        episode = finding.episode
        audio_url = site.urls.published_episode(finding.id)
        if episode is None or audio_url is None:
            return None
        return {
            "audio_url": audio_url,
            "number": episode.number,
            "chapters": chapter_rows(episode),
        }


CHANNEL = WordPressChannel()
