"""Business and consumer headlines: generated from the finding's parts, scored, chosen.

A business headline is precise and names the organisation or sector (at most 110
characters). A consumer headline is plain, active, leads with a number or a human
consequence, and stays within 70 characters, 12 words and reading grade 8. Jargon is
translated with the glossary in ``press/glossary.csv``. Overrides in the finding win, but are
scored too and warn when they break a limit. Runners-up are kept for the approval view.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import textstat

from outreach.finding import Finding
from outreach.press.style import HeadlineStyle, apply_case

Kind = Literal["business", "consumer"]

_NUMBER_START = re.compile(
    r"^\W*(\d|one\b|two\b|three\b|four\b|five\b|six\b|seven\b|eight\b|nine\b|ten\b|half\b|"
    r"a (third|quarter|tenth|fifth)\b)",
    re.IGNORECASE,
)
_PASSIVE = re.compile(
    r"\b(am|is|are|was|were|be|been|being|get|gets|got)\s+(\w+ly\s+)?"
    r"(\w+ed|\w+en|made|paid|sold|held|kept|lost|cut|set|put|left|built|bought|brought|caught|"
    r"taught|found|shown|done|grown|known|seen|taken)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Headline:
    text: str
    kind: Kind
    origin: Literal["override", "generated"]
    score: float
    problems: tuple[str, ...] = ()
    """Broken limits; a headline with none is within house style."""
    grade: float = 0.0


@dataclass(frozen=True)
class HeadlineChoice:
    business: Headline
    consumer: Headline
    business_runners_up: tuple[Headline, ...] = ()
    consumer_runners_up: tuple[Headline, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)


def load_glossary(press_dir: Path) -> dict[str, str]:
    """Jargon -> plain words, longest terms first so phrases win over their parts."""
    path = press_dir / "glossary.csv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [(row["term"].strip(), row["plain"].strip()) for row in csv.DictReader(handle)]
    return dict(sorted(rows, key=lambda pair: -len(pair[0])))


@lru_cache(maxsize=64)
def _term_pattern(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])", re.IGNORECASE)


def plain_words(text: str, glossary: dict[str, str]) -> str:
    for term, plain in glossary.items():
        text = _term_pattern(term).sub(plain, text)
    return text


def jargon_in(text: str, glossary: dict[str, str]) -> list[str]:
    return [term for term in glossary if _term_pattern(term).search(text)]


def reading_grade(text: str) -> float:
    return float(textstat.flesch_kincaid_grade(text))


def score(
    text: str,
    kind: Kind,
    origin: str,
    finding: Finding,
    organisation: str,
    style: HeadlineStyle,
    glossary: dict[str, str],
    consequence_led: bool = False,
) -> Headline:
    """Score a candidate: 100 less penalties; limits broken are listed as problems."""
    problems: list[str] = []
    points = 100.0
    length = len(text)
    grade = reading_grade(text)
    if kind == "business":
        if length > style.business_max_characters:
            problems.append(f"{length} characters, over {style.business_max_characters}")
        names = [organisation] + (
            [finding.press.sector] if finding.press and finding.press.sector else []
        )
        if not any(name.lower() in text.lower() for name in names):
            problems.append("names neither the organisation nor the sector")
        points -= max(0, length - 80) / 4
    else:
        words = len(text.split())
        if length > style.consumer_max_characters:
            problems.append(f"{length} characters, over {style.consumer_max_characters}")
        if words > style.consumer_max_words:
            problems.append(f"{words} words, over {style.consumer_max_words}")
        if grade > style.consumer_max_grade:
            problems.append(f"reading grade {grade:.1f}, over {style.consumer_max_grade:g}")
        jargon = jargon_in(text, glossary)
        if jargon:
            problems.append("jargon: " + ", ".join(jargon))
        if _PASSIVE.search(text):
            problems.append("passive voice")
        leads_with_number = bool(_NUMBER_START.match(text))
        if not (leads_with_number or consequence_led):
            points -= 15
        points += 5 if leads_with_number else 0
        points -= grade * 1.5 + length / 10
    points -= 40 * len(problems)
    return Headline(text, kind, origin, round(points, 1), tuple(problems), round(grade, 1))


def _unique(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(" ".join(text.split()) for text in texts if text))


def candidates(
    finding: Finding, organisation: str, glossary: dict[str, str], style: HeadlineStyle
) -> tuple[list[Headline], list[Headline]]:
    """All generated business and consumer candidates, scored, best first."""
    stat = finding.key_stat
    angle = finding.press
    sector = angle.sector if angle else None
    subject = angle.subject if angle else None
    consequence = angle.consequence if angle else None
    business = [
        f"{stat.value} {stat.label}, {organisation} finds",
        f"{organisation}: {finding.title}",
    ]
    if subject and consequence:
        business.append(f"{subject} {consequence}, {organisation} finds")
    if sector:
        business.insert(0, f"{sector}: {stat.value} {stat.label}")
        if subject and consequence:
            business.append(f"{sector}: {subject} {consequence}")
    consumer: list[tuple[str, bool]] = [
        (plain_words(f"{stat.value} {stat.label}", glossary), False)
    ]
    if subject and consequence:
        consumer.insert(0, (plain_words(f"{subject} {consequence}", glossary), True))
        consumer.append((plain_words(f"{stat.value}: {subject} {consequence}", glossary), True))
    scored_business = [
        score(
            apply_case(text, style.case),
            "business",
            "generated",
            finding,
            organisation,
            style,
            glossary,
        )
        for text in _unique(business)
    ]
    seen: set[str] = set()
    scored_consumer = []
    for text, led in consumer:
        text = apply_case(" ".join(text.split()), style.case)
        if text not in seen:
            seen.add(text)
            scored_consumer.append(
                score(text, "consumer", "generated", finding, organisation, style, glossary, led)
            )
    key = lambda h: (len(h.problems), -h.score)  # noqa: E731
    return sorted(scored_business, key=key), sorted(scored_consumer, key=key)


def choose_headlines(
    finding: Finding, organisation: str, glossary: dict[str, str], style: HeadlineStyle
) -> HeadlineChoice:
    business, consumer = candidates(finding, organisation, glossary, style)
    warnings: list[str] = []
    overrides = finding.headlines
    chosen: dict[str, Headline] = {"business": business[0], "consumer": consumer[0]}
    for kind, pool in (("business", business), ("consumer", consumer)):
        text = getattr(overrides, kind) if overrides else None
        if text:
            override = score(text, kind, "override", finding, organisation, style, glossary, True)
            chosen[kind] = override
            pool.insert(0, override)
            if override.problems:
                broken = "; ".join(override.problems)
                warnings.append(
                    f"{finding.source_path}: headlines.{kind} breaks house style: {broken}"
                )
    runners = style.runners_up
    return HeadlineChoice(
        business=chosen["business"],
        consumer=chosen["consumer"],
        business_runners_up=tuple(h for h in business if h is not chosen["business"])[:runners],
        consumer_runners_up=tuple(h for h in consumer if h is not chosen["consumer"])[:runners],
        warnings=tuple(warnings),
    )
