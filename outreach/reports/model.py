"""The Report model and its reader: ``reports/<id>.md``, front matter and Markdown body.

A report gathers findings (by id, or a selection by topics and dates), adds an introduction,
chapters, recommendations and tracked indicators. Reading is as strict as for findings: every
problem in every report file at once, each naming the file, the field and what to write.
Checks that need the findings (unknown ids, indicators no finding measures) run in
``read_reports`` after each file is valid on its own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from outreach.config import Settings
from outreach.finding import (
    FIELD_HINTS as FINDING_HINTS,
)
from outreach.finding import (
    SLUG_PATTERN,
    FilesInvalid,
    Finding,
    FindingProblem,
    Headlines,
    Image,
    Line,
    PressAngle,
    Stat,
    Text,
    _problem_from_error,
    _topic,
    read_findings,
    read_front_matter,
    text_sha256,
)

REPORT_KINDS = ("state-of-play", "findings-report", "case-study", "key-findings", "iteration")
"""The kinds of report the programme publishes (``kind`` in the front matter)."""
MAX_REPORT_FILE_BYTES = 2_000_000
MAX_REPORT_BODY_CHARS = 600_000
"""A report's own text (introduction and chapters; the findings come from their files)."""
MAX_REPORT_FINDINGS = 500

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


class _Strict(BaseModel):
    """The findings' settings: unknown fields refused, values frozen, text stripped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


ReportProblem = FindingProblem
"""One mistake in one report file: file, field, message (the findings' shape)."""


class ReportsInvalid(FilesInvalid):
    """Every problem in the report files, so the team can fix them all in one pass."""

    kind: ClassVar[str] = "report"


def _slug(value: str) -> str:
    if not SLUG_PATTERN.match(value):
        suggestion = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "state-of-play-2026"
        raise PydanticCustomError(
            "outreach_slug",
            "'{value}' is not a slug; use lowercase letters, digits and single hyphens, "
            "e.g. '{suggestion}'",
            {"value": value, "suggestion": suggestion},
        )
    return value


Slug = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_slug)]
Topic = Annotated[str, AfterValidator(_topic)]


class Selection(_Strict):
    """Findings chosen by topic and publication date (inclusive), in publication order."""

    topics: Annotated[list[Topic], Field(min_length=1)]
    since: date | None = None
    until: date | None = None

    @model_validator(mode="after")
    def _range_in_order(self) -> Selection:
        if self.since and self.until and self.until < self.since:
            raise PydanticCustomError(
                "outreach_selection_range",
                "'until' ({until}) is before 'since' ({since}); swap them",
                {"until": self.until.isoformat(), "since": self.since.isoformat()},
            )
        return self

    def matches(self, finding: Finding) -> bool:
        day = finding.published.date()
        return (
            bool(set(self.topics) & set(finding.topics))
            and (self.since is None or day >= self.since)
            and (self.until is None or day <= self.until)
        )


def _findings_shape(value: Any) -> str | None:
    if isinstance(value, list):
        return "ids"
    if isinstance(value, dict):
        return "selection"
    return None


FindingsChoice = Annotated[
    Annotated[list[Slug], Field(min_length=1, max_length=MAX_REPORT_FINDINGS), Tag("ids")]
    | Annotated[Selection, Tag("selection")],
    Discriminator(
        _findings_shape,
        custom_error_type="outreach_findings_shape",
        custom_error_message=(
            "is neither a list of finding ids nor a selection; write a list such as "
            "[farm-gate-to-fob, uganda-robusta-case-study] or a mapping with topics, since and "
            "until"
        ),
    ),
]


class Recommendation(_Strict):
    """A recommendation for action: to whom, and on which of the report's findings it rests."""

    text: Text
    audience: Annotated[list[Line], Field(min_length=1, max_length=10)]
    findings: Annotated[list[Slug], Field(max_length=50)] = []


class Indicator(_Strict):
    """A figure tracked year on year; its value is the stat with this ``indicator`` slug in
    one of the report's findings (its ``number`` and ``unit``)."""

    id: Slug
    label: Line
    headline: bool = False
    """Headline indicators get a chart and lead the press release."""
    better: Literal["higher", "lower"] = "higher"
    """Which direction is progress (colours the change: a fall in losses is good news)."""


