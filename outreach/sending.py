"""Sending a newsletter: frozen recipients, durable per-recipient state, resumable.

When a send starts, its recipients are frozen into the ledger database, one row each. Every
row moves from ``pending`` to ``sent`` the moment the SMTP server accepts that message (the
update commits before the next message starts), or to ``bounced`` on a permanent (5xx)
answer to that recipient's own RCPT or DATA, which also suppresses the subscriber. Transient
failures (4xx, dropped connections) are retried with backoff and otherwise left ``pending``;
the sender's own failures (login, connection, server-wide refusals) stop the send with every
unreached recipient still ``pending`` (see ``outreach.mail_errors``). A send killed at any
point and run again therefore delivers to everyone exactly once, as far as the server's
acceptance can tell: only messages the server never accepted are sent again.

The messages leave through the one mail transport (``outreach.mail_transport``): over SMTP,
several connections run in parallel, each reused for many messages, and one shared limiter
keeps the whole send under the configured messages per second.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from outreach import audit
from outreach.mail_transport import MailTransport
from outreach.store import Migration, Schema, Store, immediate

SENDS = """
CREATE TABLE IF NOT EXISTS sends (
    send_id    TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    frozen_at  TEXT NOT NULL,
    recipients INTEGER NOT NULL
)"""
SEND_RECIPIENTS = """
CREATE TABLE IF NOT EXISTS send_recipients (
    send_id    TEXT NOT NULL,
    email      TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'bounced', 'skipped')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    detail     TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (send_id, email)
)"""
SCHEMA = Schema(
    "sends",
    (Migration(1, "sends and their recipients", (SENDS, SEND_RECIPIENTS)),),
    unversioned=("sends", "send_recipients"),
)
"""Migration 1 is the schema as it was before versions were recorded (see outreach.store)."""


@dataclass(frozen=True)
class SendCounts:
    total: int
    sent: int
    bounced: int
    pending: int


class SendLog:
    """The per-recipient record of every send, in the ledger's SQLite file."""

    def __init__(self, path: Path):
        self.path = path
        # The audit log shares the file: each recipient's "send" event is written in the
        # same transaction as the row's new state (no transaction of its own per message).
        self._store = Store(path, SCHEMA, audit.SCHEMA, synchronous="NORMAL", timeout=60)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """An autocommit connection the sending threads share (writes serialised by them)."""
        connection = self._store.open(autocommit=True, threads=True)
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def kept_open(self) -> Iterator[None]:
        """Keep one connection open for the block (a whole send): closing the last
        connection to a WAL file checkpoints it and syncs it to disk, which every batch's
        short-lived connections did in turn, at several milliseconds each."""
        with self.connect():
            yield

    def freeze(self, send_id: str, subject: str, emails: Iterable[str], when: datetime) -> bool:
        """Record the recipients of a new send; False (and no change) if it was frozen before."""
        with self.connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            if connection.execute("SELECT 1 FROM sends WHERE send_id = ?", (send_id,)).fetchone():
                connection.execute("ROLLBACK")
                return False
            stamp = when.isoformat()
            count = [0]

            def rows() -> Iterator[tuple[str, str, str]]:
                for email in emails:
                    count[0] += 1
                    yield send_id, email, stamp

            connection.executemany(
                "INSERT OR IGNORE INTO send_recipients (send_id, email, state, updated_at) "
                "VALUES (?, ?, 'pending', ?)",
                rows(),
            )
            connection.execute(
                "INSERT INTO sends VALUES (?, ?, ?, ?)", (send_id, subject, stamp, count[0])
            )
            connection.execute("COMMIT")
            return True

    def add(self, send_id: str, emails: Iterable[str], when: datetime) -> int:
        """Add recipients to a frozen send (a catch-up: subscribers who joined after it went
        out), as pending; those already in it, whatever their state, are left alone. One
        write transaction, so two catch-ups at once add each address once. Returns how many
        were added (0 as well when the send was never frozen: nothing is added then)."""
        with self.connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            if not connection.execute(
                "SELECT 1 FROM sends WHERE send_id = ?", (send_id,)
            ).fetchone():
                connection.execute("ROLLBACK")
                return 0
            before = connection.total_changes
            connection.executemany(
                "INSERT OR IGNORE INTO send_recipients (send_id, email, state, updated_at) "
                "VALUES (?, ?, 'pending', ?)",
                ((send_id, email, when.isoformat()) for email in emails),
            )
            added = connection.total_changes - before
            connection.execute(
                "UPDATE sends SET recipients = recipients + ? WHERE send_id = ?", (added, send_id)
            )
            connection.execute("COMMIT")
            return added

    def is_frozen(self, send_id: str) -> bool:
        with self.connect() as connection:
            found = connection.execute("SELECT 1 FROM sends WHERE send_id = ?", (send_id,))
            return found.fetchone() is not None

    def not_in(self, send_id: str, emails: Iterable[str]) -> list[str]:
        """Those of ``emails`` who are not recipients of the send (joined after it froze)."""
        missing: list[str] = []
        chunk: list[str] = []
        with self.connect() as connection:

            def flush() -> None:
                marks = ",".join("?" * len(chunk))
                known = {
                    row[0]
                    for row in connection.execute(
                        "SELECT email FROM send_recipients "
                        f"WHERE send_id = ? AND email IN ({marks})",
                        [send_id, *chunk],
                    )
                }
                missing.extend(email for email in chunk if email not in known)
                chunk.clear()

            for email in emails:
                chunk.append(email)
                if len(chunk) == 500:
                    flush()
            if chunk:
                flush()
        return missing

    def pending_batches(self, send_id: str, size: int) -> Iterator[list[str]]:
        """Pending addresses, ``size`` at a time, read as they are needed (keyset paging)."""
        last = ""
        while True:
            with self.connect() as connection:
                batch = [
                    row[0]
                    for row in connection.execute(
                        "SELECT email FROM send_recipients WHERE send_id = ? AND state = 'pending' "
                        "AND email > ? ORDER BY email LIMIT ?",
                        (send_id, last, size),
                    )
                ]
            if not batch:
                return
            yield batch
            last = batch[-1]

    def still_pending(self, send_id: str, emails: list[str]) -> list[str]:
        """Those of ``emails`` not yet sent or bounced (a retried batch skips the rest)."""
        pending: set[str] = set()
        with self.connect() as connection:
            for start in range(0, len(emails), 500):
                chunk = emails[start : start + 500]
                marks = ",".join("?" * len(chunk))
                pending.update(
                    row[0]
                    for row in connection.execute(
                        "SELECT email FROM send_recipients "
                        f"WHERE send_id = ? AND state = 'pending' AND email IN ({marks})",
                        [send_id, *chunk],
                    )
                )
        return [email for email in emails if email in pending]

    def mark(self, send_id: str, email: str, state: str, detail: str) -> None:
        with self.connect() as connection:
            mark(connection, send_id, email, state, detail)

    def counts(self, send_id: str) -> SendCounts:
        with self.connect() as connection:
            rows = dict(
                connection.execute(
                    "SELECT state, COUNT(*) FROM send_recipients WHERE send_id = ? GROUP BY state",
                    (send_id,),
                ).fetchall()
            )
        sent, bounced, pending = rows.get("sent", 0), rows.get("bounced", 0), rows.get("pending", 0)
        return SendCounts(sum(rows.values()), sent, bounced, pending)


