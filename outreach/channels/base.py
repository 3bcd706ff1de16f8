"""What every channel shares: the deliverables it produces and the site it renders for.

A channel is pure: given findings, settings and what the release prepared for it (mastered
audio, the press kits' secret) it returns bytes for paths. It never writes files, reads the
clock, runs programs or touches the network; platforms do the publishing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import ClassVar, Protocol

from outreach.actions import Action, HookContext
from outreach.config import Settings
from outreach.errors import RenderError
from outreach.finding import Finding
from outreach.urls import SiteUrls
from outreach.vocabulary import SITE_WIDE, Deliverable

CARRY = "carry:"
"""``Site.memo`` keys of text the channel wants back in its next release, as ``site.carried``:
each key names the fragment's content (a digest of what made it), never just a publication."""

__all__ = [
    "CARRY",
    "SITE_WIDE",
    "BaseChannel",
    "Channel",
    "Deliverable",
    "RenderError",
    "Site",
    "SitePage",
]


@dataclass(frozen=True)
class Site:
    """Settings plus the findings that public indexes list, newest first."""

    settings: Settings
    listed: Sequence[Finding] = field(default_factory=tuple)
    channel: str = ""
    inputs: str = ""
    """Digest of the code, templates, press data and settings; empty: keys are not used."""
    finding_keys: Mapping[str, str] = field(default_factory=dict)
    """Each listed finding's content key, for the keys of the pages that list it."""
    kit_secret: bytes = field(default=b"", repr=False)
    """The press kits' secret, read before rendering: the URL map names kits with it."""
    prepared: Mapping[str, object] = field(default_factory=dict)
    """What the channel's ``prepare`` made for each publication (by id), before rendering."""
    now: datetime | None = None
    """The release's time (a parameter, never the clock): what is upcoming or past."""
    memo: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
    """A cache for this release's rendering only (the podcast's feed entries, made while
    rendering episodes and read again by the feed): it goes with the release, but for the
    text kept under ``CARRY`` keys, which the next release reads as ``carried``."""
    carried: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """What the channel's rendering kept under ``CARRY`` keys in its last release
    (``outreach.carried``): fragments it need not render again when their key matches."""

    def page_key(self, unit: str, findings: Iterable[Finding]) -> str | None:
        """The content key of a site page listing ``findings`` (None: always render it)."""
        if not self.inputs:
            return None
        from outreach.render_keys import page_key

        return page_key(
            self.channel, unit, self.inputs, (self.finding_keys[f.id] for f in findings)
        )

    @cached_property
    def urls(self) -> SiteUrls:
        """The one URL map: every channel's paths, and which sections the configured
        channels host (what each declares in ``hosts``)."""
        from outreach.channels import site_offers  # the registry imports this module

        return SiteUrls(self.settings.site.base_url, site_offers(self.settings), self.kit_secret)

    def url(self, path: str = "") -> str:
        """Absolute URL of a site path such as ``blog/x/``."""
        return self.urls.url(path)

    def href(self, path: str = "") -> str:
        """Root-relative link for a site path, honouring a base URL with a path prefix."""
        return self.urls.href(path)


@dataclass(frozen=True)
class SitePage:
    """One site-wide output unit (an index page, a topic page, a feed) that can be skipped
    when its key is unchanged. ``paths`` are the files ``render`` returns."""

    unit: str
    paths: tuple[str, ...]
    key: str | None
    render: Callable[[], list[Deliverable]]


class BaseChannel:
    """Defaults for the optional steps, so a channel writes only what it does."""

    public: ClassVar[bool] = True
    accepts: ClassVar[frozenset[str] | None] = None
    """The platforms this channel may go to; None: any platform that takes files."""
    kinds: ClassVar[frozenset[str]] = frozenset({"finding"})
    """The kinds of publication this channel renders."""
    lists: ClassVar[frozenset[str] | None] = None
    """The kinds its site pages (indexes, feeds) list (None: every kind it renders): for
    another kind it renders (a report's announcement on the blog) it renders no site pages."""
    hosts: ClassVar[frozenset[str]] = frozenset()
    """The site sections this channel publishes (``outreach.urls.POSTS``, ``EPISODES``,
    ``PRESS_KITS``): other channels link to a section only when a configured channel hosts it."""
    prepares_listed: ClassVar[bool] = False
    """Whether the site pages read every listed publication's prepared work (a feed of
    episodes), not only that of the publications being released."""
    links_kits: ClassVar[bool] = False
    """Whether rendering names press kits' folders (``site.urls.kit``): the release then
    reads the kits' secret before rendering."""
    draws_share_images: ClassVar[bool] = False
    """Whether rendering a finding shows its share image (``share_image_for``): the release
    then draws the next batch's images ahead, in worker processes."""

    def check_inputs(self, settings: Settings) -> list[str]:
        return []

    def prepare_key(self, finding: Finding, settings: Settings) -> str | None:
        return None

    def prepare(
        self, finding: Finding, settings: Settings, progress: Callable[[float], None] | None = None
    ) -> object:
        return None

    def after_publish(self, context: HookContext) -> list[Action]:
        return []

    def render_site(self, site: Site) -> list[Deliverable]:
        return []

    def site_pages(self, site: Site) -> list[SitePage]:
        """By default the whole site-wide output is one unit, rendered every time."""
        return [SitePage("site", (), None, lambda: self.render_site(site))]


class Channel(Protocol):
    """The one interface a channel implements to plug into the release flow."""

    name: ClassVar[str]
    public: ClassVar[bool]
    """True when every deliverable is a public page: the finding is held until it may go public."""
    accepts: ClassVar[frozenset[str] | None]
    """The platforms this channel may go to; None: any platform that takes files."""
    kinds: ClassVar[frozenset[str]]
    """The kinds of publication this channel renders (a finding is the first kind)."""
    lists: ClassVar[frozenset[str] | None]
    """The kinds its site pages list (None: every kind it renders)."""
    hosts: ClassVar[frozenset[str]]
    """The site sections this channel publishes (posts, episodes, press kits), as data."""
    prepares_listed: ClassVar[bool]
    """Whether the site pages need every listed publication's prepared work."""
    links_kits: ClassVar[bool]
    """Whether rendering names press kits' folders (the kits' secret is then passed in)."""

    def render_finding(self, finding: Finding, site: Site) -> list[Deliverable]:
        """Deliverables that belong to one finding (its pages, images, files)."""
        ...

    def render_site(self, site: Site) -> list[Deliverable]:
        """Deliverables that list findings (indexes, feeds, sitemaps)."""
        ...

    def site_pages(self, site: Site) -> list[SitePage]:
        """The site-wide output as units with content keys, so unchanged ones are skipped."""
        ...

    def check_inputs(self, settings: Settings) -> list[str]:
        """Problems with the channel's own inputs (show art, press folder), before any work."""
        ...

    def prepare_key(self, finding: Finding, settings: Settings) -> str | None:
        """A content key for the slow work ``prepare`` does for this finding; None: none to do."""
        ...

    def prepare(
        self, finding: Finding, settings: Settings, progress: Callable[[float], None] | None = None
    ) -> object:
        """Slow work before rendering (mastering audio), cached by ``prepare_key``: what it
        returns reaches rendering as ``site.prepared[publication id]``."""
        ...

    def after_publish(self, context: HookContext) -> list[Action]:
        """After publishing: the work to do next (ping a feed, pitch, send), as actions the
        runner executes. Never does the work itself."""
        ...
