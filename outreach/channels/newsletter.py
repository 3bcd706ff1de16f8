"""The newsletter channel: no files of its own; the release flow sends each public finding
to the subscribers of its topics once it is published (see flows/newsletter.py).

A public channel, so a finding under embargo is held here exactly as on the blog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from outreach.actions import Action, HookContext, SendIssue
from outreach.channels.base import BaseChannel, Deliverable, Site
from outreach.config import Settings
from outreach.finding import Finding
from outreach.reports import is_report

if TYPE_CHECKING:
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
            _report_issue(p, settings) if is_report(p) else SendIssue(p)
            for p in context.released
            if getattr(p, "retraction", None) is None
        ]

    def render_finding(self, finding: Finding, site: Site) -> list[Deliverable]:
        return []


def _report_issue(report: Report, settings: Settings) -> Action:
    """The issue announcing a report (the report modules load only when there is one)."""
    from outreach.reports.launch import SendReportIssue, read_announcement

    return SendReportIssue(read_announcement(report, settings), report.id)


CHANNEL = NewsletterChannel()
