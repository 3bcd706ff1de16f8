"""The six newsletter interests a finding can belong to.

Slugs are stable identifiers (they appear in URLs, subscriber records and front matter);
names are what readers see.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    slug: str
    name: str
    blurb: str


TOPICS: tuple[Topic, ...] = (
    Topic(
        "apparel-textiles",
        "Apparel and textiles",
        "Cotton, fibre and the farms behind the clothes we wear.",
    ),
    Topic(
        "plastics-packaging",
        "Plastics and packaging",
        "Packaging choices along commodity chains and what they cost the farm.",
    ),
    Topic(
        "food-agriculture",
        "Food and agriculture",
        "Cocoa, coffee, tea, spices and the smallholders who grow them.",
    ),
    Topic(
        "scope-3-climate",
        "Scope 3 and climate",
        "Supply-chain emissions, adaptation and climate finance that reaches farms.",
    ),
    Topic(
        "responsible-sourcing",
        "Responsible sourcing and ethical trade",
        "Living incomes, fair prices, human rights and how buyers source.",
    ),
    Topic(
        "landscapes-commodities",
        "Landscapes and commodity sourcing",
        "Jurisdictional and landscape approaches to sourcing whole regions.",
    ),
)

TOPICS_BY_SLUG: dict[str, Topic] = {topic.slug: topic for topic in TOPICS}
