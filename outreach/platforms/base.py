"""The platform interface: publish a batch of one finding's (or the site's) deliverables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import ClassVar, Protocol

from outreach.errors import PlatformUnavailable as PlatformUnavailable  # neutral home
from outreach.ledger import Ledger
from outreach.vocabulary import Batch, Change, Deliverable, Receipt

__all__ = ["Batch", "Platform", "PlatformUnavailable", "Receipt", "keep_batch", "sync_batch"]


class Platform(Protocol):
    name: ClassVar[str]

    def publish(
        self, batch: Batch, ledger: Ledger, now: datetime, dry_run: bool = False
    ) -> list[Receipt]: ...

    def check(self) -> str:
        """Reach the platform with its credentials; say what was found, or raise
        PlatformUnavailable with what to fix. Called before anything is pushed."""
        ...

    def holds(self, marks: Mapping[str, str | None]) -> bool:
        """Whether the platform still has these published items (item -> the remote id the
        ledger recorded when it was written) as recorded, so rendering them again can be
        skipped. Cheap: no content is read."""
        ...


def sync_batch(
    platform: str,
    batch: Batch,
    ledger: Ledger,
    now: datetime,
    dry_run: bool,
    *,
    current_hash: Callable[[str, str | None], str | None],
    write: Callable[[Deliverable], None],
    delete: Callable[[str], None],
    url: Callable[[str], str],
    order: Callable[[list[Deliverable]], list[Deliverable]] = lambda items: items,
    token: Callable[[str], str | None] = lambda item: None,
) -> list[Receipt]:
    """The bookkeeping every file platform shares: write what changed, record it in the
    ledger as it lands, and remove the items the ledger holds that the batch no longer has
    (so only what the pipeline wrote is ever deleted).

    ``current_hash(item, recorded_hash)`` says what the platform holds now (None: nothing).
    ``token(item)`` names what the platform now holds for an item (kept as its remote id, for
    ``holds``); None when the ledger alone is the record.
    """
    with ledger.transaction():
        if not batch.deliverables:  # all kept as they are: only their addresses are read
            return keep_batch(platform, batch, ledger, dry_run, delete)
        known = ledger.items(batch.finding_id, batch.channel, platform)
        receipts: list[Receipt] = []
        for item in sorted(batch.kept & set(known)):
            receipts.append(
                Receipt(
                    batch.channel, platform, batch.finding_id, item, "unchanged", known[item].url
                )
            )
        for deliverable in order(list(batch.deliverables)):
            recorded = known.get(deliverable.path)
            current = current_hash(deliverable.path, recorded.content_hash if recorded else None)
            action: Change
            if current == deliverable.sha256:
                action = "unchanged"
            else:
                action = "created" if current is None else "updated"
                if not dry_run:
                    write(deliverable)
            held = None if dry_run else token(deliverable.path)
            if not dry_run and (
                recorded is None
                or recorded.content_hash != deliverable.sha256
                or held != recorded.remote_id
            ):
                ledger.record(
                    batch.finding_id, batch.channel, platform, deliverable.path,
                    deliverable.sha256, url(deliverable.path), now, remote_id=held,
                )  # fmt: skip
            receipts.append(
                Receipt(batch.channel, platform, batch.finding_id, deliverable.path, action,
                        url(deliverable.path))
            )  # fmt: skip
        wanted = {deliverable.path for deliverable in batch.deliverables} | batch.kept
        wanted |= batch.retained
        for stale in [] if batch.partial else sorted(set(known) - wanted):
            if not dry_run:
                delete(stale)
                ledger.forget(batch.finding_id, batch.channel, platform, stale)
            receipts.append(
                Receipt(batch.channel, platform, batch.finding_id, stale, "removed", None)
            )
        return receipts


def keep_batch(
    platform: str, batch: Batch, ledger: Ledger, dry_run: bool, delete: Callable[[str], None]
) -> list[Receipt]:
    """``sync_batch`` for a batch with nothing rendered: its kept items are unchanged, and
    the items the ledger holds that it no longer has are removed (as for any batch)."""
    urls = ledger.item_urls(batch.finding_id, batch.channel, platform)
    receipts = [
        Receipt(batch.channel, platform, batch.finding_id, item, "unchanged", urls[item])
        for item in sorted(batch.kept & urls.keys())
    ]
    for stale in [] if batch.partial else sorted(urls.keys() - batch.kept - batch.retained):
        if not dry_run:
            delete(stale)
            ledger.forget(batch.finding_id, batch.channel, platform, stale)
        receipts.append(Receipt(batch.channel, platform, batch.finding_id, stale, "removed", None))
    return receipts
