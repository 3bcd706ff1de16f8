"""What both editions of a report need, gathered once before rendering.

Rendering is pure (no file written, no clock, no network), and a report's pages need more
than the report: its findings, the earlier reports its indicators compare with, the charts,
and the PDF (typeset with Typst, slow-ish). The reports channel's ``prepare`` calls
``prepare_edition``; rendering reads the ``Edition`` it returns from ``site.prepared``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from outreach.config import Settings
from outreach.finding import Finding, read_findings
from outreach.reports.indicators import (
    CHART_FORMAT,
    IndicatorRow,
    indicator_chart,
    indicator_rows,
)
from outreach.reports.model import Report, read_reports, resolve_findings
from outreach.urls import SiteUrls

PDF_MEDIA_TYPE = "application/pdf"


@dataclass(frozen=True)
class Edition:
    """A report with everything its pages and PDF read: its findings in order, the
    indicator table, a PNG chart per headline indicator, and the PDF (None until the PDF
    edition's builder is installed)."""

    report: Report
    findings: tuple[Finding, ...]
    rows: tuple[IndicatorRow, ...]
    charts: dict[str, bytes] = field(default_factory=dict)
    """Indicator id -> PNG, for headline indicators."""
    pdf: bytes | None = None


def build_pdf_edition(edition: Edition, settings: Settings) -> bytes | None:
    """The PDF edition's bytes from ``outreach.reports.pdf.build_pdf`` (built separately),
    given the same findings, indicator rows and charts as the web edition; None while that
    module is absent, and the web edition then links no PDF."""
    try:
        from outreach.reports.pdf import (  # type: ignore[import-not-found]
            ChartImage,
            IndicatorRow,
            build_pdf,
        )
    except ImportError:
        return None
    from outreach.channels import site_offers  # the URL map names what the site hosts

    urls = SiteUrls(settings.site.base_url, site_offers(settings))
    report = edition.report
    rows = [
        IndicatorRow(row.label, row.this.value if row.this else "", row.previous_text,
                     row.change_text)
        for row in edition.rows
    ]  # fmt: skip
    charts = [
        ChartImage(edition.charts[row.id], row.chart_alt, f"{row.label}. Source: {row.source}.",
                   format=CHART_FORMAT)
        for row in edition.rows
        if row.id in edition.charts
    ]  # fmt: skip
    post_urls = {
        finding.id: url
        for finding in edition.findings
        if (url := urls.published_post(finding.id)) is not None
    }
    return build_pdf(
        report,
        list(edition.findings),
        settings,
        indicators=rows,
        charts=charts,
        web_url=urls.published_report(report.id),
        post_urls=post_urls,
    )


def prepare_edition(report: Report, settings: Settings, with_pdf: bool = True) -> Edition:
    """Read the findings and reports again (validated), and make the charts and the PDF."""
    catalog = {
        finding.id: finding
        for finding in read_findings(settings.paths.findings, settings.paths.media, settings.root)
    }
    reports = read_reports(settings, catalog)
    current = reports.get(report.id, report)
    rows = tuple(indicator_rows(current, reports, catalog))
    charts = {row.id: indicator_chart(row) for row in rows if row.headline and row.history}
    edition = Edition(current, tuple(resolve_findings(current, catalog)), rows, charts)
    if with_pdf:
        pdf = build_pdf_edition(edition, settings)
        if pdf is not None:
            edition = Edition(edition.report, edition.findings, edition.rows, edition.charts, pdf)
    return edition


def edition_key(report: Report, settings: Settings) -> str:
    """A content key of everything ``prepare_edition`` reads: the report and finding files,
    the other reports, the media they name, the settings, and the code and templates of
    both editions. The same key means the same Edition (Prefect caches by it)."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent

    def add_files(paths: list[Path]) -> None:
        for path in sorted(paths):
            if path.is_file():
                digest.update(str(path.name).encode() + b"\0" + path.read_bytes() + b"\0")

    add_files(list(settings.paths.findings.glob("*.md")))
    add_files(list(settings.paths.reports.glob("*.md")))
    add_files(list(root.glob("*.py")))
    add_files(list((settings.paths.templates / "reports").rglob("*")))
    add_files([settings.paths.media / report.cover.file])
    digest.update(json.dumps(settings.model_dump(mode="json"), sort_keys=True).encode())
    return "report-" + digest.hexdigest()[:32]
