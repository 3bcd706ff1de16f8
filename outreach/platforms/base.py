"""The platform interface: publish a batch of one finding's (or the site's) deliverables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal, Protocol

from outreach.channels.base import Deliverable
from outreach.ledger import Ledger

Action = Literal["created", "updated", "unchanged", "removed"]


class PlatformUnavailable(Exception):
    """A platform is misconfigured, unreachable or refuses the credentials: nothing is pushed."""


@dataclass(frozen=True)
class Batch:
    """Everything a channel rendered for one finding (or, with id "", for the whole site).

    Publishing a batch is complete: items the ledger holds for the same key but the batch no
    longer contains are stale and get removed.
    """

    channel: str
    finding_id: str
    deliverables: Sequence[Deliverable]


@dataclass(frozen=True)
class Receipt:
    channel: str
    platform: str
    finding_id: str
    item: str
    action: Action
    url: str | None


class Platform(Protocol):
    name: ClassVar[str]

    def publish(
        self, batch: Batch, ledger: Ledger, now: datetime, dry_run: bool = False
    ) -> list[Receipt]: ...

    def check(self) -> str:
        """Reach the platform with its credentials; say what was found, or raise
        PlatformUnavailable with what to fix. Called before anything is pushed."""
        ...


def is_transient(exc: BaseException) -> bool:
    """Whether a failed push may succeed if simply tried again (network, throttling, 5xx).

    Everything else (credentials, configuration, bad content) fails at once: retrying
    would only repeat the error and delay the message the team needs.
    """
    import requests
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    from outreach.platforms.wordpress_api import WordPressTransient

    if isinstance(exc, WordPressTransient | requests.ConnectionError | requests.Timeout):
        return True
    if isinstance(exc, ConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code", "")
        return (
            status >= 500 or status == 429 or code in {"SlowDown", "Throttling", "RequestTimeout"}
        )
    return False


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
) -> list[Receipt]:
    """The bookkeeping every file platform shares: write what changed, record it in the
    ledger as it lands, and remove the items the ledger holds that the batch no longer has
    (so only what the pipeline wrote is ever deleted).

    ``current_hash(item, recorded_hash)`` says what the platform holds now (None: nothing).
    """
    known = ledger.items(batch.finding_id, batch.channel, platform)
    receipts: list[Receipt] = []
    for deliverable in order(list(batch.deliverables)):
        recorded = known.get(deliverable.path)
        current = current_hash(deliverable.path, recorded.content_hash if recorded else None)
        action: Action
        if current == deliverable.sha256:
            action = "unchanged"
        else:
            action = "created" if current is None else "updated"
            if not dry_run:
                write(deliverable)
        if not dry_run and (recorded is None or recorded.content_hash != deliverable.sha256):
            ledger.record(
                batch.finding_id, batch.channel, platform, deliverable.path,
                deliverable.sha256, url(deliverable.path), now,
            )  # fmt: skip
        receipts.append(
            Receipt(batch.channel, platform, batch.finding_id, deliverable.path, action,
                    url(deliverable.path))
        )  # fmt: skip
    wanted = {deliverable.path for deliverable in batch.deliverables}
    for stale in sorted(set(known) - wanted):
        if not dry_run:
            delete(stale)
            ledger.forget(batch.finding_id, batch.channel, platform, stale)
        receipts.append(Receipt(batch.channel, platform, batch.finding_id, stale, "removed", None))
    return receipts
