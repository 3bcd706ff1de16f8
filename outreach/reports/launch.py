"""The launch of a report on the channels that announce findings: blog, press, newsletter,
WordPress.

Those channels, their press release, pitches and newsletter issue are built around a
finding's parts (title, summary, key stat, press angle, image). A report is launched through
the same code by presenting it as its *announcement*: a finding-shaped value whose key stat is
the report's headline indicator (so the existing headline scoring writes the business and
consumer headlines from it), whose image is the cover, whose text is the introduction, and
whose id is the report's ledger key ``report:<id>`` (so pitches, sends and kit addresses never
collide with a finding's). Nothing is validated again: the report and its findings were.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from outreach.actions import PitchFindings, SendIssue
from outreach.finding import Finding, Stat, read_findings
from outreach.reports.model import Report, included_findings
from outreach.urls import report_path

if TYPE_CHECKING:
    from outreach.config import Settings
    from outreach.reports.edition import Edition

REPORT_KEY_PREFIX = "report:"
MAX_RELEASE_QUOTES = 3
"""Quotes from the report's findings that the press release carries (the first ones)."""


def report_key(report_id: str) -> str:
    """The ledger key of a report (``kinds.Kind.ledger_key`` for the report kind)."""
    return f"{REPORT_KEY_PREFIX}{report_id}"


def indicator_stats(report: Report, findings: Sequence[Finding]) -> list[Stat]:
    """The stats measuring the report's indicators, headline indicators first (in the
    report's order); with no indicator, the key stat of each of the first findings."""
    by_indicator = {
        stat.indicator: stat for finding in findings for stat in finding.stats if stat.indicator
    }
    ordered = [*report.headline_indicators] + [i for i in report.indicators if not i.headline]
    stats = [by_indicator[i.id] for i in ordered if i.id in by_indicator]
    return stats or [finding.key_stat for finding in findings[:3]]


def announcement(report: Report, findings: Sequence[Finding]) -> Finding:
    """The report as a finding-shaped announcement (see the module's note); ``findings`` are
    the report's own, in its order."""
    quotes = [quote for finding in findings for quote in finding.quotes][:MAX_RELEASE_QUOTES]
    return Finding.model_construct(
        id=report_key(report.id),
        title=report.title,
        summary=report.summary,
        published=report.published,
        embargo=report.embargo,
        updated=None,
        topics=list(report.topics),
        commodities=list(report.commodities),
        regions=list(report.regions),
        author=", ".join(author.name for author in report.authors),
        stats=indicator_stats(report, findings),
        quotes=quotes,
        image=report.cover,
        episode=None,
        headlines=report.headlines,
        press=report.press,
        status="ready",
        correction=[],
        body=report.introduction or report.summary,
        source_path=report.source_path,
        retraction=None,
    )


def announcement_of(edition: Edition) -> Finding:
    """The announcement of a prepared edition (its findings are already gathered)."""
    return announcement(edition.report, edition.findings)


def read_announcement(report: Report, settings: Settings) -> Finding:
    """The announcement, reading the report's findings (for after-publish hooks, which see
    only the released reports)."""
    catalog: Mapping[str, Finding] = {
        finding.id: finding
        for finding in read_findings(settings.paths.findings, settings.paths.media, settings.root)
    }
    return announcement(report, included_findings(report, catalog))


# -- prepared work shared by the launch channels --------------------------------------------

_EDITIONS: dict[str, Edition] = {}
"""Editions by content key, so the press kit, the WordPress post and the blog announcement
of one release typeset the PDF once (the key covers everything the edition reads)."""
_KEEP = 4


def launch_key(channel: str, report: Report, settings: Settings) -> str:
    """The prepare key of a launch channel's edition (its own name first: a cache keyed by
    it never hands one channel's prepared value to another)."""
    from outreach.reports.edition import edition_key

    return f"{channel}-{edition_key(report, settings)}"


def launch_edition(report: Report, settings: Settings) -> Edition:
    """The report's edition with its PDF (when the PDF builder is installed), made once per
    content key in this process."""
    from outreach.reports.edition import edition_key, prepare_edition

    key = edition_key(report, settings)
    if key not in _EDITIONS:
        while len(_EDITIONS) >= _KEEP:
            _EDITIONS.pop(next(iter(_EDITIONS)))
        _EDITIONS[key] = prepare_edition(report, settings)
    return _EDITIONS[key]


# -- the actions that reach people ---------------------------------------------------------


@dataclass(frozen=True)
class PitchReport(PitchFindings):
    """Pitch a report to the journalists whose beats and regions match its topics and regions,
    behind the "pitches" gate, once per journalist (recorded under ``report:<id>``). The
    announcement stands in for the finding, so every runner pitches it as it pitches one."""

    report_id: str = ""

    def awaiting(self) -> str:
        return (
            f"Pitches for report '{self.report_id}' await approval: run 'outreach release "
            f"--report {self.report_id} --approve', or approve in the Prefect UI on a server."
        )


@dataclass(frozen=True)
class SendReportIssue(SendIssue):
    """A newsletter issue announcing a report to the subscribers of its topics, behind the
    "newsletter" gate, through the crash-safe send (send id ``newsletter:report:<id>``)."""

    report_id: str = ""
    gate: ClassVar[str | None] = "newsletter"

    def awaiting(self) -> str:
        return f"Newsletter for report '{self.report_id}' awaits approval; nothing sent."

    def issue(self):
        from outreach.newsletter import Issue

        finding = self.finding
        return Issue(
            finding.id,
            finding.title,
            finding.summary,
            (finding,),
            page=report_path(self.report_id),
            call="Read the report",
        )
