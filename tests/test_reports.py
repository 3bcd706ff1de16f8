"""Reports: the format (validated like findings), indicators, the web edition and the launch."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from bs4 import BeautifulSoup

from outreach.config import Settings, load_settings
from outreach.finding import FindingsInvalid, read_finding
from outreach.kinds import get_kind
from outreach.ledger import Ledger
from outreach.release import ReleaseReport, ReleaseRequest, release, run_release
from outreach.release_steps import load_catalog
from outreach.reports.model import (
    ReportsInvalid,
    Selection,
    read_report,
    read_reports,
    resolve_findings,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def report_project(tmp_path: Path) -> Path:
    """A copy of the repository's sample findings, media and reports with its configuration."""
    for name in ("findings", "media", "press", "templates", "reports"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "outreach.toml", tmp_path / "outreach.toml")
    return tmp_path


@pytest.fixture
def report_settings(report_project: Path) -> Settings:
    return load_settings(report_project / "outreach.toml", environ={})


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# -- the format ---------------------------------------------------------------------------


def test_the_sample_reports_are_valid_and_gather_their_findings_in_order(
    report_settings: Settings,
) -> None:
    reports = read_reports(report_settings)
    assert sorted(reports) == ["state-of-play-2026", "uganda-case-study"]
    findings = load_catalog(report_settings)
    state = reports["state-of-play-2026"]
    assert state.kind == "state-of-play" and state.year == 2026
    assert [f.id for f in resolve_findings(state, findings)] == [
        "field-schools-and-premium-sharing",
        "uganda-robusta-case-study",
        "farm-gate-to-fob",
        "procurement-long-term-offtake",
        "origin-government-partnerships",
    ]
    # Every finding of the sample year (the cotton one is 2027's).
    assert {f.id for f in findings.values() if f.published.year == 2026} == {
        f.id for f in resolve_findings(state, findings)
    }
    assert [c.title for c in state.chapters][:2] == [
        "What lasted on the farm",
        "Where value leaks between farm and port",
    ]
    assert state.introduction.startswith("This is the programme's first")
    assert "## " not in state.introduction
    case = reports["uganda-case-study"]
    assert case.kind == "case-study" and case.covers == "2024-2026"
    assert case.cover.alt and (report_settings.paths.media / case.cover.file).is_file()


def test_a_report_is_a_kind_of_publication_with_its_own_ledger_keys() -> None:
    kind = get_kind("report")
    assert kind.ledger_key("state-of-play-2026") == "report:state-of-play-2026"
    assert kind.ledger_id("report:state-of-play-2026") == "state-of-play-2026"
    assert kind.ledger_id("state-of-play-2026") is None


def test_every_mistake_in_a_report_is_named_at_once_with_file_field_and_fix(
    report_project: Path, report_settings: Settings
) -> None:
    path = report_project / "reports" / "uganda-case-study.md"
    replace_in(path, "kind: case-study", "kind: case-studdy")
    replace_in(path, "published: 2026-10-06T09:00:00+01:00", "published: 2026-10-06")
    replace_in(path, "  - farm-gate-to-fob\n", "  - farm-gate-to-fobb\n")
    replace_in(
        path,
        "    findings: [uganda-robusta-case-study]\n",
        "    findings: [origin-government-partnerships]\n",
    )
    replace_in(path, '  alt: "Flat-colour', '  alts: "Flat-colour')
    replace_in(path, '    label: "Export lots', '    headlin: true\n    label: "Export lots')
    with pytest.raises(ReportsInvalid) as caught:
        read_reports(report_settings)
    problems = {p.field: p for p in caught.value.problems}
    assert all(p.file == "reports/uganda-case-study.md" for p in problems.values())
    assert "did you mean 'case-study'" in problems["kind"].message
    assert "T09:00:00+00:00" in problems["published"].message
    assert "missing; add it" in problems["cover.alt"].message
    assert "did you mean 'alt'" in problems["cover.alts"].message
    assert "did you mean 'headline'" in problems["indicators[0].headlin"].message
    assert len(caught.value.problems) == 5, caught.value  # one file's own checks first
    assert str(caught.value).startswith("5 problems in 1 report file:")


