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
from outreach.reports.indicators import IndicatorRow, indicator_chart, indicator_rows
from outreach.reports.model import Report, read_reports, resolve_findings

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
    """The PDF edition's bytes from ``outreach.reports.pdf.build_pdf`` when that module is
    present (it is built separately); None otherwise, and the web edition links no PDF."""
    try:
        from outreach.reports.pdf import build_pdf  # type: ignore[import-not-found]
    except ImportError:
        return None
    return build_pdf(edition, settings)


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
