"""Tracking progress: each indicator's value this year beside the previous report's, and a
chart per headline indicator that both editions show.

The value of an indicator in a report is the ``number`` of the one stat, among the report's
findings, that carries the indicator's slug. "The previous report" is the report of the same
kind for the year before; with none (or one that did not measure the indicator) the row says
"first year" rather than leaving a blank. Charts are PNGs drawn with Pillow's bundled font:
the same inputs give the same bytes on every machine with the same Pillow.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw

from outreach.drawing import fit, font
from outreach.finding import Finding, Stat
from outreach.reports.model import Indicator, Report, included_findings, previous_report

CHART_FORMAT = "png"
"""What ``indicator_chart`` returns: PNG bytes (web page and PDF embed the same file)."""
CHART_MEDIA_TYPE = "image/png"
CHART_WIDTH, CHART_HEIGHT = 1200, 675
FIRST_YEAR = "first year"
ARROWS = {"up": "▲", "down": "▼", "same": "■"}


@dataclass(frozen=True)
class Point:
    """One year's measurement of an indicator."""

    year: int
    number: float
    value: str
    """The display value as the finding writes it ('45%')."""


@dataclass(frozen=True)
class IndicatorRow:
    """One line of the indicator table, and what its chart draws."""

    id: str
    label: str
    headline: bool
    better: str
    unit: str
    this: Point | None
    previous: Point | None
    history: tuple[Point, ...]
    """Every year the same kind of report measured the indicator, oldest first, up to this."""
    source: str = ""

    @property
    def change(self) -> float | None:
        """This year's number minus the previous report's (None: first year)."""
        if self.this is None or self.previous is None:
            return None
        return round(self.this.number - self.previous.number, 6)

    @property
    def direction(self) -> str | None:
        change = self.change
        if change is None:
            return None
        return "up" if change > 0 else "down" if change < 0 else "same"

    @property
    def arrow(self) -> str:
        return ARROWS[self.direction] if self.direction else ""

    @property
    def assessment(self) -> str | None:
        """'better', 'worse' or 'unchanged' by the indicator's direction of progress."""
        direction = self.direction
        if direction is None:
            return None
        if direction == "same":
            return "unchanged"
        return "better" if (direction == "up") == (self.better == "higher") else "worse"

    @property
    def change_text(self) -> str:
        """'▲ +7 pp', '▼ −2.5 USD/kg', '■ no change' or 'first year'."""
        change = self.change
        if change is None:
            return FIRST_YEAR
        if change == 0:
            return f"{self.arrow} no change"
        unit = " pp" if self.unit == "%" else (f" {self.unit}" if self.unit else "")
        sign = "+" if change > 0 else "\u2212"
        return f"{self.arrow} {sign}{format_number(abs(change))}{unit}"

    @property
    def change_words(self) -> str:
        """The change in words (the chart's font has no arrows): 'Down 3 pp since 2025,
        progress', 'First year measured'."""
        change = self.change
        if change is None or self.previous is None:
            return "First year measured"
        since = f"since {self.previous.year}"
        if change == 0:
            return f"No change {since}"
        unit = " pp" if self.unit == "%" else (f" {self.unit}" if self.unit else "")
        verb = "Up" if change > 0 else "Down"
        verdict = "progress" if self.assessment == "better" else "a setback"
        return f"{verb} {format_number(abs(change))}{unit} {since}, {verdict}"

    @property
    def previous_text(self) -> str:
        return self.previous.value if self.previous else FIRST_YEAR

    @property
    def chart_alt(self) -> str:
        """What the chart shows, in words: alt text on the web and in the tagged PDF."""
        points = "; ".join(f"{point.year}: {point.value}" for point in self.history)
        return f"Bar chart of {self.label.rstrip('.')} by year. {points}. {self.change_words}."


def format_number(number: float) -> str:
    """A number as readers write it: no trailing zeros, at most two decimals."""
    text = f"{round(number, 2):,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _stat_for(report: Report, indicator_id: str, findings: Mapping[str, Finding]) -> Stat | None:
    for finding in included_findings(report, findings):
        for stat in finding.stats:
            if stat.indicator == indicator_id:
                return stat
    return None


def _point(report: Report, stat: Stat) -> Point | None:
    if report.year is None or stat.number is None:
        return None
    return Point(report.year, stat.number, stat.value)


