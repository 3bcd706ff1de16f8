"""Event registrations: double opt-in, capacity with a waiting list, cancel, in SQLite.

The registrations live in the subscriber file (a schema of their own there), beside the
suppression list, so erasing a person reaches them in the same place. A public form never
changes a confirmed record: signing up again with a known address leaves the row as it is
(the owner confirms or cancels through the signed links mailed to them).

States: ``pending`` (signed up, not confirmed), ``confirmed`` (has a seat), ``waiting``
(confirmed, but the event was full), ``cancelled``. Confirming and cancelling each run in one
``BEGIN IMMEDIATE`` transaction, so two confirmations at once never take the last seat twice
and a cancelled seat goes to exactly one person on the waiting list (the earliest).

Every email a change owes a registrant (the invite for a seat, the waiting-list note, a
cancellation) is written into ``event_mail`` in the same transaction as the change, and
``outreach.events.outbox`` sends it through the crash-safe send log: a crash between the
change and the email loses nothing, and a retry mails nobody twice.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from outreach.store import Migration, Schema, Store
from outreach.subscribers import check_topics, clean_name, csv_cell, normalise_email

State = Literal["pending", "confirmed", "waiting", "cancelled"]
SEATED: tuple[State, ...] = ("confirmed",)
REGISTRATIONS = """
CREATE TABLE IF NOT EXISTS event_registrations (
    event_id     TEXT NOT NULL,
    email        TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    organisation TEXT NOT NULL DEFAULT '',
    topics       TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'waiting', 'cancelled')),
    signed_up_at TEXT NOT NULL,
    confirmed_at TEXT NOT NULL DEFAULT '',
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (event_id, email)
)"""
MAIL = """
CREATE TABLE IF NOT EXISTS event_mail (
    mail_id  TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    email    TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('confirm', 'invite', 'promoted', 'waiting', 'cancel')),
    made_at  TEXT NOT NULL,
    done     INTEGER NOT NULL DEFAULT 0
)"""
SCHEMA = Schema(
    "registrations",
    (
        Migration(1, "event registrations", (REGISTRATIONS,)),
        Migration(2, "registrant emails owed, written with the change that owes them", (MAIL,)),
    ),
)
"""Kept in the subscriber file (``settings.paths.subscribers``)."""
MailKind = Literal["confirm", "invite", "promoted", "waiting", "cancel"]


@dataclass(frozen=True)
class OwedMail:
    """One email a registrant is owed (``outreach.events.outbox`` sends it, once)."""

    mail_id: str
    """Its send id in the send log; names no address (erasure leaves none behind)."""
    event_id: str
    email: str
    kind: MailKind
    made_at: str


def _owe(
    connection: sqlite3.Connection, event_id: str, email: str, kind: MailKind, stamp: str
) -> None:
    """Record an email owed, inside the transaction of the change that owes it: a crash
    after the change can no longer lose the email."""
    connection.execute(
        "INSERT INTO event_mail (mail_id, event_id, email, kind, made_at) VALUES (?, ?, ?, ?, ?)",
        (f"event-{kind}:{event_id}:{uuid.uuid4().hex}", event_id, email, kind, stamp),
    )


CSV_COLUMNS = ("email", "name", "organisation", "state", "topics", "signed_up_at", "confirmed_at")


@dataclass(frozen=True)
class Registration:
    event_id: str
    email: str
    name: str
    organisation: str
    topics: tuple[str, ...]
    """Topics the person agreed to hear of future events about (empty: no consent)."""
    state: State
    signed_up_at: str
    confirmed_at: str


@dataclass(frozen=True)
class Cancelled:
    """What a cancellation did: the cancelled row (None if there was none to cancel) and the
    person promoted from the waiting list into the freed seat, if any."""

    registration: Registration | None
    promoted: Registration | None


def _row(row: sqlite3.Row) -> Registration:
    return Registration(
        row["event_id"],
        row["email"],
        row["name"],
        row["organisation"],
        tuple(t for t in row["topics"].split(",") if t),
        row["state"],
        row["signed_up_at"],
        row["confirmed_at"],
    )


class RegistrationStore:
    """Registrations for every event, in ``path`` (the subscriber file)."""

    def __init__(self, path: Path):
        self.path = path
        self._store = Store(path, SCHEMA)

    def _get(
        self, connection: sqlite3.Connection, event_id: str, email: str
    ) -> Registration | None:
        row = connection.execute(
            "SELECT * FROM event_registrations WHERE event_id = ? AND email = ?",
            (event_id, email),
        ).fetchone()
        return _row(row) if row else None

    def get(self, event_id: str, email: str) -> Registration | None:
        with self._store.connection(rows=True) as connection:
            return self._get(connection, event_id, normalise_email(email))

    def sign_up(
        self,
        event_id: str,
        email: str,
        name: str,
        organisation: str,
        topics: Iterable[str],
        when: datetime,
    ) -> Registration:
        """A new registration as ``pending``; a known address (any state but cancelled) is
        left exactly as it is. A cancelled one goes back to pending with its details as they
        were: only the owner, through the link mailed to them, takes a seat again."""
        address = normalise_email(email)
        given = [t for t in topics if t.strip()]
        chosen = check_topics(given) if given else ()
        stamp = when.isoformat()
        with self._store.transaction(rows=True) as connection:
            connection.execute(
                "INSERT INTO event_registrations VALUES (?, ?, ?, ?, ?, 'pending', ?, '', ?) "
                "ON CONFLICT (event_id, email) DO UPDATE SET state = 'pending', "
                "updated_at = excluded.updated_at WHERE event_registrations.state = 'cancelled'",
                (
                    event_id,
                    address,
                    clean_name(name),
                    clean_name(organisation),
                    ",".join(chosen),
                    stamp,
                    stamp,
                ),
            )
            found = self._get(connection, event_id, address)
        assert found is not None
        return found

    def confirm(
        self, event_id: str, email: str, capacity: int | None, when: datetime
    ) -> tuple[Registration | None, bool]:
        """Pending -> confirmed while seats remain (``capacity`` None: no limit) once everyone
        already waiting has one, else waiting; and whether this call made the change (so
        two clicks at once mail one invite). Confirmed, waiting and cancelled rows are
        returned unchanged; None when there is no registration."""
        address = normalise_email(email)
        with self._store.transaction(rows=True) as connection:
            found = self._get(connection, event_id, address)
            if found is None or found.state != "pending":
                return found, False
            # Seats a raised capacity freed go to those already waiting, before a newcomer.
            while self._promote(connection, event_id, capacity, when.isoformat()) is not None:
                pass
            seated = connection.execute(
                "SELECT COUNT(*) FROM event_registrations WHERE event_id = ? AND state = "
                "'confirmed'",
                (event_id,),
            ).fetchone()[0]
            state = "confirmed" if capacity is None or seated < capacity else "waiting"
            connection.execute(
                "UPDATE event_registrations SET state = ?, confirmed_at = ?, updated_at = ? "
                "WHERE event_id = ? AND email = ?",
                (state, when.isoformat(), when.isoformat(), event_id, address),
            )
            kind: MailKind = "invite" if state == "confirmed" else "waiting"
            _owe(connection, event_id, address, kind, when.isoformat())
            return self._get(connection, event_id, address), True

    def cancel(self, event_id: str, email: str, capacity: int | None, when: datetime) -> Cancelled:
        """Cancel a registration; a freed seat goes to the first person on the waiting list
        (by confirmation time) while the event has fewer seated than ``capacity``."""
        address = normalise_email(email)
        stamp = when.isoformat()
        with self._store.transaction(rows=True) as connection:
            found = self._get(connection, event_id, address)
            if found is None or found.state == "cancelled":
                return Cancelled(None, None)
            connection.execute(
                "UPDATE event_registrations SET state = 'cancelled', updated_at = ? "
                "WHERE event_id = ? AND email = ?",
                (stamp, event_id, address),
            )
            if found.state == "confirmed":  # takes the entry out of the invite's calendar
                _owe(connection, event_id, address, "cancel", stamp)
            promoted = self._promote(connection, event_id, capacity, stamp)
            return Cancelled(self._get(connection, event_id, address), promoted)

    def fill_seats(self, event_id: str, capacity: int | None, when: datetime) -> list[Registration]:
        """Seat people from the waiting list, first come first served, while the event has
        fewer seated than ``capacity`` (None: everyone waiting), each with the invite owed.
        Never unseats anyone: a lowered capacity only stops new seats."""
        stamp = when.isoformat()
        promoted: list[Registration] = []
        with self._store.transaction(rows=True) as connection:
            while (seated := self._promote(connection, event_id, capacity, stamp)) is not None:
                promoted.append(seated)
        return promoted

    def consenting(self, topics: Iterable[str], but_event: str = "") -> dict[str, set[str]]:
        """Addresses that confirmed a registration (any event but ``but_event``) and agreed
        to hear of future events on any of ``topics``: address -> the topics they chose."""
        wanted = set(topics)
        chosen: dict[str, set[str]] = {}
        with self._store.connection(rows=True) as connection:
            rows = connection.execute(
                "SELECT email, topics FROM event_registrations WHERE event_id != ? AND "
                "topics != '' AND confirmed_at != '' ORDER BY email",
                (but_event,),
            ).fetchall()
        for row in rows:
            mine = {t for t in row["topics"].split(",") if t}
            if mine & wanted:
                chosen.setdefault(row["email"], set()).update(mine)
        return chosen

    def registered_for(self, event_id: str) -> set[str]:
        """Addresses holding a registration for the event (cancelled ones aside)."""
        return {r.email for r in self.of_event(event_id) if r.state != "cancelled"}

    def withdraw_consent(self, email: str, when: datetime) -> int:
        """Forget every topic the address agreed to hear of future events about (it
        unsubscribed); returns how many registrations held some."""
        with self._store.transaction() as connection:
            return connection.execute(
                "UPDATE event_registrations SET topics = '', updated_at = ? "
                "WHERE email = ? AND topics != ''",
                (when.isoformat(), normalise_email(email)),
            ).rowcount

    def owe_mail(self, event_id: str, email: str, kind: MailKind, when: datetime) -> None:
        """Record an email owed that no state change carries (the confirmation link)."""
        with self._store.transaction() as connection:
            _owe(connection, event_id, normalise_email(email), kind, when.isoformat())

    def owed(self, event_id: str | None = None) -> list[OwedMail]:
        """Emails owed and not yet sent to the end (oldest first), of one event or all."""
        query = "SELECT mail_id, event_id, email, kind, made_at FROM event_mail WHERE done = 0"
        values: tuple[str, ...] = ()
        if event_id is not None:
            query, values = query + " AND event_id = ?", (event_id,)
        with self._store.connection() as connection:
            rows = connection.execute(query + " ORDER BY made_at, mail_id", values).fetchall()
        return [OwedMail(*row) for row in rows]

    def settle_mail(self, mail_id: str) -> None:
        """The owed email was sent, bounced or skipped: nothing is owed any more."""
        with self._store.transaction() as connection:
            connection.execute("UPDATE event_mail SET done = 1 WHERE mail_id = ?", (mail_id,))

    def _promote(
        self, connection: sqlite3.Connection, event_id: str, capacity: int | None, stamp: str
    ) -> Registration | None:
        seated = connection.execute(
            "SELECT COUNT(*) FROM event_registrations WHERE event_id = ? AND state = 'confirmed'",
            (event_id,),
        ).fetchone()[0]
        if capacity is not None and seated >= capacity:
            return None
        row = connection.execute(
            "SELECT email FROM event_registrations WHERE event_id = ? AND state = 'waiting' "
            "ORDER BY confirmed_at, signed_up_at, email LIMIT 1",
            (event_id,),
        ).fetchone()
        if row is None:
            return None
        connection.execute(
            "UPDATE event_registrations SET state = 'confirmed', updated_at = ? "
            "WHERE event_id = ? AND email = ?",
            (stamp, event_id, row["email"]),
        )
        _owe(connection, event_id, row["email"], "promoted", stamp)
        return self._get(connection, event_id, row["email"])

    def of_event(self, event_id: str, states: Iterable[State] | None = None) -> list[Registration]:
        """An event's registrations in ``states`` (default: all), sorted by address."""
        with self._store.connection(rows=True) as connection:
            rows = connection.execute(
                "SELECT * FROM event_registrations WHERE event_id = ? ORDER BY email",
                (event_id,),
            ).fetchall()
        wanted = set(states) if states is not None else None
        return [r for r in map(_row, rows) if wanted is None or r.state in wanted]

    def confirmed_emails(self, event_id: str) -> Iterator[str]:
        """Addresses holding a seat, in address order (a reminder's recipients)."""
        for registration in self.of_event(event_id, SEATED):
            yield registration.email

    def counts(self, event_id: str) -> dict[str, int]:
        with self._store.connection() as connection:
            rows = connection.execute(
                "SELECT state, COUNT(*) FROM event_registrations WHERE event_id = ? GROUP BY state",
                (event_id,),
            ).fetchall()
        return {state: count for state, count in rows}

    def export_csv(self, event_id: str) -> str:
        """The event's registrations as CSV; every cell safe to open in a spreadsheet."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in self.of_event(event_id):
            values = (
                r.email,
                r.name,
                r.organisation,
                r.state,
                ";".join(r.topics),
                r.signed_up_at,
                r.confirmed_at,
            )
            writer.writerow([csv_cell(v) for v in values])
        return buffer.getvalue()