class Author(_Strict):
    name: Line
    affiliation: Line | None = None


@dataclass(frozen=True)
class Chapter:
    """A level-2 heading of the body and the Markdown under it (up to the next one)."""

    number: int
    slug: str
    title: str
    markdown: str


class Report(_Strict):
    """One report, validated. ``body`` is the Markdown after the front matter: the
    introduction, then chapters (its level-2 headings)."""

    publication_kind: ClassVar[str] = "report"

    id: Slug
    kind: str
    title: Annotated[Line, Field(max_length=200)]
    subtitle: Annotated[Line, Field(max_length=300)] | None = None
    summary: Annotated[Line, Field(max_length=600)]
    published: AwareDatetime
    embargo: AwareDatetime | None = None
    topics: Annotated[list[Topic], Field(min_length=1, max_length=6)]
    regions: Annotated[list[Line], Field(max_length=50)] = []
    commodities: Annotated[list[Line], Field(max_length=50)] = []
    year: Annotated[int, Field(ge=1990, le=2100)] | None = None
    period: Annotated[Line, Field(max_length=80)] | None = None
    findings: FindingsChoice
    recommendations: Annotated[list[Recommendation], Field(max_length=100)] = []
    indicators: Annotated[list[Indicator], Field(max_length=50)] = []
    cover: Image
    authors: Annotated[list[Author], Field(min_length=1, max_length=100)]
    acknowledgements: Annotated[str, Field(min_length=1, max_length=5_000)] | None = None
    headlines: Headlines | None = None
    press: PressAngle | None = None
    body: Annotated[str, Field(min_length=1, max_length=MAX_REPORT_BODY_CHARS)]
    source_path: str = ""

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in REPORT_KINDS:
            close = difflib.get_close_matches(value, REPORT_KINDS, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise PydanticCustomError(
                "outreach_report_kind",
                "'{value}' is not a kind of report; {hint}write one of: {kinds}",
                {"value": value, "hint": hint, "kinds": ", ".join(REPORT_KINDS)},
            )
        return value

    @field_validator("published", "embargo", mode="before")
    @classmethod
    def _dates_need_times(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            raise PydanticCustomError(
                "outreach_date_only",
                "'{value}' has no time or timezone; write e.g. '{value}T09:00:00+00:00'",
                {"value": value.isoformat()},
            )
        return value

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, topics: list[str]) -> list[str]:
        if len(set(topics)) != len(topics):
            raise PydanticCustomError(
                "outreach_duplicate_topic", "lists a topic twice; list each topic once"
            )
        return topics

    @field_validator("indicators")
    @classmethod
    def _unique_indicators(cls, indicators: list[Indicator]) -> list[Indicator]:
        seen: set[str] = set()
        for indicator in indicators:
            if indicator.id in seen:
                raise PydanticCustomError(
                    "outreach_duplicate_indicator",
                    "lists indicator '{id}' twice; list each indicator once",
                    {"id": indicator.id},
                )
            seen.add(indicator.id)
        return indicators

    @model_validator(mode="after")
    def _year_or_period(self) -> Report:
        if self.kind == "state-of-play" and self.year is None:
            raise PydanticCustomError(
                "outreach_report_year",
                "a state-of-play report needs 'year' (e.g. year: 2026): indicators are "
                "compared with the previous year's report",
            )
        if self.year is None and self.period is None:
            raise PydanticCustomError(
                "outreach_report_period",
                "has neither 'year' nor 'period'; add e.g. 'year: 2026' or 'period: \"2024-2026\"'",
            )
        return self

    # -- what the editions read ---------------------------------------------------------

    @property
    def public_from(self) -> datetime:
        """The earliest moment any public page may show this report."""
        return self.published if self.embargo is None else max(self.published, self.embargo)

    def is_public(self, now: datetime) -> bool:
        return now >= self.public_from

    @property
    def last_modified(self) -> datetime:
        return self.published

    @property
    def covers(self) -> str:
        """The year or period the report covers, as readers see it."""
        return str(self.year) if self.year is not None else str(self.period)

    @cached_property
    def introduction(self) -> str:
        return _split_body(self.body)[0]

    @cached_property
    def chapters(self) -> tuple[Chapter, ...]:
        return _split_body(self.body)[1]

    @property
    def headline_indicators(self) -> list[Indicator]:
        return [indicator for indicator in self.indicators if indicator.headline]

    @property
    def body_sha256(self) -> str:
        return text_sha256(self.body)


# ---------------------------------------------------------------------------
# The body: introduction and chapters


def _body_parser() -> MarkdownIt:
    """markdown-it-py's tokens (with source lines) for the chapter split; imported only when
    a report is read, so a build of findings alone does not load it."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


RESERVED_SLUGS = ("findings",)
"""Page names beside the chapters in a report's folder: a chapter never takes one."""


def chapter_slug(title: str, taken: set[str]) -> str:
    """A URL slug for a chapter title, unique within the report (``-2`` and on)."""
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].strip("-") or "chapter"
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    taken.add(slug)
    return slug


