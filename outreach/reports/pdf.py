"""The PDF edition of a report, typeset with Typst (the ``typst`` wheel: no system install).

Slow work, done in the release's prepare step: the bytes are then handed to the channels, whose
rendering stays pure. The build is accessible and repeatable:

- PDF/UA-1 mode: a tagged PDF with a title and language; Typst refuses any image without alt
  text, and that refusal becomes a ``ReportPdfError`` naming the report and the image.
- Same inputs, same bytes: the creation date is the report's ``published``, fonts are the ones
  shipped inside the typst wheel (embedded in the PDF; no system font can change a line
  break), and the build folder is temporary, so no machine path reaches the output.

Texts from the report files reach Typst as JSON strings, which it shows literally; Markdown
bodies go through ``typst_markup``, which escapes them.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import typst

from outreach.config import Settings
from outreach.errors import OutreachError
from outreach.finding import Finding, Image
from outreach.reports.model import Report
from outreach.reports.typst_markup import ImageRef, markdown_to_typst, string_literal
from outreach.templating import long_date

TEMPLATE = PurePosixPath("reports") / "report.typ"
"""The Typst template, under the configured templates folder."""
PDF_STANDARDS = ["ua-1"]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
"""Image formats Typst reads."""
KIND_LABELS = {
    "state-of-play": "State-of-play report",
    "findings-report": "Findings report",
    "case-study": "Country case study",
    "key-findings": "Key findings report",
    "iteration": "Next-iteration report",
}


class ReportPdfError(OutreachError):
    """The PDF edition cannot be built; the message names the report, the image and the fix."""

    before_any_change: ClassVar[bool] = True


@dataclass(frozen=True)
class IndicatorRow:
    """One line of the indicator table, as readers see it (the numbers already formatted)."""

    label: str
    current: str
    previous: str
    """Last year's report's value, or "first year" when there was none."""
    change: str
    """Arrow and number, e.g. "▲ 4 pp", or "first year"."""


@dataclass(frozen=True)
class ChartImage:
    """A chart drawn for the report (PNG or SVG bytes), with what it shows in words."""

    data: bytes
    alt: str
    caption: str
    format: str = "svg"
    """The file type: "svg" or "png"."""


def build_pdf(
    report: Report,
    findings: Sequence[Finding],
    settings: Settings,
    *,
    indicators: Sequence[IndicatorRow] | None = None,
    charts: Sequence[ChartImage] | None = None,
    web_url: str | None = None,
    post_urls: Mapping[str, str] | None = None,
) -> bytes:
    """The report's PDF: cover, citation, contents, introduction, chapters, findings (figures,
    key figures, quotes, text), indicators, recommendations, sources and image credits.

    ``findings`` are the report's, in its order (``resolve_findings``); ``web_url`` is the web
    edition's address (for the citation) and ``post_urls`` each finding's post, by id."""
    with tempfile.TemporaryDirectory(prefix="report-pdf-") as folder:
        root = Path(folder)
        sources = _Images(root, settings.paths.media, report)
        data = _data(report, findings, settings, sources, indicators or (), charts or ())
        data["web-url"] = web_url
        data["citation"] = citation(report, settings, web_url)
        for entry in data["findings"]:
            entry["url"] = (post_urls or {}).get(entry["id"])
        main = _main_source(report, findings, sources)
        (root / "report.typ").write_bytes(_template(report, settings))
        (root / "data.json").write_text(
            json.dumps(data, ensure_ascii=False, sort_keys=True), encoding="utf-8"
        )
        (root / "main.typ").write_text(main, encoding="utf-8")
        try:
            pdf = typst.compile(
                root / "main.typ",
                root=root,
                font_paths=_fonts(),
                ignore_system_fonts=True,
                pdf_standards=PDF_STANDARDS,
                timestamp=report.published,
            )
        except typst.TypstError as exc:
            raise _refusal(report, exc, sources) from None
    assert isinstance(pdf, bytes)
    return pdf


def _template(report: Report, settings: Settings) -> bytes:
    template = settings.paths.templates / TEMPLATE
    try:
        return template.read_bytes()
    except OSError:
        raise ReportPdfError(
            f"{_where(report)}: the PDF edition's Typst template {template} cannot be read; "
            "copy templates/reports/report.typ from the project into your templates folder"
        ) from None


@lru_cache(maxsize=1)
def _fonts() -> typst.Fonts:
    """The fonts inside the typst wheel only (Libertinus Serif, DejaVu Sans Mono)."""
    return typst.Fonts(include_system_fonts=False, include_embedded_fonts=True)


class _Images:
    """Copies every image into the build folder under a neutral name, remembering what each
    was, so a refusal can name the file the team wrote (never a temporary path)."""

    def __init__(self, root: Path, media: Path, report: Report) -> None:
        self.root = root
        self.media = media
        self.report = report
        self.names: dict[str, str] = {}
        self.without_alt: list[str] = []
        (root / "images").mkdir()

    def add(self, data: bytes, suffix: str, described_as: str, alt: str) -> str:
        name = f"images/{len(self.names) + 1}{suffix}"
        (self.root / name).write_bytes(data)
        self.names[name] = described_as
        if not alt.strip():
            self.without_alt.append(described_as)
        return name

    def media_file(self, file: str, described_as: str, alt: str) -> str:
        path = (self.media / file).resolve()
        suffix = path.suffix.lower()
        if not path.is_relative_to(self.media.resolve()) or suffix not in IMAGE_SUFFIXES:
            raise ReportPdfError(
                f"{_where(self.report)}: image '{file}' ({described_as}) is not an image file "
                f"in the media folder; use a path such as 'images/chart.png' under "
                f"{self.media.name}/ ending in {', '.join(sorted(IMAGE_SUFFIXES))}"
            )
        if not path.is_file():
            raise ReportPdfError(
                f"{_where(self.report)}: image '{file}' ({described_as}) does not exist in the "
                f"media folder; add the file or correct the path"
            )
        return self.add(path.read_bytes(), suffix, f"'{file}' ({described_as})", alt)

    def resolver(self, described_as: str):
        def resolve(ref: ImageRef) -> str:
            return self.media_file(ref.src, described_as, ref.alt)

        return resolve


def _where(report: Report) -> str:
    return f"report '{report.id}'" + (f" ({report.source_path})" if report.source_path else "")


def _image(image: Image, path: str) -> dict[str, Any]:
    return {
        "path": path,
        "alt": image.alt,
        "caption": image.caption,
        "credit": image.credit,
        "licence": image.licence,
    }


def _data(
    report: Report,
    findings: Sequence[Finding],
    settings: Settings,
    images: _Images,
    indicators: Sequence[IndicatorRow],
    charts: Sequence[ChartImage],
) -> dict[str, Any]:
    """Everything the template shows that is plain text, as JSON (Typst shows it literally)."""
    language, _, region = settings.site.language.partition("-")
    cover = _image(
        report.cover, images.media_file(report.cover.file, "the report's cover", report.cover.alt)
    )
    entries = []
    credits = [{"where": "Cover", **cover}]
    for finding in findings:
        picture = _image(
            finding.image,
            images.media_file(finding.image.file, f"finding '{finding.id}'", finding.image.alt),
        )
        credits.append({"where": finding.title, **picture})
        entries.append(
            {
                "id": finding.id,
                "title": finding.title,
                "summary": finding.summary,
                "image": picture,
                "stats": [
                    {
                        "value": stat.value,
                        "label": stat.label,
                        "source": stat.source,
                        "source-url": stat.source_url,
                        "illustrative": stat.illustrative,
                    }
                    for stat in finding.stats
                ],
                "quotes": [
                    {"text": quote.text, "speaker": quote.speaker, "role": quote.role}
                    for quote in finding.quotes
                ],
            }
        )
    titles = {finding.id: finding.title for finding in findings}
    return {
        "title": report.title.strip() or None,
        "short-title": report.title.split(":", 1)[0],
        "subtitle": report.subtitle,
        "summary": report.summary,
        "kind-label": KIND_LABELS.get(report.kind, "Report"),
        "covers": report.covers,
        "organisation": settings.site.organisation,
        "authors": [
            {"name": author.name, "affiliation": author.affiliation} for author in report.authors
        ],
        "published-text": long_date(report.published),
        "keywords": [*report.topics, *report.regions, *report.commodities],
        "lang": language.lower() or "en",
        "region": region.upper() or None,
        "cover": cover,
        "acknowledgements": report.acknowledgements,
        "findings": entries,
        "credits": credits,
        "indicators": [
            {
                "label": row.label,
                "current": row.current,
                "previous": row.previous,
                "change": row.change,
            }
            for row in indicators
        ],
        "charts": [
            {
                "path": images.add(
                    chart.data, f".{chart.format}", f"chart '{chart.caption}'", chart.alt
                ),
                "alt": chart.alt.strip() or None,
                "caption": chart.caption,
            }
            for chart in charts
        ],
        "recommendations": [
            {
                "text": recommendation.text,
                "audience": recommendation.audience,
                "findings": [
                    {"id": finding_id, "title": titles[finding_id]}
                    for finding_id in recommendation.findings
                    if finding_id in titles
                ],
            }
            for recommendation in report.recommendations
        ],
    }


def citation(report: Report, settings: Settings, web_url: str | None = None) -> str:
    """The recommended citation: authors (year). Title: subtitle. Publisher."""
    authors = ", ".join(author.name for author in report.authors)
    title = report.title + (f": {report.subtitle}" if report.subtitle else "")
    cited = f"{authors} ({report.published.year}). {title}. {settings.site.organisation}."
    return cited + (f" {web_url}" if web_url else "")


def _main_source(report: Report, findings: Sequence[Finding], images: _Images) -> str:
    """The document: the template's parts around the converted Markdown bodies."""
    parts = [
        '#import "report.typ": *',
        '#let data = json("data.json")',
        "#show: report.with(data)",
        "#introduction(data)[",
        markdown_to_typst(
            report.introduction,
            under_level=1,
            resolve_image=images.resolver("the introduction"),
        ),
        "]",
    ]
    for chapter in report.chapters:
        parts.append(f"#heading(level: 1, {string_literal(chapter.title)})")
        parts.append(
            markdown_to_typst(
                chapter.markdown,
                under_level=1,
                resolve_image=images.resolver(f"chapter '{chapter.title}'"),
            )
        )
    parts.append("#findings-part(data)[")
    for index, finding in enumerate(findings):
        parts.append(f"#finding(data.findings.at({index}))[")
        parts.append(
            markdown_to_typst(
                finding.body,
                under_level=2,
                resolve_image=images.resolver(f"finding '{finding.id}'"),
            )
        )
        parts.append("]")
    parts.append("]")
    parts += ["#indicators-part(data)", "#recommendations-part(data)", "#back-matter(data)", ""]
    return "\n".join(parts)


