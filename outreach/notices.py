"""Notices that replace a finding's pages when it is retracted (shared by the
channels). Rendering stays pure: the retraction arrives as data on the finding."""

from __future__ import annotations

from typing import TYPE_CHECKING

from outreach.finding import Finding
from outreach.templating import environment

if TYPE_CHECKING:
    from outreach.channels.base import Site

RETRACTED_PAGE = "notices/retracted.html.j2"
RETRACTED_POST = "notices/retracted_wordpress.html.j2"


def retraction_page(finding: Finding, site: Site, canonical: str) -> bytes:
    """The short page left at a retracted finding's address: title, date, note."""
    page = (
        environment(site.settings.paths.templates)
        .get_template(RETRACTED_PAGE)
        .render(site=site, finding=finding, canonical=canonical)
    )
    return page.encode("utf-8")


def retraction_post(finding: Finding, site: Site) -> str:
    """The body a retracted finding's WordPress post keeps (the post goes back to draft)."""
    return (
        environment(site.settings.paths.templates)
        .get_template(RETRACTED_POST)
        .render(site=site, finding=finding)
    )