def test_unknown_findings_and_unmeasured_indicators_are_named_with_the_fix(
    report_project: Path, report_settings: Settings
) -> None:
    path = report_project / "reports" / "uganda-case-study.md"
    replace_in(path, "  - farm-gate-to-fob\n", "  - farm-gate-to-fobb\n")
    replace_in(
        path,
        "    findings: [uganda-robusta-case-study]\n",
        "    findings: [origin-government-partnerships]\n",
    )
    replace_in(path, "  - id: traceable-export-lots", "  - id: documented-land-rights")
    with pytest.raises(ReportsInvalid) as caught:
        read_reports(report_settings)
    problems = {p.field: p.message for p in caught.value.problems}
    assert (
        "no finding with id 'farm-gate-to-fobb'; did you mean 'farm-gate-to-fob'?"
        in (problems["findings[1]"])
    )
    assert (
        "is not one of the report's findings; list it in 'findings'"
        in (problems["recommendations[0].findings[0]"])
    )
    assert "add 'indicator: documented-land-rights'" in problems["indicators[0].id"]
    # The second recommendation rests on the finding whose id was mistyped in the list.
    assert (
        "'farm-gate-to-fob' is not one of the report's findings"
        in (problems["recommendations[1].findings[1]"])
    )
    assert len(problems) == 4


def test_a_state_of_play_report_needs_its_year(
    report_project: Path, report_settings: Settings
) -> None:
    path = report_project / "reports" / "state-of-play-2026.md"
    replace_in(path, "year: 2026\n", "")
    with pytest.raises(ReportsInvalid) as caught:
        read_report(path, report_settings.paths.media, "reports/state-of-play-2026.md")
    (problem,) = caught.value.problems
    assert "needs 'year' (e.g. year: 2026)" in problem.message


def test_a_selection_gathers_findings_by_topic_and_date_in_publication_order(
    report_project: Path, report_settings: Settings
) -> None:
    path = report_project / "reports" / "uganda-case-study.md"
    text = path.read_text(encoding="utf-8")
    start = text.index("findings:\n")
    end = text.index("recommendations:")
    path.write_text(
        text[:start]
        + "findings:\n  topics: [landscapes-commodities, plastics-packaging]\n"
        + "  since: 2026-05-01\n  until: 2026-12-31\n"
        + text[end:],
        encoding="utf-8",
    )
    report = read_reports(report_settings)["uganda-case-study"]
    assert isinstance(report.findings, Selection)
    findings = load_catalog(report_settings)
    assert [f.id for f in resolve_findings(report, findings)] == [
        "uganda-robusta-case-study",  # 2026-05-19
        "farm-gate-to-fob",  # 2026-07-08
        "origin-government-partnerships",  # 2026-11-03; cotton (2027) is out of range
    ]


def test_a_selection_that_matches_nothing_says_so(
    report_project: Path, report_settings: Settings
) -> None:
    path = report_project / "reports" / "uganda-case-study.md"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("findings:\n"), text.index("recommendations:")
    path.write_text(
        text[:start] + "findings: {topics: [apparel-textiles], until: 2020-01-01}\n" + text[end:],
        encoding="utf-8",
    )
    with pytest.raises(ReportsInvalid) as caught:
        read_reports(report_settings)
    messages = [str(p) for p in caught.value.problems]
    assert any("findings: the selection matches no finding; widen" in m for m in messages)


def test_a_stat_tracking_an_indicator_needs_its_number(tmp_path: Path) -> None:
    source = REPO / "findings" / "farm-gate-to-fob.md"
    path = tmp_path / "farm-gate-to-fob.md"
    path.write_text(source.read_text(encoding="utf-8").replace("    number: 12\n", ""), "utf-8")
    with pytest.raises(FindingsInvalid) as caught:
        read_finding(path, REPO / "media", shown_as="findings/farm-gate-to-fob.md")
    (problem,) = caught.value.problems
    assert problem.field == "stats[0]"
    assert "has no number; add 'number:'" in problem.message
    finding = read_finding(source, REPO / "media")
    assert (finding.stats[0].indicator, finding.stats[0].number, finding.stats[0].unit) == (
        "post-harvest-loss-share",
        12.0,
        "%",
    )