_IMAGE_IN_DIAGNOSTIC = re.compile(r"(images/\d+\.\w+)")


def _refusal(report: Report, exc: typst.TypstError, images: _Images) -> ReportPdfError:
    """Typst's refusal in the team's words: which report, which image, what to write."""
    message = str(getattr(exc, "message", exc))
    diagnostic = str(getattr(exc, "diagnostic", ""))
    named = [images.names[m] for m in _IMAGE_IN_DIAGNOSTIC.findall(diagnostic) if m in images.names]
    if "alt text" in message:
        which = ", ".join(dict.fromkeys(named or images.without_alt)) or "an image"
        return ReportPdfError(
            f"{_where(report)}: the accessible PDF (PDF/UA-1) needs alt text for every image, "
            f"and {which} has none; describe the picture in its alt text "
            "(for a Markdown image: ![what the picture shows](images/file.png))"
        )
    if "title" in message:
        return ReportPdfError(
            f"{_where(report)}: the accessible PDF (PDF/UA-1) needs a document title; "
            "give the report a 'title'"
        )
    hints = "; ".join(getattr(exc, "hints", []) or [])
    return ReportPdfError(
        f"{_where(report)}: Typst could not build the PDF edition: {message}"
        + (f" ({hints})" if hints else "")
    )
