"""The social channel: each finding, once public, posted on the configured networks
(platforms "bluesky" and "mastodon"), behind the "social" approval gate.

It renders no files. Public, so a finding under embargo is held here as on the blog, and the
action checks the lift again before posting.
"""

from __future__ import annotations

from typing import ClassVar

from outreach.actions import Action, HookContext
from outreach.channels.base import BaseChannel, Deliverable, Site
from outreach.finding import Finding
from outreach.social.post import PostSocial
from outreach.social.text import BLUESKY_LIMIT, NETWORKS, checked_override


class SocialChannel(BaseChannel):
    name: ClassVar[str] = "social"
    public: ClassVar[bool] = True
    accepts: ClassVar[frozenset[str] | None] = frozenset(NETWORKS)

    def after_publish(self, context: HookContext) -> list[Action]:
        """One post (or thread) per finding just made public, per network (not on a rebuild)."""
        if context.rebuild:
            return []
        networks = [n for n in context.settings.channel(self.name).platforms if n in NETWORKS]
        return [
            # The whole finding: a shelved one reads its fields from this release's shelf.
            PostSocial(getattr(finding, "full", lambda f=finding: f)(), network)
            for finding in context.released
            if getattr(finding, "retraction", None) is None and isinstance(finding, Finding)
            for network in networks
        ]

    def render_finding(self, finding: Finding, site: Site) -> list[Deliverable]:
        """No files; a Bluesky override over its fixed limit stops the release here, before
        anything is published (an instance's limit is known only when posting)."""
        if "bluesky" in site.settings.channel(self.name).platforms:
            checked_override(finding, site.settings, "bluesky", BLUESKY_LIMIT)
        return []


CHANNEL = SocialChannel()