# -- indicators ---------------------------------------------------------------------------

BASELINE_FINDING = """---
id: baseline-survey-2025
title: "Baseline survey 2025: premiums, losses and land rights"
summary: "The programme's first survey of premiums, post-harvest losses and land rights."
published: 2025-11-04T09:00:00+00:00
topics: [food-agriculture]
stats:
  - value: "38%"
    indicator: premium-share-to-households
    number: 38
    unit: "%"
    label: "share of certification premium reaching member households"
    source: "Illustrative baseline figure"
  - value: "15%"
    indicator: post-harvest-loss-share
    number: 15
    unit: "%"
    label: "of lot value lost between farm gate and export warehouse"
    source: "Illustrative baseline figure"
  - value: "27.5%"
    indicator: documented-land-rights
    number: 27.5
    unit: "%"
    label: "of mapped plots with a documented land right"
    source: "Illustrative baseline figure"
image:
  file: images/farm-gate-to-fob.jpg
  caption: "A port."
  credit: Programme illustration
  licence: CC BY 4.0
  alt: "Flat-colour drawing of an export port."
---
The baseline.
"""

BASELINE_REPORT = """---
id: state-of-play-2025
kind: state-of-play
title: "State of play 2025"
summary: "The baseline year."
published: 2025-12-01T09:00:00+00:00
topics: [food-agriculture]
year: 2025
findings: [baseline-survey-2025]
indicators:
  - {id: premium-share-to-households, label: "Premium reaching households", headline: true}
  - {id: post-harvest-loss-share, label: "Lot value lost", better: lower}
  - {id: documented-land-rights, label: "Plots with land rights"}
cover:
  file: images/reports/state-of-play-2026.jpg
  caption: "Farm plots."
  credit: Programme illustration
  licence: CC BY 4.0
  alt: "Flat-colour aerial drawing of farm plots."
authors: [{name: Programme research team}]
---
The baseline report.

## Findings

One survey.
"""


@pytest.fixture
def two_years(report_project: Path, report_settings: Settings) -> Settings:
    """The sample 2026 state-of-play report with a 2025 one before it."""
    (report_project / "findings" / "baseline-survey-2025.md").write_text(BASELINE_FINDING, "utf-8")
    (report_project / "reports" / "state-of-play-2025.md").write_text(BASELINE_REPORT, "utf-8")
    return report_settings


def test_the_indicator_table_compares_each_value_with_last_years_report(
    two_years: Settings,
) -> None:
    from outreach.reports.indicators import indicator_rows

    reports = read_reports(two_years)
    findings = load_catalog(two_years)
    rows = {row.id: row for row in indicator_rows(reports["state-of-play-2026"], reports, findings)}
    assert list(rows) == [
        "premium-share-to-households",
        "post-harvest-loss-share",
        "traceable-export-lots",
        "documented-land-rights",
    ]
    premium = rows["premium-share-to-households"]  # 45% now, 38% in 2025: up 7 points, good
    assert (premium.this.number, premium.previous.number, premium.change) == (45, 38, 7)
    assert premium.change_text == "▲ +7 pp" and premium.assessment == "better"
    assert premium.previous_text == "38%"
    losses = rows["post-harvest-loss-share"]  # 12% now, 15% before: down 3, and lower is better
    assert (losses.change, losses.change_text, losses.assessment) == (-3, "▼ \u22123 pp", "better")
    land = rows["documented-land-rights"]  # 27% now, 27.5% before: down half a point
    assert (land.change, land.change_text, land.assessment) == (-0.5, "▼ \u22120.5 pp", "worse")
    traceable = rows["traceable-export-lots"]  # not measured in 2025
    assert traceable.previous is None and traceable.change is None
    assert traceable.change_text == "first year" and traceable.previous_text == "first year"
    assert [(p.year, p.value) for p in premium.history] == [(2025, "38%"), (2026, "45%")]
    assert premium.chart_alt == (
        "Bar chart of Share of certification premium reaching member households by year. "
        "2025: 38%; 2026: 45%. Up 7 pp since 2025, progress."
    )
    assert losses.change_words == "Down 3 pp since 2025, progress"
    assert traceable.change_words == "First year measured"


