"""The audit log: who decided what, what was sent to whom, and what was published, in order.

It lives in the ledger file (a store of its own there, versioned like the others) so "who
received what" is answered from the same place that knows what went out. Recipients are
recorded by an opaque id (``recipient_id``: a keyed hash of the address), never by
address: erasing a person removes their address from the stores that hold it and leaves no
address behind here.

Events are appended, never changed. Each has a time (the release's clock, not the wall
clock, so tests and replays are deterministic), a kind of event, the publication's ledger key
(``''`` for site-wide events), who acted, a subject (the gate, channel or recipient), an
outcome and a JSON detail (what was shown, the note, a message id, an address of a page).
"""

from __future__ import annotations

import getpass
import hmac
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from outreach.store import Migration, Schema, Store

AUDIT = """
CREATE TABLE IF NOT EXISTS audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    event       TEXT NOT NULL,
    publication TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL DEFAULT '',
    subject     TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '{}'
)"""
AUDIT_INDEX = "CREATE INDEX IF NOT EXISTS audit_publication ON audit (publication, seq)"
SCHEMA = Schema(
    "audit",
    (
        Migration(1, "audit log", (AUDIT, AUDIT_INDEX)),
        # Every release reads the events of one kind (retractions, for every finding it
        # validates): by this index, not by a pass over every event ever logged.
        Migration(
            2,
            "events by kind",
            ("CREATE INDEX IF NOT EXISTS audit_event ON audit (event, publication, subject, seq)",),
        ),
    ),
)

Event = Literal[
    "decision",  # a gate approved or rejected (subject: the gate)
    "send",  # one message to one recipient (subject: the recipient's id)
    "publish",  # a file or post created, updated or deleted on a platform
    "correction",  # a correction recorded or its notice sent
    "retraction",  # a publication taken down
    "erase",  # a person's data erased (subject: the suppression hash, never the address)
    "opt-out",  # a recipient asked not to be mailed again
    "bounce",  # a delivery report or complaint taken in
]


AuditRow = tuple[Event, datetime, dict[str, Any]]
"""One event to append: (event, at, keyword arguments of ``AuditLog.record``)."""

INSERT = (
    "INSERT INTO audit (at, event, publication, actor, subject, outcome, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class Entry:
    """One line of the log."""

    seq: int
    at: str
    event: str
    publication: str
    actor: str
    subject: str
    outcome: str
    detail: dict[str, Any]


def command_line_actor() -> str:
    """Who acts on the command line: the operating-system user (the Prefect server has no
    accounts, so the approval form asks for a name instead)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid {os.getuid()}"


def recipient_id(address: str, key: bytes) -> str:
    """The opaque id the log (and suppression entries) use for a person: a keyed hash of the
    normalised address (``secrets_store.recipient_key``). The same address always gives the
    same id, so sends to one person line up and an erased address stays suppressed; the id
    does not give the address back, and without the key it cannot be guessed from one."""
    digest = hmac.digest(key, address.strip().lower().encode(), "sha256").hex()
    return "r-" + digest[:24]


class AuditLog:
    """Append and read audit events in the ledger file (``settings.paths.ledger``)."""

    def __init__(self, path: Path):
        self.path = path
        self._store = Store(path, SCHEMA, synchronous="FULL")

    def record(
        self,
        event: Event,
        at: datetime,
        *,
        publication: str = "",
        actor: str = "",
        subject: str = "",
        outcome: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one event. ``detail`` must not hold an email address of a subscriber or
        journalist (record their id instead)."""
        with self._store.connection() as connection:
            connection.execute(
                "INSERT INTO audit (at, event, publication, actor, subject, outcome, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    at.isoformat(),
                    event,
                    publication,
                    actor,
                    subject,
                    outcome,
                    json.dumps(dict(detail or {}), sort_keys=True, ensure_ascii=False),
                ),
            )

    def record_many(self, rows: list[AuditRow]) -> None:
        """Append several events in one transaction (a batch of publishes or sends); each
        row is (event, at, keyword arguments of ``record``)."""
        if not rows:
            return
        with self._store.connection() as connection:
            insert_events(connection, rows)

    def entries(
        self,
        *,
        publication: str | None = None,
        since: datetime | None = None,
        event: str | None = None,
    ) -> Iterator[Entry]:
        """Events in the order they were recorded, optionally for one publication (its ledger
        key), from a time on, or of one kind."""
        clauses, values = [], []
        if publication is not None:
            clauses.append("publication = ?")
            values.append(publication)
        if since is not None:
            clauses.append("at >= ?")
            values.append(since.isoformat())
        if event is not None:
            clauses.append("event = ?")
            values.append(event)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._store.connection() as connection:
            rows = connection.execute(f"SELECT * FROM audit{where} ORDER BY seq", values)
            for row in rows.fetchall():
                yield Entry(*row[:7], json.loads(row[7]))

    def latest(self, event: str, publication: str, subject: str) -> Entry | None:
        """The newest event of a kind for a publication and subject (a gate's last decision)."""
        with self._store.connection() as connection:
            row = connection.execute(
                "SELECT * FROM audit WHERE event = ? AND publication = ? AND subject = ? "
                "ORDER BY seq DESC LIMIT 1",
                (event, publication, subject),
            ).fetchone()
        return None if row is None else Entry(*row[:7], json.loads(row[7]))


def insert_events(connection: sqlite3.Connection, rows: Iterable[AuditRow]) -> None:
    """Append events through a connection another store of the same file has open, inside
    its transaction (the ledger's batch of publishes, the send log's per-message update), so
    an event is committed with the record it describes and costs no transaction of its own.
    The file must hold the audit schema (open it with ``SCHEMA`` among the store's schemas)."""
    connection.executemany(
        INSERT,
        [
            (
                at.isoformat(),
                event,
                fields.get("publication", ""),
                fields.get("actor", ""),
                fields.get("subject", ""),
                fields.get("outcome", ""),
                json.dumps(dict(fields.get("detail") or {}), sort_keys=True, ensure_ascii=False),
            )
            for event, at, fields in rows
        ],
    )


_ADDRESS = re.compile(r"<?[^\s<>()\[\],;:\"']*@[^\s<>()\[\],;:\"']*>?")


def without_addresses(text: str) -> str:
    """A server's reply or any other free text with every email address (anything around an
    ``@``) replaced by ``<address>``: a 550 reply often quotes the refused address."""
    return _ADDRESS.sub("<address>", text)


def message_ref(message_id: str) -> str:
    """A Message-ID as the log keeps it: its unique part, without the brackets and the
    sender's domain (``<3f2a…@example.org>`` -> ``3f2a…``), so no ``@`` reaches the log."""
    return message_id.strip().strip("<>").partition("@")[0]
