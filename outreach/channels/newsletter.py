"""The newsletter channel: no files of its own; the release flow sends each public finding
to the subscribers of its topics once it is published (see flows/newsletter.py).

A public channel, so a finding under embargo is held here exactly as on the blog.
"""

from __future__ import annotations

from typing import ClassVar

from outreach.channels.base import BaseChannel, Deliverable, Site
from outreach.config import Settings
from outreach.finding import Finding


class NewsletterChannel(BaseChannel):
    name: ClassVar[str] = "newsletter"
    public: ClassVar[bool] = True

    def check_inputs(self, settings: Settings) -> list[str]:
        template = settings.paths.templates / "newsletter" / "email.mjml.j2"
        return (
            [] if template.is_file() else [f"{template}: missing; restore the newsletter template"]
        )

    def render_finding(self, finding: Finding, site: Site) -> list[Deliverable]:
        return []


CHANNEL = NewsletterChannel()
