"""The blog's Atom feed, written as text.

The bytes are those feedgen wrote through lxml (pretty-printed, UTF-8, the elements in
feedgen's order), so feeds and their readers see no change; a test holds this module to
feedgen's output. The blog's feed is the last page a release renders, and importing feedgen
and lxml for it alone added 4 MB that the release then held to its end: a release of the blog
alone now loads no XML library. The podcast feed, with its iTunes and Podcasting 2.0
extensions, stays on feedgen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from outreach.errors import RenderError

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters XML 1.0 cannot carry (lxml refuses them the same way)."""
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\n": "&#10;",
     "\t": "&#9;"}
)  # fmt: skip


@dataclass(frozen=True)
class Category:
    term: str
    label: str
    scheme: str


@dataclass(frozen=True)
class Entry:
    """One entry: what the blog's feed says about one finding."""

    id: str
    title: str
    link: str
    updated: datetime
    published: datetime
    author: str
    summary: str
    content_html: str
    categories: Sequence[Category] = ()


@dataclass(frozen=True)
class Feed:
    id: str
    title: str
    subtitle: str
    self_link: str
    site_link: str
    language: str
    author: str
    generator: str
    updated: datetime
    entries: Sequence[Entry] = ()


def _checked(value: str, where: str) -> str:
    found = _NOT_XML.search(value)
    if found:
        raise RenderError(
            f"{where} holds the character U+{ord(found.group()):04X}, which an XML feed cannot "
            "carry; remove it from the text"
        )
    return value


def _text(value: str, where: str) -> str:
    return _checked(value, where).translate(_TEXT_ESCAPES)


def _attribute(value: str, where: str) -> str:
    return '"' + _checked(value, where).translate(_ATTRIBUTE_ESCAPES) + '"'


def _element(indent: str, name: str, value: str, where: str, attributes: str = "") -> str:
    """``<name>value</name>`` on a line of its own, or ``<name/>`` with no text."""
    if not value:
        return f"{indent}<{name}{attributes}/>\n"
    return f"{indent}<{name}{attributes}>{_text(value, where)}</{name}>\n"


def _author(indent: str, name: str, where: str) -> str:
    """An author element (none without a name, as Atom requires a name)."""
    if not name:
        return ""
    return f"{indent}<author>\n{_element(indent + '  ', 'name', name, where)}{indent}</author>\n"


def _entry(entry: Entry) -> str:
    where = f"the feed entry of {entry.id}"
    if not (entry.id and entry.title):
        raise RenderError(f"{where}: an Atom entry needs an id and a title")
    parts = [
        "  <entry>\n",
        _element("    ", "id", entry.id, where),
        _element("    ", "title", entry.title, where),
        _element("    ", "updated", entry.updated.isoformat(), where),
        _author("    ", entry.author, where),
        _element("    ", "content", entry.content_html, where, ' type="html"'),
        # feedgen wrote an entry's link with its href alone (rel and type were dropped).
        f"    <link href={_attribute(entry.link, where)}/>\n",
        _element("    ", "summary", entry.summary, where),
    ]
    for category in entry.categories:
        attributes = f" term={_attribute(category.term, where)}"
        if category.scheme:
            attributes += f" scheme={_attribute(category.scheme, where)}"
        if category.label:
            attributes += f" label={_attribute(category.label, where)}"
        parts.append(f"    <category{attributes}/>\n")
    parts.append(_element("    ", "published", entry.published.isoformat(), where))
    parts.append("  </entry>\n")
    return "".join(parts)


def atom_feed(feed: Feed) -> bytes:
    """The feed document, UTF-8 (entries in the order given)."""
    where = "the site's feed"
    if not (feed.id and feed.title):
        raise RenderError(f"{where} needs an id and a title: set the site's title")
    language = f" xml:lang={_attribute(feed.language, where)}" if feed.language else ""
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>\n",
        f'<feed xmlns="{ATOM_NAMESPACE}"{language}>\n',
        _element("  ", "id", feed.id, where),
        _element("  ", "title", feed.title, where),
        _element("  ", "updated", feed.updated.isoformat(), where),
        _author("  ", feed.author, where),
        f"  <link href={_attribute(feed.self_link, where)} "
        'rel="self" type="application/atom+xml"/>\n',
        f'  <link href={_attribute(feed.site_link, where)} rel="alternate" type="text/html"/>\n',
    ]
    if feed.generator:
        parts.append(_element("  ", "generator", feed.generator, where))
    if feed.subtitle:
        parts.append(_element("  ", "subtitle", feed.subtitle, where))
    parts += [_entry(entry) for entry in feed.entries]
    parts.append("</feed>\n")
    return "".join(parts).encode("utf-8")
