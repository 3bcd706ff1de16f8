"""The words channels, platforms and the release sequence share, at the bottom of the imports.

Channels produce ``Deliverable`` values, the sequence groups them into ``Batch`` values,
platforms return a ``Receipt`` for each item. Keeping them here (and not in the channel or
platform packages) lets both sides use them without importing each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

SITE_WIDE = ""
"""The publication id under which site-wide deliverables (indexes, feeds) are recorded."""

Change = Literal["created", "updated", "unchanged", "removed"]
"""What publishing did to one item."""


@dataclass(frozen=True)
class Deliverable:
    """One output file: its path under the site root and its exact bytes."""

    path: str
    content: bytes
    finding_id: str = SITE_WIDE

    @cached_property
    def sha256(self) -> str:
        """Computed once: publishing compares and records it several times per file."""
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Batch:
    """Everything a channel rendered for one finding (or, with id "", for the whole site).

    Publishing a batch is complete: items the ledger holds for the same key but the batch no
    longer contains are stale and get removed (by the last part, for a batch sent in parts).
    """

    channel: str
    finding_id: str
    deliverables: Sequence[Deliverable]
    kept: frozenset[str] = frozenset()
    """Items not rendered again because nothing they depend on changed: the platform keeps
    them as they are (never stale, never rewritten)."""
    partial: bool = False
    """One bounded part of a larger batch (the site pages, published a chunk at a time):
    nothing is removed, as the other parts' items are not in it."""
    retained: frozenset[str] = frozenset()
    """Items the earlier parts of the same batch published: never stale, not reported again
    (the last part removes what none of the parts contained)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    channel: str
    platform: str
    finding_id: str
    item: str
    action: Change
    url: str | None

    def __reduce__(self) -> tuple[type[Receipt], tuple[str, str, str, str, Change, str | None]]:
        # Pickled as its six values: a release spools thousands of receipts to disk, and the
        # generic slots-dataclass state (a field lookup per receipt) was most of that time.
        values = (self.channel, self.platform, self.finding_id, self.item, self.action, self.url)
        return (Receipt, values)
