"""The platform interface: publish a batch of one finding's (or the site's) deliverables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal, Protocol

from outreach.channels.base import Deliverable
from outreach.ledger import Ledger

Action = Literal["created", "updated", "unchanged", "removed"]


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