def mark(
    connection: sqlite3.Connection,
    send_id: str,
    email: str,
    state: str,
    detail: str,
    events: Sequence[audit.AuditRow] = (),
) -> None:
    """Move one recipient to ``state``; autocommit, so it is durable before the next message.
    ``events``: audit events committed in the same transaction (a send's batch of them)."""
    update = (
        "UPDATE send_recipients SET state = ?, attempts = attempts + 1, detail = ?, "
        "updated_at = ? WHERE send_id = ? AND email = ?"
    )
    values = (state, detail, datetime.now(UTC).isoformat(), send_id, email)
    if not events:
        connection.execute(update, values)
        return
    with immediate(connection):
        connection.execute(update, values)
        audit.insert_events(connection, events)


AUDIT_BATCH = 100
"""A send's audit events are committed this many at a time, with the recipient row of the
message that fills the batch (and the rest when the send ends or stops). An event in every
message's own transaction tripled the cost of recording a message (about 110 against 40
microseconds here: four more pages written per commit). Only a killed process can lose
events, at most this many less one; never a recipient's state."""


@dataclass
class SendReport:
    sent: int = 0
    bounced: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    """Addresses left pending after transient failures: the next run retries them."""
    held: dict[str, str] = field(default_factory=dict)
    """Addresses this server cannot take (no SMTPUTF8), with the reason: left pending for a
    later run while the rest of the send goes on."""


