"""The newsletter channel: no files of its own; the release flow sends each public finding
to the subscribers of its topics once it is published (see flows/newsletter.py).

A public channel, so a finding under embargo is held here exactly as on the blog.
"""

from __future__ import annotations

from typing import ClassVar

from outreach.actions import Action, HookContext, SendIssue
from outreach.channels.base import BaseChannel, Deliverable, Site
from outreach.config import Settings
from outreach.finding import Finding
from outreach.reports.launch import SendReportIssue, read_announcement
from outreach.reports.model import Report


class NewsletterChannel(BaseChannel):
    name: ClassVar[str] = "newsletter"
    public: ClassVar[bool] = True
    kinds: ClassVar[frozenset[str]] = frozenset({"finding", "report"})
    """A report, once public, is announced to the subscribers of its topics."""
    lists: ClassVar[frozenset[str] | None] = frozenset({"finding"})

    def check_inputs(self, settings: Settings) -> list[str]:
        template = settings.paths.templates / "newsletter" / "email.mjml.j2"
        return (
            [] if template.is_file() else [f"{template}: missing; restore the newsletter template"]
        )

    def after_publish(self, context: HookContext) -> list[Action]:
        """Send each finding just made public to its topics' subscribers (not on a rebuild)."""
        if context.rebuild:
            return []
        settings = context.settings
        return [
            SendReportIssue(read_announcement(p, settings), p.id)
            if isinstance(p, Report)
            else SendIssue(p)
            for p in context.released
            if getattr(p, "retraction", None) is None
        ]

    def render_finding(self, finding: Finding, site: Site) -> list[Deliverable]:
        return []


CHANNEL = NewsletterChannel()