def indicator_rows(
    report: Report, reports: Mapping[str, Report], findings: Mapping[str, Finding]
) -> list[IndicatorRow]:
    """The report's indicator table, in the order the report lists its indicators."""
    earlier = previous_report(report, reports)
    same_kind = sorted(
        (
            other
            for other in reports.values()
            if other.kind == report.kind
            and other.year is not None
            and report.year is not None
            and other.year <= report.year
            and other.id != report.id
        ),
        key=lambda other: (other.year, other.id),
    )
    rows: list[IndicatorRow] = []
    for indicator in report.indicators:
        rows.append(_row(indicator, report, earlier, same_kind, findings))
    return rows


def _row(
    indicator: Indicator,
    report: Report,
    earlier: Report | None,
    same_kind: list[Report],
    findings: Mapping[str, Finding],
) -> IndicatorRow:
    stat = _stat_for(report, indicator.id, findings)
    this = _point(report, stat) if stat else None
    if this is None and stat is not None:  # a report covering a period: no year to plot
        this = Point(0, stat.number or 0.0, stat.value)
    previous = None
    if earlier is not None:
        earlier_stat = _stat_for(earlier, indicator.id, findings)
        previous = _point(earlier, earlier_stat) if earlier_stat else None
    history: dict[int, Point] = {}
    for other in same_kind:
        other_stat = _stat_for(other, indicator.id, findings)
        point = _point(other, other_stat) if other_stat else None
        if point is not None:
            history.setdefault(point.year, point)
    if this is not None:
        history[this.year] = this
    return IndicatorRow(
        id=indicator.id,
        label=indicator.label,
        headline=indicator.headline,
        better=indicator.better,
        unit=(stat.unit or "") if stat else "",
        this=this,
        previous=previous,
        history=tuple(history[year] for year in sorted(history)),
        source=stat.source if stat else "",
    )


# -- the chart ------------------------------------------------------------------------------

INK = "#1b1b1b"
MUTED = "#5a5a5a"
BAR = "#1d3b6e"
BAR_EARLIER = "#8fa3c4"
GRID = "#d9d9d9"


def indicator_chart(row: IndicatorRow) -> bytes:
    """PNG bytes: one bar per year the indicator was measured, this year's darkest, each
    labelled with its display value; the title is the indicator's label."""
    points = tuple((point.year, point.number, point.value) for point in row.history)
    return _draw_chart(row.label, row.unit, points, row.change_words)


@lru_cache(maxsize=32)
def _draw_chart(
    label: str, unit: str, points: tuple[tuple[int, float, str], ...], change: str
) -> bytes:
    image = Image.new("RGB", (CHART_WIDTH, CHART_HEIGHT), "#ffffff")
    draw = ImageDraw.Draw(image)
    margin = 64
    title_font, title_lines = fit(draw, label, CHART_WIDTH - 2 * margin, 2, (40, 34, 30))
    y = 40
    for line in title_lines:
        draw.text((margin, y), line, font=title_font, fill=INK)
        y += title_font.size + 8
    draw.text((margin, y + 4), change, font=font(28), fill=MUTED)
    top, bottom = y + 90, CHART_HEIGHT - 80
    draw.line((margin, bottom, CHART_WIDTH - margin, bottom), fill=INK, width=2)
    if not points:
        return _png(image)
    highest = max(max(number for _, number, _ in points), 0.0)
    lowest = min(min(number for _, number, _ in points), 0.0)
    span = (highest - lowest) or 1.0
    zero = bottom - (0 - lowest) / span * (bottom - top)
    slot = (CHART_WIDTH - 2 * margin) / max(len(points), 1)
    width = min(slot * 0.6, 220)
    for index, (year, number, value) in enumerate(points):
        centre = margin + slot * (index + 0.5)
        height = number / span * (bottom - top)
        y0, y1 = sorted((zero, zero - height))
        last = index == len(points) - 1
        draw.rectangle(
            (centre - width / 2, y0, centre + width / 2, max(y1, y0 + 1)),
            fill=BAR if last else BAR_EARLIER,
        )
        value_font = font(34)
        text_width = draw.textlength(value, font=value_font)
        draw.text((centre - text_width / 2, y0 - 46), value, font=value_font, fill=INK)
        year_text = str(year) if year else "this report"
        year_width = draw.textlength(year_text, font=font(28))
        draw.text((centre - year_width / 2, bottom + 16), year_text, font=font(28), fill=INK)
    return _png(image)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
