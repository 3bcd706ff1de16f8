"""Reports: the format (validated like findings), indicators, the web edition and the launch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from outreach.config import Settings, load_settings
from outreach.finding import FindingsInvalid, read_finding
from outreach.kinds import get_kind
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
