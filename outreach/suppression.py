"""The suppression list: addresses that are never mailed again, kept without the addresses.

An erased, opted-out, bounced or complained address gets an entry keyed by its recipient id
(``audit.recipient_id``: a keyed hash of the normalised address), so the list can be checked
for any address but does not give one back: erasing a person leaves no address behind, and
their address is still refused by every later newsletter send, sign-up, import and pitch.
The table lives in the subscriber file (its schema's version 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal

from outreach.audit import AuditLog, recipient_id
from outreach.config import Settings
from outreach.secrets_store import recipient_key
from outreach.store import Store
from outreach.subscribers import SCHEMA

Reason = Literal["erased", "opted-out", "bounced", "complained"]
REASONS: tuple[Reason, ...] = ("erased", "opted-out", "bounced", "complained")
CHUNK = 500


class Suppressions:
    """Add and check suppression entries in ``path`` (the subscriber file) under ``key``
    (``secrets_store.recipient_key``)."""

    def __init__(self, path: Path, key: bytes):
        self.key = key
        self._store = Store(path, SCHEMA)

    def id_of(self, address: str) -> str:
        return recipient_id(address, self.key)

    def add(self, address: str, reason: Reason, when: datetime) -> str:
        """Suppress ``address`` (an entry already there keeps its first reason); its id."""
        rid = self.id_of(address)
        with self._store.connection() as connection:
            connection.execute(
                "INSERT INTO suppressions VALUES (?, ?, ?) ON CONFLICT (recipient_id) DO NOTHING",
                (rid, reason, when.isoformat()),
            )
        return rid

    def reason(self, address: str) -> str | None:
        """Why ``address`` is suppressed, or None when it may be mailed."""
        with self._store.connection() as connection:
            row = connection.execute(
                "SELECT reason FROM suppressions WHERE recipient_id = ?", (self.id_of(address),)
            ).fetchone()
        return row[0] if row else None

    def is_suppressed(self, address: str) -> bool:
        return self.reason(address) is not None

    def suppressed(self, addresses: Iterable[str]) -> set[str]:
        """Those of ``addresses`` that are suppressed: one query per 500 (a send's batch)."""
        by_id = {self.id_of(a): a for a in addresses}
        ids = list(by_id)
        found: set[str] = set()
        with self._store.connection() as connection:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT recipient_id FROM suppressions WHERE recipient_id IN ({marks})", chunk
                )
                found.update(by_id[row[0]] for row in rows)
        return found


def suppressions_for(settings: Settings) -> Suppressions:
    """The suppression list of a project."""
    return Suppressions(settings.paths.subscribers, recipient_key(settings))


def record_opt_out(settings: Settings, address: str, now: datetime, channel: str) -> str:
    """A recipient asked to hear no more from ``channel``: suppressed and logged (by id)."""
    rid = suppressions_for(settings).add(address, "opted-out", now)
    AuditLog(settings.paths.ledger).record(
        "opt-out",
        now,
        actor="recipient",
        subject=rid,
        outcome="opted out",
        detail={"channel": channel},
    )
    return rid