def _split_body(body: str) -> tuple[str, tuple[Chapter, ...]]:
    """The introduction (before the first level-2 heading) and the chapters, found from the
    parser's tokens so a '##' inside a code block is not taken for a heading."""
    lines = body.splitlines(keepends=True)
    tokens = _body_parser().parse(body)
    starts: list[tuple[int, int, str]] = []  # (first line, first body line, title)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2" and token.map:
            title = tokens[index + 1].content.strip()
            starts.append((token.map[0], token.map[1], title))
    if not starts:
        return body.strip(), ()
    introduction = "".join(lines[: starts[0][0]]).strip()
    taken: set[str] = set(RESERVED_SLUGS)
    chapters: list[Chapter] = []
    for number, (_first, body_from, title) in enumerate(starts, start=1):
        end = starts[number][0] if number < len(starts) else len(lines)
        chapters.append(
            Chapter(
                number, chapter_slug(title, taken), title, "".join(lines[body_from:end]).strip()
            )
        )
    return introduction, tuple(chapters)


# ---------------------------------------------------------------------------
# Errors: the findings' wording with the report's fields

FIELD_HINTS: dict[str, str] = {
    **{key: hint for key, hint in FINDING_HINTS.items() if key.startswith(("headlines", "press"))},
    **{"cover" + key[5:]: hint for key, hint in FINDING_HINTS.items() if key.startswith("image.")},
    "id": "a permanent slug such as 'state-of-play-2026' (it names the report's URL)",
    "kind": "one of " + ", ".join(REPORT_KINDS),
    "title": "the report title on one line, at most 200 characters",
    "subtitle": "a subtitle on one line, or leave it out",
    "summary": "two or three sentences on one line, at most 600 characters",
    "published": "a date and time with a timezone, e.g. '2026-12-01T09:00:00+00:00'",
    "embargo": "a date and time with a timezone, e.g. '2026-12-01T09:00:00+00:00', or leave it out",
    "topics": "a list of topic slugs, e.g. [food-agriculture, responsible-sourcing]",
    "regions": "a list such as [Uganda, East Africa]",
    "commodities": "a list such as [cocoa, coffee]",
    "year": "the year the report covers, e.g. 2026",
    "period": "the period the report covers, e.g. '2024-2026'",
    "findings": "a list of finding ids, or a mapping with topics, since and until",
    "findings.topics": "a list of topic slugs whose findings the report gathers",
    "findings.since": "the first publication date to include, e.g. 2026-01-01",
    "findings.until": "the last publication date to include, e.g. 2026-12-31",
    "recommendations": "a list of recommendations, each with text, audience and findings",
    "recommendations.text": "the recommendation in a sentence or two",
    "recommendations.audience": "who should act, e.g. [buyers, governments, NGOs]",
    "recommendations.findings": "the ids of the report's findings it rests on",
    "indicators": "a list of indicators, each with id and label (and headline: true to chart it)",
    "indicators.id": "the indicator's slug as in the findings' stats, e.g. 'farm-gate-share'",
    "indicators.label": "what the indicator measures, on one line",
    "indicators.headline": "true or false",
    "indicators.better": "'higher' or 'lower': which direction is progress",
    "cover": "a mapping with file, caption, credit, licence and alt",
    "authors": "a list of authors, each with name (and optional affiliation)",
    "authors.name": "the author's name",
    "authors.affiliation": "the author's organisation, or leave it out",
    "acknowledgements": "who the team thanks, as text, or leave it out",
    "body": "the Markdown text (introduction, then '## ' chapters) after the closing '---' line",
}

