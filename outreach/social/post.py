"""The social channel's after-publish action: post one finding on one network, once.

The ledger keeps each post's id (channel "social", platform = the network, item "post-N"):
a re-run posts nothing, an edited finding does not post again, and a thread cut short by a
failure resumes at the first part that is not recorded, replying to the one before.
Nothing is posted before the finding's embargo lifts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Protocol

from outreach.actions import ActionContext
from outreach.config import Settings
from outreach.finding import Finding
from outreach.ledger import Ledger
from outreach.social.text import Network, SocialPost, compose, consumer_headline, post_url

if TYPE_CHECKING:
    from outreach.gates import Shown, TestMessage

CHANNEL = "social"
COMPLETE = "complete"
"""The ledger item recorded once every part of a finding's post is out."""


@dataclass(frozen=True)
class Attachment:
    """The share image with its description, and the link card's text."""

    image: bytes
    mime_type: str
    alt: str
    url: str
    title: str
    description: str


class Poster(Protocol):
    network: str

    def check(self) -> str: ...

    def limit(self) -> int: ...

    def post(
        self,
        text: str,
        key: str,
        part: int,
        parent: str | None,
        root: str | None,
        attachment: Attachment,
    ) -> tuple[str, str]:
        """Post part ``part`` of a thread (0: the first, replying to nothing); returns
        (remote id, public URL). Each network decides which part carries the image."""
        ...


def attachment_for(finding: Finding, settings: Settings, headline: str) -> Attachment:
    from outreach.share_image import share_image_for

    stat = finding.key_stat
    return Attachment(
        share_image_for(finding, settings),
        "image/png",
        f"Card reading '{headline}' with the figure {stat.value} {stat.label}.",
        post_url(finding, settings),
        finding.title,
        finding.summary,
    )


def idempotency_key(finding: Finding, network: str, part: int) -> str:
    """The same for every try of one part, so the network can make a repeat the same post."""
    digest = hashlib.sha256(f"{finding.id}\0{network}\0{part}".encode()).hexdigest()
    return f"outreach-{digest[:32]}"


def planned_posts(
    finding: Finding, settings: Settings, network: Network, limit: int
) -> list[SocialPost]:
    return compose(finding, settings, network, limit, consumer_headline(finding, settings))


def post_finding(
    finding: Finding, settings: Settings, poster: Poster, ledger: Ledger, now: datetime
) -> list[str]:
    """Post what is not posted yet; notes for the release report."""
    network: Network = poster.network  # type: ignore[assignment]
    if not finding.is_public(now):
        return [
            f"{network}: '{finding.id}' is under embargo until "
            f"{finding.public_from.isoformat()}; nothing posted."
        ]
    if hasattr(poster, "base"):  # Bluesky's record keys count from the lift
        poster.base = finding.public_from
    done = ledger.items(finding.id, CHANNEL, network)
    posts = planned_posts(finding, settings, network, poster.limit())
    # A finished post (or thread) is never added to, even when the finding or the thread
    # setting changes; a thread cut short by a failure is resumed.
    if COMPLETE in done or ("post-0" in done and not settings.social.thread):
        return [f"{network}: '{finding.id}' already posted ({done['post-0'].url}); nothing posted."]
    attachment = attachment_for(finding, settings, consumer_headline(finding, settings))
    root = done["post-0"].remote_id if "post-0" in done else None
    urls: list[str] = []
    for post in posts:
        item = f"post-{post.part}"
        if item in done:
            continue
        parent = done[f"post-{post.part - 1}"].remote_id if post.part else None
        remote_id, url = poster.post(
            post.text,
            idempotency_key(finding, network, post.part),
            post.part,
            parent,
            root,
            attachment,
        )
        digest = hashlib.sha256(post.text.encode()).hexdigest()
        ledger.record(finding.id, CHANNEL, network, item, digest, url, now, remote_id=remote_id)
        done = ledger.items(finding.id, CHANNEL, network)
        root = root or remote_id
        urls.append(url)
    first = done["post-0"]
    ledger.record(finding.id, CHANNEL, network, COMPLETE, first.content_hash, first.url, now)
    return [f"{network}: posted '{finding.id}' ({len(urls)} post(s)): {first.url}"]


@dataclass(frozen=True)
class PostSocial:
    """Post one finding on one network (after approval at the "social" gate)."""

    finding: Finding
    network: Network
    gate: ClassVar[str | None] = "social"

    @property
    def publication(self) -> str:
        return self.finding.id

    @property
    def label(self) -> str:
        return f"The {self.network} post for '{self.finding.id}'"

    def shown(self, settings: Settings, now: datetime) -> Shown:
        """What the approver sees: the post's text (Bluesky's limit: Mastodon's instance may
        allow more, never less than 500), to one public timeline."""
        from outreach.gates import Shown

        posts = planned_posts(self.finding, settings, self.network, 300)
        text = "\n\n".join(post.text for post in posts)
        return Shown(subject=f"{self.network}: {self.finding.id}", count=1, sample=(), text=text)

    def test_messages(
        self, settings: Settings, now: datetime, addresses: Sequence[str]
    ) -> list[TestMessage]:
        return []  # a post is public: `outreach social preview ID` shows it instead

    @classmethod
    def for_approval(
        cls, publication_id: str, settings: Settings, now: datetime
    ) -> PostSocial | None:
        """None: an approval is kept, and the next release of the finding posts it on
        every configured network."""
        return None

    def awaiting(self) -> str:
        return (
            f"The {self.network} post for '{self.finding.id}' awaits approval: run "
            f"'outreach release {self.finding.id} --approve' (embedded defaults); nothing posted."
        )

    def run(self, context: ActionContext) -> list[str]:
        from outreach.social.platform import poster_for

        settings = context.settings
        poster = poster_for(settings, self.network, context.secrets.get(self.network))
        return post_finding(
            self.finding, settings, poster, Ledger(settings.paths.ledger), context.now
        )
