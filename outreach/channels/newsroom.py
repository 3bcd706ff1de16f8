"""The newsroom: the public page of each press release, and their index.

A public channel, so the release flow holds a finding's newsroom page until its embargo
lifts, exactly as it holds the blog post.
"""

from __future__ import annotations

from typing import ClassVar

from outreach.channels.base import BaseChannel, Deliverable, Site
from outreach.finding import Finding
from outreach.notices import retraction_page
from outreach.press.assemble import load_press_data, release_for
from outreach.share_image import draw_site_card, share_card, share_image_for
from outreach.templating import environment
from outreach.urls import kit_zip_name, newsroom_path

SHARE_IMAGE = "share.png"
"""The card image beside each newsroom page (a fixed name no media file can take)."""


class NewsroomChannel(BaseChannel):
    name: ClassVar[str] = "newsroom"
    draws_share_images: ClassVar[bool] = True
    public: ClassVar[bool] = True
    links_kits: ClassVar[bool] = True

    def render_finding(self, finding: Finding, site: Site) -> list[Deliverable]:
        settings = site.settings
        base = newsroom_path(finding.id)
        if finding.retraction is not None:  # only the notice stays; the rest is removed
            page = retraction_page(finding, site, site.url(base))
            return [Deliverable(base + "index.html", page, finding.id)]
        release, _ = release_for(finding, settings, load_press_data(settings))
        stat = finding.key_stat
        card = share_card(
            release.headline,
            release.subhead,
            site.url(base + SHARE_IMAGE),
            f"{stat.value} {stat.label}: {finding.title}",
            kind="article",
        )
        page = (
            environment(settings.paths.templates)
            .get_template("press/newsroom.html.j2")
            .render(
                site=site,
                release=release,
                canonical=site.url(base),
                kit_href=site.href(site.urls.kit(finding.id) + kit_zip_name(finding.id)),
                has_episode=finding.episode is not None,
                card=card,
            )
        )
        return [
            Deliverable(base + "index.html", page.encode("utf-8"), finding.id),
            Deliverable(base + SHARE_IMAGE, share_image_for(finding, settings), finding.id),
        ]

    def render_site(self, site: Site) -> list[Deliverable]:
        settings = site.settings
        data = load_press_data(settings)
        entries = []
        for finding in site.listed:
            release, _ = release_for(finding, settings, data)
            entries.append(
                {
                    "href": site.href(newsroom_path(finding.id)),
                    "headline": release.headline,
                    "subhead": release.subhead,
                    "published": finding.published,
                }
            )
        env = environment(settings.paths.templates)
        tagline = f"Press releases and press kits from the {settings.site.organisation}."
        card = share_card(
            f"Newsroom · {settings.site.title}",
            tagline,
            site.url("newsroom/" + SHARE_IMAGE),
            f"{settings.site.title} newsroom: {tagline}",
        )
        page = env.get_template("press/newsroom_index.html.j2").render(
            site=site, entries=entries, canonical=site.url("newsroom/"), card=card
        )
        stylesheet = settings.paths.templates / "press" / "press-print.css"
        return [
            Deliverable("newsroom/index.html", page.encode("utf-8")),
            Deliverable(
                "newsroom/" + SHARE_IMAGE,
                draw_site_card(settings.site.title, tagline, heading="Newsroom"),
            ),
            Deliverable("assets/press-print.css", stylesheet.read_bytes()),
        ]


CHANNEL = NewsroomChannel()