KNOWN_FIELDS: dict[str, list[str]] = {
    "": list(Report.model_fields),
    "findings": list(Selection.model_fields),
    "recommendations": list(Recommendation.model_fields),
    "indicators": list(Indicator.model_fields),
    "cover": list(Image.model_fields),
    "authors": list(Author.model_fields),
    "headlines": list(Headlines.model_fields),
    "press": list(PressAngle.model_fields),
}


def _report_problem(file: str, error: Any) -> ReportProblem:
    # Drop the tag naming which shape of ``findings`` was read: the writer wrote findings[2].
    loc = tuple(error["loc"])
    if loc[:1] == ("findings",) and loc[1:2] in (("ids",), ("selection",)):
        error = {**error, "loc": loc[:1] + loc[2:]}
    problem = _problem_from_error(file, error, FIELD_HINTS, KNOWN_FIELDS)
    if problem.field == "body" and "split the finding" in problem.message:
        message = problem.message.replace("split the finding in two", "move text into findings")
        problem = ReportProblem(problem.file, problem.field, message)
    return problem


# ---------------------------------------------------------------------------
# Reading


def _load(path: Path, file: str) -> dict[str, Any]:
    data, body = read_front_matter(
        path,
        file,
        ReportsInvalid,
        max_bytes=MAX_REPORT_FILE_BYTES,
        too_large=f"a report may be at most {MAX_REPORT_FILE_BYTES:,} bytes: move material into "
        "findings and list them in 'findings'",
    )
    return {**data, "body": body, "source_path": file}


def read_report(path: Path, media_dir: Path | None, shown_as: str | None = None) -> Report:
    """Read and validate one report file on its own; raise ReportsInvalid with every problem."""
    file = shown_as or str(path)
    data = _load(path, file)
    try:
        return Report.model_validate(data, context={"media_dir": media_dir})
    except ValidationError as exc:
        raise ReportsInvalid([_report_problem(file, error) for error in exc.errors()]) from None


def resolve_findings(report: Report, findings: Mapping[str, Finding]) -> list[Finding]:
    """The report's findings, in its order (a selection: by publication date, then id).

    Raises ReportsInvalid naming every unknown id, or a selection that matches nothing."""
    problems = _finding_problems(report, findings)
    if problems:
        raise ReportsInvalid(problems)
    return included_findings(report, findings)


def included_findings(report: Report, findings: Mapping[str, Finding]) -> list[Finding]:
    """The report's findings that exist, in its order (no checks: ``resolve_findings``)."""
    if isinstance(report.findings, Selection):
        chosen = [finding for finding in findings.values() if report.findings.matches(finding)]
        return sorted(chosen, key=lambda finding: (finding.published, finding.id))
    return [findings[finding_id] for finding_id in report.findings if finding_id in findings]


def _finding_problems(report: Report, findings: Mapping[str, Finding]) -> list[ReportProblem]:
    file = report.source_path
    problems: list[ReportProblem] = []
    if isinstance(report.findings, Selection):
        if not included_findings(report, findings):
            problems.append(
                ReportProblem(
                    file,
                    "findings",
                    "the selection matches no finding; widen the topics or the dates, or list "
                    "finding ids instead",
                )
            )
        return problems
    seen: set[str] = set()
    for index, finding_id in enumerate(report.findings):
        if finding_id in seen:
            problems.append(
                ReportProblem(
                    file, f"findings[{index}]", f"lists '{finding_id}' twice; list it once"
                )
            )
        seen.add(finding_id)
        if finding_id not in findings:
            problems.append(
                ReportProblem(file, f"findings[{index}]", _unknown_id(finding_id, findings))
            )
    return problems


