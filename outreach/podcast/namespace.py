"""feedgen extensions for what feedgen's own podcast extension lacks.

``Podcasting20`` adds the Podcasting 2.0 namespace (guid, locked, funding, person, medium;
per item transcript, chapters, season, episode, person). ``AppleExplicit`` writes
``itunes:explicit`` as ``true``/``false``, the values Apple now asks for, which feedgen's
extension refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.util import xml_elem

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"


@dataclass
class Person:
    name: str
    role: str = "host"
    href: str | None = None


@dataclass
class ChannelData:
    guid: str | None = None
    locked_owner: str | None = None
    locked: bool = True
    funding_url: str | None = None
    funding_text: str = ""
    persons: list[Person] = field(default_factory=list)
    medium: str = "podcast"


@dataclass
class ItemData:
    transcripts: list[tuple[str, str]] = field(default_factory=list)
    """(url, media type) pairs."""
    chapters_url: str | None = None
    season: int | None = None
    episode: int | None = None
    persons: list[Person] = field(default_factory=list)


def _add_person(parent, person: Person) -> None:
    element = xml_elem(f"{{{PODCAST_NS}}}person", parent)
    element.text = person.name
    element.attrib["role"] = person.role
    if person.href:
        element.attrib["href"] = person.href


class Podcasting20Extension(BaseExtension):
    def __init__(self) -> None:
        self.data = ChannelData()

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def extend_rss(self, rss_feed):
        channel = rss_feed[0]
        data = self.data
        if data.guid:
            xml_elem(f"{{{PODCAST_NS}}}guid", channel).text = data.guid
        if data.locked_owner:
            locked = xml_elem(f"{{{PODCAST_NS}}}locked", channel)
            locked.text = "yes" if data.locked else "no"
            locked.attrib["owner"] = data.locked_owner
        if data.funding_url:
            funding = xml_elem(f"{{{PODCAST_NS}}}funding", channel)
            funding.text = data.funding_text
            funding.attrib["url"] = data.funding_url
        for person in data.persons:
            _add_person(channel, person)
        xml_elem(f"{{{PODCAST_NS}}}medium", channel).text = data.medium
        return rss_feed


class Podcasting20EntryExtension(BaseEntryExtension):
    def __init__(self) -> None:
        self.data = ItemData()

    def extend_rss(self, entry):
        data = self.data
        for url, media_type in data.transcripts:
            transcript = xml_elem(f"{{{PODCAST_NS}}}transcript", entry)
            transcript.attrib["url"] = url
            transcript.attrib["type"] = media_type
            if media_type == "text/vtt":
                transcript.attrib["rel"] = "captions"
        if data.chapters_url:
            chapters = xml_elem(f"{{{PODCAST_NS}}}chapters", entry)
            chapters.attrib["url"] = data.chapters_url
            chapters.attrib["type"] = "application/json+chapters"
        if data.season is not None:
            xml_elem(f"{{{PODCAST_NS}}}season", entry).text = str(data.season)
        if data.episode is not None:
            xml_elem(f"{{{PODCAST_NS}}}episode", entry).text = str(data.episode)
        for person in data.persons:
            _add_person(entry, person)
        return entry


class AppleExplicitExtension(BaseExtension):
    def __init__(self) -> None:
        self.explicit = False

    def extend_ns(self) -> dict[str, str]:
        return {"itunes": ITUNES_NS}

    def extend_rss(self, rss_feed):
        xml_elem(f"{{{ITUNES_NS}}}explicit", rss_feed[0]).text = (
            "true" if self.explicit else "false"
        )
        return rss_feed


class AppleExplicitEntryExtension(BaseEntryExtension):
    def __init__(self) -> None:
        self.explicit = False

    def extend_rss(self, entry):
        xml_elem(f"{{{ITUNES_NS}}}explicit", entry).text = "true" if self.explicit else "false"
        return entry