def test_without_an_earlier_report_every_indicator_says_first_year(
    report_settings: Settings,
) -> None:
    from outreach.reports.indicators import indicator_rows

    reports = read_reports(report_settings)
    rows = indicator_rows(reports["state-of-play-2026"], reports, load_catalog(report_settings))
    assert [row.change_text for row in rows] == ["first year"] * 4
    assert [row.this.value for row in rows] == ["45%", "12%", "54%", "27%"]


def test_an_indicator_chart_is_a_png_drawn_the_same_every_time(two_years: Settings) -> None:
    from PIL import Image

    from outreach.reports import indicators
    from outreach.reports.indicators import (
        CHART_HEIGHT,
        CHART_WIDTH,
        indicator_chart,
        indicator_rows,
    )

    reports = read_reports(two_years)
    row = indicator_rows(reports["state-of-play-2026"], reports, load_catalog(two_years))[0]
    first = indicator_chart(row)
    indicators._draw_chart.cache_clear()
    assert indicator_chart(row) == first
    image = Image.open(io.BytesIO(first))
    assert image.format == "PNG" and image.size == (CHART_WIDTH, CHART_HEIGHT)
    # Two bars: this year's (dark) is taller than last year's (light), as 45 > 38.
    pixels = image.convert("RGB")
    dark = [
        y
        for y in range(CHART_HEIGHT)
        if pixels.getpixel((CHART_WIDTH * 3 // 4, y)) == (29, 59, 110)
    ]
    light = [
        y for y in range(CHART_HEIGHT) if pixels.getpixel((CHART_WIDTH // 4, y)) == (143, 163, 196)
    ]
    assert dark and light and len(dark) > len(light)
    assert abs(len(light) / len(dark) - 38 / 45) < 0.01  # bar heights in proportion


# -- the web edition ----------------------------------------------------------------------

AFTER_LAUNCH = datetime(2027, 1, 5, tzinfo=UTC)
"""After both sample reports are published."""


def web_release(settings: Settings, now: datetime = AFTER_LAUNCH) -> ReleaseReport:
    """The release of the blog and the reports channel to the static site (public/)."""
    return release(settings, None, ["blog", "reports"], now)


def page(settings: Settings, path: str) -> BeautifulSoup:
    return BeautifulSoup((settings.paths.public / path).read_text("utf-8"), "html.parser")


def test_a_report_landing_page_has_cover_summary_key_figures_contents_and_json_ld(
    report_settings: Settings,
) -> None:
    web_release(report_settings)
    landing = page(report_settings, "reports/state-of-play-2026/index.html")
    assert (
        landing.h1.get_text(strip=True) == "State of play 2026: durable smallholder supply chains"
    )
    cover = landing.select_one("figure.cover img")
    assert cover["alt"].startswith("Flat-colour aerial drawing of a patchwork")
    assert (report_settings.paths.public / cover["src"].lstrip("/")).is_file()
    assert landing.select_one("p.summary").get_text().startswith("Across cocoa, coffee and cotton")
    figures = [dt.get_text(strip=True) for dt in landing.select(".key-figures dt")]
    assert figures == ["45%", "12%"]  # the two headline indicators
    table = [
        [cell.get_text(" ", strip=True) for cell in row.find_all(["th", "td"])]
        for row in landing.select(".indicator-table tbody tr")
    ]
    assert table[0] == [
        "Share of certification premium reaching member households",
        "45%",
        "first year",
        "first year",
    ]
    # Contents: the introduction, each chapter's own page, the findings page; all exist.
    toc = [a["href"] for a in landing.select("nav.report-toc a")]
    chapters = [h for h in toc if h.count("/") == 4 and "#" not in h]
    assert chapters == [
        "/reports/state-of-play-2026/what-lasted-on-the-farm/",
        "/reports/state-of-play-2026/where-value-leaks-between-farm-and-port/",
        "/reports/state-of-play-2026/what-buyers-and-governments-hold-in-their-hands/",
        "/reports/state-of-play-2026/indicators-to-track/",
        "/reports/state-of-play-2026/findings/",
    ]
    for href in chapters:
        assert (report_settings.paths.public / href.lstrip("/") / "index.html").is_file()
    charts = landing.select("figure.chart img")
    assert [img["alt"].split(" by year")[0] for img in charts] == [
        "Bar chart of Share of certification premium reaching member households",
        "Bar chart of Lot value lost between farm gate and export warehouse",
    ]
    for img in charts:
        assert (report_settings.paths.public / img["src"].lstrip("/")).read_bytes()[:4] == (
            b"\x89PNG"
        )
    (script,) = landing.find_all("script", type="application/ld+json")
    data = json.loads(script.string)
    assert data["@type"] == "Report" and data["name"] == landing.h1.get_text(strip=True)
    assert data["datePublished"] == "2026-12-01T09:00:00+00:00"
    assert data["url"] == "http://127.0.0.1:8000/reports/state-of-play-2026/"
    share = landing.find("meta", property="og:image")["content"]
    assert share == "http://127.0.0.1:8000/reports/state-of-play-2026/share.png"
    assert (report_settings.paths.public / "reports/state-of-play-2026/share.png").is_file()
    assert (
        "Programme research team (2026). State of play 2026"
        in landing.select_one(".citation").get_text()
    )


def test_a_chapter_page_carries_its_text_and_leads_to_the_next(report_settings: Settings) -> None:
    web_release(report_settings)
    chapter = page(report_settings, "reports/uganda-case-study/from-farm-to-export/index.html")
    assert chapter.h1.get_text(" ", strip=True) == "2. From farm to export"
    assert "drying tables" in chapter.select_one("div.body").get_text()
    links = {a["rel"][0]: a["href"] for a in chapter.select("nav.chapter-nav a")}
    assert links == {
        "prev": "/reports/uganda-case-study/the-farms/",
        "next": "/reports/uganda-case-study/what-it-would-take-to-scale/",
    }
    current = chapter.select_one('nav.report-toc a[aria-current="page"]')
    assert current.get_text() == "From farm to export"


def test_each_finding_in_a_report_has_its_section_linking_to_its_post(
    report_settings: Settings,
) -> None:
    web_release(report_settings)
    findings = page(report_settings, "reports/state-of-play-2026/findings/index.html")
    sections = findings.select("section.report-finding")
    assert [s["id"] for s in sections] == [
        "finding-field-schools-and-premium-sharing",
        "finding-uganda-robusta-case-study",
        "finding-farm-gate-to-fob",
        "finding-procurement-long-term-offtake",
        "finding-origin-government-partnerships",
    ]
    for section in sections:
        link = section.select_one("a.read-more")["href"]
        finding_id = section["id"].removeprefix("finding-")
        assert link == f"http://127.0.0.1:8000/blog/{finding_id}/"
        post = report_settings.paths.public / "blog" / finding_id / "index.html"
        assert post.is_file(), "the link leads to a published post"
    assert "45%" in sections[0].select_one("dl.stats").get_text()


def test_reports_are_listed_on_the_index_in_the_sitemap_and_in_the_feed(
    report_settings: Settings,
) -> None:
    web_release(report_settings)
    index = page(report_settings, "reports/index.html")
    assert [a["href"] for a in index.select("ol.reports h2 a")] == [
        "/reports/state-of-play-2026/",  # newest first
        "/reports/uganda-case-study/",
    ]
    sitemap = BeautifulSoup(
        (report_settings.paths.public / "reports/sitemap.xml").read_bytes(), "xml"
    )
    locations = [loc.get_text() for loc in sitemap.find_all("loc")]
    assert "http://127.0.0.1:8000/reports/state-of-play-2026/" in locations
    assert "http://127.0.0.1:8000/reports/uganda-case-study/the-farms/" in locations
    robots = (report_settings.paths.public / "robots.txt").read_text("utf-8")
    assert "Sitemap: http://127.0.0.1:8000/reports/sitemap.xml" in robots.splitlines()
    feed = feedparser.parse((report_settings.paths.public / "reports/feed.atom").read_bytes())
    assert not feed.bozo
    assert [entry.link for entry in feed.entries] == [
        "http://127.0.0.1:8000/reports/state-of-play-2026/",
        "http://127.0.0.1:8000/reports/uganda-case-study/",
    ]
    blog_index = page(report_settings, "index.html")
    assert blog_index.find("a", href="/reports/") is not None, "the site's menu leads to reports"


def test_an_embargoed_report_leaves_nothing_public_before_the_lift(
    report_project: Path, report_settings: Settings
) -> None:
    path = report_project / "reports" / "state-of-play-2026.md"
    replace_in(path, "year: 2026\n", "year: 2026\nembargo: 2026-12-03T00:01:00+00:00\n")
    settings = load_settings(report_project / "outreach.toml", environ={})
    before = datetime(2026, 12, 2, tzinfo=UTC)
    report = web_release(settings, before)
    held = [(h.finding_id, h.until) for h in report.held if h.channel == "reports"]
    # Held under its ledger key: the run scheduled for the lift releases the report.
    assert held == [("report:state-of-play-2026", datetime(2026, 12, 3, 0, 1, tzinfo=UTC))]
    public = settings.paths.public
    leaked = [
        str(p.relative_to(public))
        for p in public.rglob("*")
        if p.is_file()
        and any(
            word in p.read_bytes()
            for word in (
                b"reports/state-of-play-2026",
                b"State of play 2026",
                b"premiums were shared openly",
            )
        )
    ]
    assert leaked == [], leaked
    assert (public / "reports/uganda-case-study/index.html").is_file()
    web_release(settings, datetime(2026, 12, 3, 0, 2, tzinfo=UTC))
    assert (public / "reports/state-of-play-2026/index.html").is_file()
    assert "state-of-play-2026" in (public / "reports/feed.atom").read_text("utf-8")


def test_rendering_a_report_touches_no_file_clock_or_network(report_settings: Settings) -> None:
    from test_purity import CollectingRunner

    normal = CollectingRunner(guarded=False)
    run_release(ReleaseRequest(report_settings, AFTER_LAUNCH, preview=True), normal)
    guarded = CollectingRunner(guarded=True)
    run_release(ReleaseRequest(report_settings, AFTER_LAUNCH, preview=True), guarded)
    reports = {
        path: content for (channel, path), content in normal.files.items() if channel == "reports"
    }
    assert "reports/state-of-play-2026/index.html" in reports
    assert {
        path: content for (channel, path), content in guarded.files.items() if channel == "reports"
    } == reports


# -- the command line -----------------------------------------------------------------------


def outreach(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "outreach_cli", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "PREFECT_API_URL": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_report_build_writes_the_web_edition_into_build_and_publishes_nothing(
    report_project: Path,
) -> None:
    result = outreach(["report", "build", "uganda-case-study"], report_project)
    assert result.returncode == 0, result.stderr
    landing = report_project / "build" / "reports" / "uganda-case-study" / "index.html"
    assert f"Web edition: {landing}" in result.stdout
    assert BeautifulSoup(landing.read_text("utf-8"), "html.parser").h1.get_text(strip=True) == (
        "Uganda country case study: robusta coffee from ageing trees to traceable lots"
    )
    assert not (report_project / "public").exists()
    unknown = outreach(["report", "build", "uganda-case-studdy"], report_project)
    assert unknown.returncode != 0
    assert "no report with id 'uganda-case-studdy'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_release_report_publishes_it_under_its_own_ledger_key(report_project: Path) -> None:
    result = outreach(
        ["release", "--report", "uganda-case-study", "--channel", "reports"], report_project
    )
    assert result.returncode == 0, result.stderr
    public = report_project / "public"
    assert (public / "reports" / "uganda-case-study" / "index.html").is_file()
    assert not (public / "reports" / "state-of-play-2026").exists(), "only the one asked for"
    settings = load_settings(report_project / "outreach.toml", environ={})
    assert "report:uganda-case-study" in Ledger(settings.paths.ledger).released("reports")