MessageBuilder = Callable[[str], bytes]
Progress = Callable[[int, int], None]
Trail = Callable[[str, str, str], audit.AuditRow]
"""(address, outcome: sent, bounced or deferred, the server's reply) -> the audit event."""


def send_pending(
    log: SendLog,
    send_id: str,
    emails: list[str],
    build: MessageBuilder,
    sender: str,
    transport: MailTransport,
    on_bounce: Callable[[str, str], None] = lambda email, why: None,
    progress: Progress | None = None,
    trail: Trail | None = None,
) -> SendReport:
    """Send ``emails`` (pending rows of ``send_id``) through ``transport``, from as many
    threads as it has connections, recording each recipient's state as soon as its outcome
    is known (pacing, retries and reused connections are the transport's).

    A SenderFailure (login, connection, a server-wide refusal) stops every thread and is
    raised once they have stopped: the recipients not reached stay pending, none is marked
    bounced. ``trail`` makes each outcome's audit event, written with the recipient's row."""
    work: queue.Queue[str] = queue.Queue()
    for email in emails:
        work.put(email)
    report = SendReport()
    lock = threading.Lock()
    done = [0]
    stop = threading.Event()
    failures: list[BaseException] = []

    write_lock = threading.Lock()

    events: list[audit.AuditRow] = []

    def record(
        connection: sqlite3.Connection, email: str, state: str | None, outcome: str, detail: str
    ) -> None:
        # One writer at a time, through one connection: SQLite's own busy waiting sleeps in
        # milliseconds, which would cap a parallel send far below the server's pace.
        event = trail(email, outcome, detail) if trail is not None else None
        with write_lock:
            if event is not None:
                events.append(event)
            if state is None:  # deferred: the row stays pending; its event waits for a batch
                return
            if len(events) >= AUDIT_BATCH:
                mark(connection, send_id, email, state, detail, events)
                events.clear()
            else:
                mark(connection, send_id, email, state, detail)

    def deliver(db: sqlite3.Connection, email: str) -> None:
        outcome = transport.send(build(email), email, f"{send_id}:{email}", sender)
        if outcome.status == "sent":
            record(db, email, "sent", "sent", outcome.detail)
            with lock:
                report.sent += 1
        elif outcome.status == "refused":
            record(db, email, "bounced", "bounced", outcome.detail)
            on_bounce(email, outcome.detail)
            with lock:
                report.bounced.append(email)
        elif outcome.status == "held":
            record(db, email, "pending", "deferred", outcome.detail)
            with lock:
                report.held[email] = outcome.detail
        else:
            record(db, email, None, "deferred", outcome.detail)
            with lock:
                report.deferred.append(email)

    def worker(db: sqlite3.Connection) -> None:
        try:
            while not stop.is_set():
                try:
                    email = work.get_nowait()
                except queue.Empty:
                    return
                deliver(db, email)
                with lock:
                    done[0] += 1
                    count = done[0]
                if progress is not None:
                    progress(count, len(emails))
        except BaseException as exc:  # re-raised by the caller's thread, never lost
            with lock:
                failures.append(exc)
            stop.set()

    with log.connect() as db:
        threads = [
            threading.Thread(target=worker, args=(db,), daemon=True)
            for _ in range(min(transport.connections, max(1, len(emails))))
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        finally:
            if events:  # the last events, also when the send stopped
                with write_lock, immediate(db):
                    audit.insert_events(db, events)
                events.clear()
    if failures:
        raise failures[0]
    return report
