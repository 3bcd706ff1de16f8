"""Headline generation, scoring and choice, on every sample finding and on crafted cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO
from outreach.config import load_settings
from outreach.finding import Finding, Headlines
from outreach.headlines import choose_headlines, jargon_in, load_glossary, plain_words, score
from outreach.press.style import apply_case, load_house_style
from outreach.release import load_catalog

SETTINGS = load_settings(REPO / "outreach.toml", environ={})
GLOSSARY = load_glossary(REPO / "press")
STYLE = load_house_style(REPO / "press").headlines
CATALOG = load_catalog(SETTINGS)
ORG = SETTINGS.site.organisation


@pytest.mark.parametrize("finding_id", sorted(CATALOG))
def test_every_sample_gets_headlines_within_house_style(finding_id: str) -> None:
    choice = choose_headlines(CATALOG[finding_id], ORG, GLOSSARY, STYLE)
    consumer, business = choice.consumer, choice.business
    assert consumer.problems == (), consumer
    assert len(consumer.text) <= 70 and len(consumer.text.split()) <= 12
    assert consumer.grade <= 8
    assert jargon_in(consumer.text, GLOSSARY) == []
    assert business.problems == (), business
    assert len(business.text) <= 110
    assert choice.warnings == ()
    assert len(choice.consumer_runners_up) >= 1 and len(choice.business_runners_up) >= 1
    assert consumer.text[0].isupper() or consumer.text[0].isdigit()


def with_changes(finding: Finding, **changes: object) -> Finding:
    return finding.model_copy(update=changes)


def test_overrides_win_and_warn_when_they_break_a_limit() -> None:
    override = Headlines(
        consumer="Smallholder aggregation losses are reported by researchers across West Africa"
    )
    edited = with_changes(CATALOG["farm-gate-to-fob"], headlines=override)
    choice = choose_headlines(edited, ORG, GLOSSARY, STYLE)
    assert choice.consumer.origin == "override"
    assert choice.consumer.text.startswith("Smallholder aggregation losses")
    assert "passive voice" in choice.consumer.problems
    assert any(p.startswith("jargon: ") for p in choice.consumer.problems)
    assert any(p.endswith("over 70") for p in choice.consumer.problems)
    assert choice.warnings and "headlines.consumer breaks house style" in choice.warnings[0]
    assert choice.business.origin == "generated"


def test_glossary_translates_jargon_into_plain_words() -> None:
    assert plain_words(
        "Smallholder premiums and Scope 3 emissions from farm gate to FoB", GLOSSARY
    ) == ("small-scale farmer bonuses and supply-chain emissions from farm to export port")
    assert jargon_in("small-scale farmers and their bonuses", GLOSSARY) == []


def test_scoring_prefers_a_leading_number_and_penalises_hard_words() -> None:
    finding = CATALOG["farm-gate-to-fob"]
    plain = score(
        "12% of each harvest is lost before the port",
        "consumer",
        "generated",
        finding,
        ORG,
        STYLE,
        GLOSSARY,
    )
    active = score(
        "Farmers lose 12% of each harvest before the port",
        "consumer",
        "generated",
        finding,
        ORG,
        STYLE,
        GLOSSARY,
        True,
    )
    hard = score(
        "Quantification of postharvest deterioration demonstrates considerable heterogeneity",
        "consumer",
        "generated",
        finding,
        ORG,
        STYLE,
        GLOSSARY,
    )
    assert "passive voice" in plain.problems
    assert active.problems == ()
    assert any(p.startswith("reading grade") for p in hard.problems)
    assert active.score > plain.score > hard.score


def test_business_headline_must_name_organisation_or_sector() -> None:
    finding = CATALOG["farm-gate-to-fob"]
    anonymous = score(
        "Losses happen before the port", "business", "generated", finding, ORG, STYLE, GLOSSARY
    )
    assert anonymous.problems == ("names neither the organisation nor the sector",)


def test_house_case_rules_live_in_one_place() -> None:
    assert apply_case("cocoa farmers in Ghana", "sentence") == "Cocoa farmers in Ghana"
    assert (
        apply_case("cocoa farmers in the Ghana of today", "title")
        == "Cocoa Farmers in the Ghana of Today"
    )


def test_style_file_is_the_source_of_limits(tmp_path: Path) -> None:
    (tmp_path / "style.toml").write_text("[headlines]\nconsumer_max_characters = 40\n")
    tight = load_house_style(tmp_path).headlines
    choice = choose_headlines(CATALOG["farm-gate-to-fob"], ORG, GLOSSARY, tight)
    assert all(
        len(h.text) <= 40 or h.problems for h in (choice.consumer, *choice.consumer_runners_up)
    )
