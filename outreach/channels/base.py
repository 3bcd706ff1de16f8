"""What every channel shares: the deliverables it produces and the site it renders for.

A channel is pure: given findings and settings it returns bytes for paths. It never writes
files, reads the clock or touches the network; platforms do the publishing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol
from urllib.parse import urlsplit

from outreach.config import Settings
from outreach.errors import RenderError as RenderError  # its home is the neutral errors module
from outreach.finding import Finding

if TYPE_CHECKING:
    from outreach.platforms.base import Receipt

SITE_WIDE = ""
"""The finding id under which site-wide deliverables (indexes, feeds) are recorded."""


@dataclass(frozen=True)
class Deliverable:
    """One output file: its path under the site root and its exact bytes."""

    path: str
    content: bytes
    finding_id: str = SITE_WIDE

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


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

    def page_key(self, unit: str, findings: Iterable[Finding]) -> str | None:
        """The content key of a site page listing ``findings`` (None: always render it)."""
        if not self.inputs:
            return None
        from outreach.render_keys import page_key

        return page_key(
            self.channel, unit, self.inputs, (self.finding_keys[f.id] for f in findings)
        )

    def url(self, path: str = "") -> str:
        """Absolute URL of a site path such as ``blog/x/``."""
        return self.settings.site.base_url + path.lstrip("/")

    def href(self, path: str = "") -> str:
        """Root-relative link for a site path, honouring a base URL with a path prefix."""
        return urlsplit(self.settings.site.base_url).path + path.lstrip("/")


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

    def check_inputs(self, settings: Settings) -> list[str]:
        return []

    def prepare_key(self, finding: Finding, settings: Settings) -> str | None:
        return None

    def prepare(
        self, finding: Finding, settings: Settings, progress: Callable[[float], None] | None = None
    ) -> object:
        return None

    def notify(self, receipts: Sequence[Receipt], settings: Settings) -> list[str]:
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
        """Slow work before rendering (mastering audio), cached by ``prepare_key``."""
        ...

    def notify(self, receipts: Sequence[Receipt], settings: Settings) -> list[str]:
        """After publishing: tell the outside world (feed pings). Never raises; returns notes."""
        ...
