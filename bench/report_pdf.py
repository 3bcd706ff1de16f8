"""Report PDF benchmark: a 100-finding report typeset by Typst, against WeasyPrint.

Run with `make bench` (or `python -m bench.report_pdf`). The synthetic report repeats the
sample findings (text, figures, quotes, images) under new ids until it holds 100. Typst builds
the real PDF edition (PDF/UA-1, tagged); WeasyPrint renders the same content as HTML (the same
Markdown through the site's renderer, the same images, an A4 page with page numbers) in the
same run. Medians of 3; goals: under 2 s, and at least 5x faster than WeasyPrint.
"""

from __future__ import annotations

import html
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from outreach.config import Settings, load_settings
from outreach.finding import Finding
from outreach.markdown import render_markdown
from outreach.release_steps import load_catalog
from outreach.reports.model import Report, read_reports, resolve_findings
from outreach.reports.pdf import IndicatorRow, build_pdf, citation

REPO = Path(__file__).resolve().parent.parent
RUNS = 3
FINDINGS = 100
GOAL_SECONDS = 2.0
GOAL_RATIO = 5.0


def bench_media(folder: Path) -> Path:
    """A media folder with the samples' files plus one distinct image per synthetic finding:
    a real report's pictures differ, and Typst decodes identical bytes only once."""
    media = folder / "media"
    shutil.copytree(REPO / "media", media)
    samples = sorted((REPO / "media" / "images").glob("*.jpg"))
    for number in range(1, FINDINGS + 1):
        with Image.open(samples[number % len(samples)]) as picture:
            picture = picture.convert("RGB")
            picture.putpixel((number, 0), (number, 255 - number, 128))
            picture.save(media / "images" / f"bench-{number}.jpg", quality=88)
    return media


def synthetic_report(settings: Settings) -> tuple[Report, list[Finding]]:
    """The sample state-of-play report gathering 100 findings: its own five, then the sample
    findings repeated under new ids, each with its own picture (from ``bench_media``)."""
    base = read_reports(settings)["state-of-play-2026"]
    catalog = load_catalog(settings)
    samples = list(catalog.values())
    findings = list(resolve_findings(base, catalog))
    context = {"media_dir": settings.paths.media}
    number = 0
    while len(findings) < FINDINGS:
        sample = samples[number % len(samples)]
        number += 1
        data = sample.model_dump() | {
            "id": f"{sample.id}-{number}",
            "title": f"{sample.title} ({number})",
            "image": sample.image.model_dump() | {"file": f"images/bench-{number}.jpg"},
        }
        findings.append(Finding.model_validate(data, context=context))
    data = base.model_dump() | {"findings": [finding.id for finding in findings]}
    return Report.model_validate(data, context=context), findings


def bench_settings(media: Path) -> Settings:
    settings = load_settings(REPO / "outreach.toml", environ={})
    return settings.model_copy(update={"paths": settings.paths.model_copy(update={"media": media})})


def html_edition(report: Report, findings: Sequence[Finding], settings: Settings) -> str:
    """The same content as an HTML page for WeasyPrint: cover, contents, chapters, findings,
    recommendations, sources and credits, images from the media folder."""
    e = html.escape
    media = settings.paths.media

    def image(file: str, alt: str, caption: str) -> str:
        src = (media / file).as_uri()
        return (
            f'<figure><img src="{src}" alt="{e(alt)}">'
            f"<figcaption>{e(caption)}</figcaption></figure>"
        )

    parts = [
        "<!doctype html><html lang='en-GB'><head><meta charset='utf-8'>",
        f"<title>{e(report.title)}</title><style>{CSS}</style></head><body>",
        f"<section class='cover'><p>{e(settings.site.organisation)}</p><h1>{e(report.title)}</h1>",
        f"<p>{e(report.subtitle or '')}</p>",
        image(report.cover.file, report.cover.alt, report.cover.caption),
        "</section>",
        f"<section class='back'><p>{e(citation(report, settings))}</p></section>",
        "<nav><h2>Contents</h2><ol>",
        *(f"<li><a href='#c{c.number}'>{e(c.title)}</a></li>" for c in report.chapters),
        "<li><a href='#findings'>Findings</a><ol>",
        *(f"<li><a href='#{f.id}'>{e(f.title)}</a></li>" for f in findings),
        "</ol></li></ol></nav>",
        f"<h2 class='chapter'>Introduction</h2><p>{e(report.summary)}</p>",
        render_markdown(report.introduction),
    ]
    for chapter in report.chapters:
        parts.append(f"<h2 class='chapter' id='c{chapter.number}'>{e(chapter.title)}</h2>")
        parts.append(render_markdown(chapter.markdown))
    parts.append("<h2 class='chapter' id='findings'>Findings</h2>")
    for finding in findings:
        parts.append(
            f"<h3 id='{finding.id}'>{e(finding.title)}</h3><p><em>{e(finding.summary)}</em></p>"
        )
        parts.append(image(finding.image.file, finding.image.alt, finding.image.caption))
        parts.append("<table>")
        parts += [f"<tr><th>{e(s.value)}</th><td>{e(s.label)}</td></tr>" for s in finding.stats]
        parts.append("</table>")
        parts += [
            f"<blockquote>{e(q.text)}<footer>{e(q.speaker)}, {e(q.role)}</footer></blockquote>"
            for q in finding.quotes
        ]
        parts.append(render_markdown(finding.body))
    parts.append("<h2 class='chapter'>Recommendations</h2><ol>")
    parts += [
        f"<li>{e(r.text)}<br>For: {e(', '.join(r.audience))}</li>" for r in report.recommendations
    ]
    parts.append("</ol><h2 class='chapter'>Sources and image credits</h2><ul>")
    parts += [
        f"<li>{e(s.value)} {e(s.label)}: {e(s.source)}</li>" for f in findings for s in f.stats
    ]
    parts += [
        f"<li>{e(f.image.caption)} {e(f.image.credit)}, {e(f.image.licence)}</li>" for f in findings
    ]
    parts.append("</ul></body></html>")
    return "\n".join(parts)


