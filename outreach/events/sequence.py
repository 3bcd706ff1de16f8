"""The invite SEQUENCE of each event, kept in the ledger file.

Calendar programs replace an invite they hold only by one with the same UID and a higher
SEQUENCE. The number starts at 0 and goes up by one each time a published change reaches
registrants: the event's time, zone, join link, title or its cancellation (the fields an
invite carries). The fingerprint of those fields is stored with the number, so releasing an
unchanged event again keeps its SEQUENCE (and sends nothing).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from outreach.store import Migration, Schema, Store

SEQUENCES = """
CREATE TABLE IF NOT EXISTS event_sequences (
    event_id    TEXT PRIMARY KEY,
    sequence    INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    cancelled   INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL
)"""
PUSHES = """
CREATE TABLE IF NOT EXISTS event_calendar_pushes (
    event_id    TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    pushed_at   TEXT NOT NULL
)"""
SCHEMA = Schema(
    "event-sequences",
    (
        Migration(1, "invite sequence per event", (SEQUENCES,)),
        Migration(2, "what the team's calendar last received per event", (PUSHES,)),
    ),
)


@dataclass(frozen=True)
class Sequenced:
    """An event's invite SEQUENCE and whether this call changed it (registrants then get an
    update, or a cancellation when ``cancelled``)."""

    sequence: int
    changed: bool
    cancelled: bool


def fingerprint(fields: dict[str, object]) -> str:
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class SequenceLedger:
    def __init__(self, path: Path):
        self._store = Store(path, SCHEMA)

    def current(self, event_id: str) -> int:
        """The SEQUENCE invites carry now (0 before any change)."""
        with self._store.connection() as connection:
            row = connection.execute(
                "SELECT sequence FROM event_sequences WHERE event_id = ?", (event_id,)
            ).fetchone()
        return row[0] if row else 0

    def would_change(self, event_id: str, fields: dict[str, object], cancelled: bool) -> bool:
        """Whether ``record`` would bump the SEQUENCE (a dry run asks; nothing is written)."""
        with self._store.connection() as connection:
            row = connection.execute(
                "SELECT fingerprint FROM event_sequences WHERE event_id = ?", (event_id,)
            ).fetchone()
        return row is not None and row[0] != fingerprint({**fields, "cancelled": cancelled})

    def record(
        self, event_id: str, fields: dict[str, object], cancelled: bool, when: datetime
    ) -> Sequenced:
        """Record the event's invite fields as published; SEQUENCE+1 when they changed since
        the last record (the first record is SEQUENCE 0, no change)."""
        printed = fingerprint({**fields, "cancelled": cancelled})
        with self._store.transaction() as connection:
            row = connection.execute(
                "SELECT sequence, fingerprint FROM event_sequences WHERE event_id = ?",
                (event_id,),
            ).fetchone()
            if row is None:
                connection.execute(
                    "INSERT INTO event_sequences VALUES (?, 0, ?, ?, ?)",
                    (event_id, printed, int(cancelled), when.isoformat()),
                )
                return Sequenced(0, False, cancelled)
            if row[1] == printed:
                return Sequenced(row[0], False, cancelled)
            connection.execute(
                "UPDATE event_sequences SET sequence = ?, fingerprint = ?, cancelled = ?, "
                "updated_at = ? WHERE event_id = ?",
                (row[0] + 1, printed, int(cancelled), when.isoformat(), event_id),
            )
            return Sequenced(row[0] + 1, True, cancelled)

    def pushed(self, event_id: str) -> str:
        """The fingerprint of what the team's calendar last accepted for the event ('': never)."""
        with self._store.connection() as connection:
            row = connection.execute(
                "SELECT fingerprint FROM event_calendar_pushes WHERE event_id = ?", (event_id,)
            ).fetchone()
        return row[0] if row else ""

    def record_push(self, event_id: str, printed: str, when: datetime) -> None:
        """Remember what the calendar accepted, so an unchanged event is not pushed again."""
        with self._store.transaction() as connection:
            connection.execute(
                "INSERT INTO event_calendar_pushes VALUES (?, ?, ?) ON CONFLICT (event_id) "
                "DO UPDATE SET fingerprint = excluded.fingerprint, pushed_at = excluded.pushed_at",
                (event_id, printed, when.isoformat()),
            )
