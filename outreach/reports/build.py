"""``outreach report build ID``: both editions of one report into the build folder, for
review before release. Nothing is published and no ledger is touched; an embargoed report
builds too (the build folder is private)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from outreach.channels import get_channel, site_offers
from outreach.channels.base import Site
from outreach.config import Settings
from outreach.files import atomic_write
from outreach.platforms.static import StaticSite
from outreach.release_steps import ReleaseError
from outreach.reports.edition import prepare_edition
from outreach.reports.model import read_reports
from outreach.urls import SiteUrls, report_path, report_pdf_path

CHANNEL = "reports"


@dataclass(frozen=True)
class BuiltReport:
    """Where the editions went: the landing page, the PDF (None: no PDF builder installed)
    and every file written."""

    landing: Path
    pdf: Path | None
    files: list[Path]


def build_report(settings: Settings, report_id: str) -> BuiltReport:
    """Validate every report, then render ``report_id``'s web edition and PDF into
    ``paths.build`` (``build/reports/<id>/``)."""
    reports = read_reports(settings)
    if report_id not in reports:
        raise ReleaseError(
            f"no report with id '{report_id}'; known ids: {', '.join(sorted(reports)) or '(none)'}"
        )
    report = reports[report_id]
    edition = prepare_edition(report, settings)
    site = Site(settings, (report,), CHANNEL, prepared={report.id: edition})
    channel = get_channel(CHANNEL)
    target = StaticSite(settings.paths.build, settings.site.base_url)
    written: list[Path] = []
    for deliverable in channel.render_finding(report, site):
        path = target.target(deliverable.path)
        atomic_write(path, deliverable.content)
        written.append(path)
    landing = target.target(report_path(report.id) + "index.html")
    pdf = target.target(report_pdf_path(report.id)) if edition.pdf is not None else None
    return BuiltReport(landing, pdf, written)


def web_address(settings: Settings, report_id: str) -> str:
    """The landing page's public address once released."""
    return SiteUrls(settings.site.base_url, site_offers(settings)).url(report_path(report_id))
