"""What a finding says on a social network: the post (or short thread) text, measured the
way each network measures it, and Bluesky's facets.

Pure: no sockets, no clock. Bluesky counts graphemes (an emoji with a skin tone is one) and
marks links and hashtags by UTF-8 byte offsets; Mastodon counts characters with every link
as 23. Generated text is shortened to fit; a per-network override that does not fit is
refused (the writer chose those words), before anything is posted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import regex

from outreach.config import Settings
from outreach.errors import RenderError
from outreach.finding import Finding
from outreach.urls import post_path

Network = Literal["bluesky", "mastodon"]
NETWORKS: tuple[Network, ...] = ("bluesky", "mastodon")
BLUESKY_LIMIT = 300
"""Graphemes per Bluesky post."""
MASTODON_URL_LENGTH = 23
"""Mastodon counts every link as this many characters, whatever its length."""
ELLIPSIS = "…"

URL_PATTERN = regex.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
HASHTAG_PATTERN = regex.compile(r"(?<![\w#])#([\p{L}\p{N}_]*\p{L}[\p{L}\p{N}_]*)")


class SocialTextTooLong(RenderError):
    """An override does not fit the network's limit: found while rendering (Bluesky's fixed
    limit) or before the first post (an instance's limit), so nothing is posted."""


def graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters), as Bluesky counts them."""
    return len(regex.findall(r"\X", text))


def mastodon_length(text: str) -> int:
    """Characters as Mastodon counts them: every link counts as 23."""
    links = URL_PATTERN.findall(text)
    return len(URL_PATTERN.sub("", text)) + MASTODON_URL_LENGTH * len(links)


def measure(network: Network, text: str) -> int:
    return graphemes(text) if network == "bluesky" else mastodon_length(text)


@dataclass(frozen=True)
class SocialPost:
    """One post of a finding on one network; ``part`` 0 is the first (it carries the card
    or the image), later parts reply to the one before."""

    network: Network
    part: int
    text: str
    length: int
    limit: int


@dataclass(frozen=True)
class Facet:
    """A link or hashtag on UTF-8 byte offsets [start, end), as Bluesky's richtext wants."""

    start: int
    end: int
    kind: Literal["link", "tag"]
    value: str


def facets(text: str) -> list[Facet]:
    """Links and hashtags in ``text``, with byte offsets into its UTF-8 encoding."""
    found: list[Facet] = []

    def byte_span(start: int, end: int) -> tuple[int, int]:
        return len(text[:start].encode()), len(text[:end].encode())

    for match in URL_PATTERN.finditer(text):
        found.append(Facet(*byte_span(*match.span()), "link", match.group()))
    for match in HASHTAG_PATTERN.finditer(text):
        start, end = byte_span(*match.span())
        if not any(f.start <= start < f.end for f in found):  # a '#' inside a link
            found.append(Facet(start, end, "tag", match.group(1)))
    return sorted(found, key=lambda f: f.start)


def post_url(finding: Finding, settings: Settings) -> str:
    return settings.site.base_url.rstrip("/") + "/" + post_path(finding.id)


def consumer_headline(finding: Finding, settings: Settings) -> str:
    """The consumer headline the press kit uses (an override wins), for the post's opening."""
    from outreach.headlines import choose_headlines
    from outreach.press.assemble import load_press_data

    data = load_press_data(settings)
    organisation = settings.site.organisation
    return choose_headlines(
        finding, organisation, data.glossary, data.style.headlines
    ).consumer.text


def hashtags(finding: Finding) -> str:
    tags = [regex.sub(r"[^\p{L}\p{N}]", "", c.title()) for c in finding.commodities[:2]]
    return " ".join(f"#{tag}" for tag in tags if tag)


def _shorten(network: Network, head: str, tail: str, limit: int) -> str:
    """``head`` cut at a word with an ellipsis so ``head + tail`` fits ``limit``."""
    if measure(network, head + tail) <= limit:
        return head + tail
    words = head.split(" ")
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(",;:—-– ") + ELLIPSIS
        if measure(network, candidate + tail) <= limit:
            return candidate + tail
    return tail.strip()


def checked_override(
    finding: Finding, settings: Settings, network: Network, limit: int
) -> str | None:
    """The override with its link, or None; raises SocialTextTooLong when it does not fit."""
    override = getattr(finding.social, network, None) if finding.social else None
    if not override:
        return None
    text = override.strip() + "\n\n" + post_url(finding, settings)
    if measure(network, text) > limit:
        unit = "graphemes" if network == "bluesky" else "characters (links count 23)"
        raise SocialTextTooLong(
            f"{finding.source_path or finding.id}: field 'social.{network}' is "
            f"{measure(network, text)} {unit} with the link; {network} allows {limit}: shorten it"
        )
    return text


def compose(
    finding: Finding, settings: Settings, network: Network, limit: int, headline: str
) -> list[SocialPost]:
    """The finding's post on ``network`` (a thread when ``social.thread`` is on)."""
    url = post_url(finding, settings)
    stat = finding.key_stat
    override = checked_override(finding, settings, network, limit)
    if override:
        texts = [override]
    else:
        tags = hashtags(finding)
        body = f"{headline}\n\n{stat.value} {stat.label}"
        tail = "\n\n" + url + (f"\n\n{tags}" if tags else "")
        if measure(network, body + tail) > limit and tags:
            tail = "\n\n" + url
        texts = [_shorten(network, body, tail, limit)]
    if settings.social.thread:
        points = [f"{s.value} {s.label} ({s.source})" for s in finding.stats[1:3]]
        if points:
            texts.append(_shorten(network, "\n\n".join(points), "", limit))
        texts.append(_shorten(network, finding.summary, "\n\n" + url, limit))
    return [
        SocialPost(network, part, text, measure(network, text), limit)
        for part, text in enumerate(texts)
    ]