def _unknown_id(finding_id: str, choices: Sequence[str] | Mapping[str, object]) -> str:
    names = sorted(choices)
    close = difflib.get_close_matches(finding_id, names, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (
        f"no finding with id '{finding_id}'; {hint}write the id of a file in findings/ "
        f"(known: {', '.join(names) or 'none'})"
    )


def report_problems(report: Report, findings: Mapping[str, Finding]) -> list[ReportProblem]:
    """What is wrong between a valid report and the findings: unknown ids, recommendations
    resting on findings the report leaves out, indicators no finding (or two) measures."""
    problems = _finding_problems(report, findings)
    file = report.source_path
    if report.id in findings:  # the launch's post and WordPress post take the id's address
        problems.append(
            ReportProblem(
                file,
                "id",
                f"'{report.id}' is also a finding's id; the report's announcement post would "
                f"take that finding's address (blog/{report.id}/): give the report its own id",
            )
        )
    included = included_findings(report, findings)
    ids = {finding.id for finding in included}
    for r_index, recommendation in enumerate(report.recommendations):
        for f_index, finding_id in enumerate(recommendation.findings):
            if finding_id not in ids:
                where = f"recommendations[{r_index}].findings[{f_index}]"
                message = (
                    f"'{finding_id}' is not one of the report's findings; list it in 'findings' "
                    "or remove it here"
                    if finding_id in findings
                    else _unknown_id(finding_id, sorted(ids))
                )
                problems.append(ReportProblem(file, where, message))
    for index, indicator in enumerate(report.indicators):
        measured = [
            (finding.id, stat)
            for finding in included
            for stat in finding.stats
            if stat.indicator == indicator.id
        ]
        if not measured:
            problems.append(
                ReportProblem(
                    file,
                    f"indicators[{index}].id",
                    f"no stat in the report's findings carries indicator '{indicator.id}'; "
                    f"add 'indicator: {indicator.id}' and 'number:' to the stat that measures "
                    "it, or remove the indicator",
                )
            )
        elif len(measured) > 1:
            problems.append(
                ReportProblem(
                    file,
                    f"indicators[{index}].id",
                    f"stats in {', '.join(sorted({i for i, _ in measured}))} all carry indicator "
                    f"'{indicator.id}'; keep the indicator on the one stat that measures it "
                    "this year",
                )
            )
    return problems


def indicator_stat(report: Report, indicator_id: str, findings: Mapping[str, Finding]) -> Stat:
    """The stat that measures ``indicator_id`` in the report's findings (validated: one)."""
    for finding in included_findings(report, findings):
        for stat in finding.stats:
            if stat.indicator == indicator_id:
                return stat
    raise KeyError(indicator_id)


def read_reports(
    settings: Settings, findings: Mapping[str, Finding] | None = None
) -> dict[str, Report]:
    """Every report in the reports folder (sorted), validated against the findings, by id.

    Raises ReportsInvalid with every problem in every file. No folder, or no report in it:
    an empty catalog (the findings are then not read)."""
    folder = settings.paths.reports
    paths = [p for p in sorted(folder.glob("*.md")) if p.name.lower() != "readme.md"]
    if not paths:
        return {}
    media = settings.paths.media
    problems: list[ReportProblem] = []
    reports: dict[str, Report] = {}
    seen: dict[str, str] = {}
    for path in paths:
        shown = _shown(path, settings.root)
        try:
            report = read_report(path, media, shown_as=shown)
        except ReportsInvalid as exc:
            problems.extend(exc.problems)
            continue
        if report.id in seen:
            problems.append(
                ReportProblem(
                    shown,
                    "id",
                    f"'{report.id}' is already the id of {seen[report.id]}; "
                    "give each report its own id",
                )
            )
            continue
        if report.id != path.stem:
            problems.append(
                ReportProblem(
                    shown,
                    "id",
                    f"'{report.id}' differs from the file name; name the file "
                    f"'{report.id}.md' or set id: {path.stem}",
                )
            )
            continue
        seen[report.id] = shown
        reports[report.id] = report
    if reports:
        if findings is None:
            catalog = read_findings(settings.paths.findings, media, settings.root)
            findings = {finding.id: finding for finding in catalog}
        for report in reports.values():
            problems.extend(report_problems(report, findings))
    if problems:
        raise ReportsInvalid(problems)
    return reports


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def previous_report(report: Report, reports: Mapping[str, Report]) -> Report | None:
    """The report of the same kind for the year before (None: none, or no year)."""
    if report.year is None:
        return None
    earlier = [
        other
        for other in reports.values()
        if other.kind == report.kind and other.year == report.year - 1
    ]
    return min(earlier, key=lambda other: other.id) if earlier else None
