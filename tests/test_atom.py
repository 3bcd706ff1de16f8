"""The blog's Atom feed writer (outreach/atom.py): the same bytes feedgen writes, for text that
needs escaping too, a document feedparser reads back, and a clear error for characters XML
cannot carry. feedgen stays installed (the podcast feed uses it): it is the reference here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import feedparser
import pytest
from feedgen.feed import FeedGenerator

from outreach.atom import Category, Entry, Feed, atom_feed
from outreach.errors import OutreachError

PLUS_TWO = timezone(timedelta(hours=2))
TRICKY = "Prices & <b>\"quotes\"</b> 'single' > ]]> é 🌱\r\nnext\tline"


def _entry(number: int, **changes: object) -> Entry:
    values: dict[str, object] = {
        "id": f"urn:uuid:00000000-0000-5000-8000-00000000000{number}",
        "title": f"Finding {number}: {TRICKY}",
        "link": f"https://example.org/blog/f-{number}/?a=1&b=<2>",
        "updated": datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=PLUS_TWO),
        "published": datetime(2026, 2, 10, 10, tzinfo=UTC),
        "author": f"Team {TRICKY}",
        "summary": f"Summary {TRICKY}",
        "content_html": '<p>Body &amp; "more"</p>\n<h2>Heading</h2>\n',
        "categories": [
            Category("food-agriculture", "Food & agriculture", 'https://example.org/t/?x="1"'),
            Category("tab\tterm", "", ""),
        ],
    }
    values.update(changes)
    return Entry(**values)  # type: ignore[arg-type]


def _feed(entries: list[Entry], **changes: object) -> Feed:
    values: dict[str, object] = {
        "id": "https://example.org/feed.atom",
        "title": f"Site {TRICKY}",
        "subtitle": "Tagline & more",
        "self_link": "https://example.org/feed.atom",
        "site_link": "https://example.org/",
        "language": "en-GB",
        "author": "Programme & partners",
        "generator": "outreach",
        "updated": datetime(2026, 3, 1, 12, tzinfo=PLUS_TWO),
        "entries": entries,
    }
    values.update(changes)
    return Feed(**values)  # type: ignore[arg-type]


def _with_feedgen(feed: Feed) -> bytes:
    """What the blog wrote with feedgen, the same calls in the same order."""
    generator = FeedGenerator()
    generator.id(feed.id)
    generator.title(feed.title)
    generator.subtitle(feed.subtitle)
    generator.link(href=feed.self_link, rel="self", type="application/atom+xml")
    generator.link(href=feed.site_link, rel="alternate", type="text/html")
    generator.language(feed.language)
    generator.author({"name": feed.author})
    generator.generator(feed.generator)
    generator.updated(feed.updated)
    for entry in feed.entries:
        item = generator.add_entry(order="append")
        item.id(entry.id)
        item.title(entry.title)
        item.link(href=entry.link, rel="alternate", type="text/html")
        item.published(entry.published)
        item.updated(entry.updated)
        item.author({"name": entry.author})
        item.summary(entry.summary)
        item.content(entry.content_html, type="html")
        for category in entry.categories:
            item.category(term=category.term, label=category.label, scheme=category.scheme)
    return generator.atom_str(pretty=True)


@pytest.mark.parametrize(
    "feed",
    [
        _feed([_entry(1), _entry(2)]),
        _feed([], subtitle="", author="", language=""),
        _feed([_entry(3, author="", summary="", content_html="", categories=[])]),
    ],
    ids=["escaping", "no-entries-no-optional-fields", "empty-entry-fields"],
)
def test_the_feed_is_byte_for_byte_what_feedgen_wrote(feed: Feed) -> None:
    assert atom_feed(feed) == _with_feedgen(feed)


def test_feed_readers_read_back_every_field() -> None:
    parsed = feedparser.parse(atom_feed(_feed([_entry(1)])))
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.feed.title == f"Site {TRICKY}"  # \r kept: written as &#13;
    assert parsed.feed.language == "en-GB"
    entry = parsed.entries[0]
    assert entry.link == "https://example.org/blog/f-1/?a=1&b=<2>"
    assert entry.content[0].value == '<p>Body &amp; "more"</p>\n<h2>Heading</h2>'  # stripped
    assert [tag.term for tag in entry.tags] == ["food-agriculture", "tab\tterm"]


def test_a_character_xml_cannot_carry_is_refused_naming_the_entry() -> None:
    feed = _feed([_entry(1, content_html="<p>bell \x07</p>")])
    with pytest.raises(OutreachError, match=r"entry of urn:uuid:.*01 holds .*U\+0007"):
        atom_feed(feed)