CSS = """
@page { size: A4; margin: 2.5cm 2.2cm; @bottom-center { content: counter(page); } }
body { font-family: serif; font-size: 10.5pt; line-height: 1.35; }
.cover, .back, nav { page-break-after: always; }
h2.chapter { break-before: page; }
figure img { width: 100%; max-height: 7.5cm; object-fit: contain; }
table { border-collapse: collapse; } th, td { border-bottom: 0.4pt solid #ccc; padding: 3pt; }
blockquote { border-left: 2pt solid #2f6b4f; padding-left: 1em; }
"""


def page_count(pdf: Path) -> int:
    import pikepdf  # the test extra, installed by make bench

    with pikepdf.open(pdf) as document:
        return len(document.pages)


def build_once(engine: str, media: Path, out: Path) -> tuple[float, float]:
    """One build in this (fresh) process: wall and CPU seconds (all threads) of the build
    call alone."""
    settings = bench_settings(media)
    report, findings = synthetic_report(settings)
    if engine == "typst":
        rows = [
            IndicatorRow(indicator.label, "38%", "first year", "first year")
            for indicator in report.indicators
        ]
        start, cpu = time.perf_counter(), time.process_time()
        pdf = build_pdf(report, findings, settings, indicators=rows)
    else:
        from weasyprint import HTML  # the bench extra

        page = html_edition(report, findings, settings)
        start, cpu = time.perf_counter(), time.process_time()
        pdf = HTML(string=page, base_url=str(REPO)).write_pdf()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    out.write_bytes(pdf)
    return seconds, cpu


def cold_runs(engine: str, media: Path, folder: Path) -> tuple[float, float, Path]:
    """Median of RUNS builds, each in a new process: Typst memoises layout within a process,
    so a repeated build of the same report in one process (0.3 s) would flatter it."""
    times, cpus = [], []
    out = folder / f"{engine}.pdf"
    for _ in range(RUNS):
        done = subprocess.run(
            [sys.executable, "-m", "bench.report_pdf", "--once", engine, str(media), str(out)],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        )
        wall, cpu = done.stdout.split()[-2:]
        times.append(float(wall))
        cpus.append(float(cpu))
    return statistics.median(times), statistics.median(cpus), out


def main() -> None:
    if sys.argv[1:2] == ["--once"]:
        wall, cpu = build_once(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        print(f"{wall:.4f} {cpu:.4f}")
        return
    with tempfile.TemporaryDirectory() as folder:
        media = bench_media(Path(folder))
        typst_s, typst_cpu, typst_pdf = cold_runs("typst", media, Path(folder))
        weasy_s, weasy_cpu, weasy_pdf = cold_runs("weasyprint", media, Path(folder))
        ratio = weasy_s / typst_s
        load = os.getloadavg()[0]
        print(f"Report PDF, {FINDINGS} findings (median of {RUNS} runs, each in a new process;")
        print(f"  load average {load:.1f} on {os.cpu_count()} CPUs: wall time includes waiting):")
        print(
            f"  Typst (PDF/UA-1, tagged): {typst_s:.2f} s ({typst_cpu:.2f} s CPU), "
            f"{page_count(typst_pdf)} pages, "
            f"{typst_pdf.stat().st_size / 1e6:.1f} MB   goal < {GOAL_SECONDS:.0f} s: "
            f"{'met' if typst_s < GOAL_SECONDS else 'MISSED'}"
        )
        print(
            f"  WeasyPrint (same content as HTML): {weasy_s:.2f} s ({weasy_cpu:.2f} s CPU), "
            f"{page_count(weasy_pdf)} pages, {weasy_pdf.stat().st_size / 1e6:.1f} MB"
        )
        print(
            f"  Typst is {ratio:.1f}x faster ({weasy_cpu / typst_cpu:.1f}x in CPU)   "
            f"goal >= {GOAL_RATIO:.0f}x: "
            f"{'met' if ratio >= GOAL_RATIO else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
