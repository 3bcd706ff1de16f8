"""Sending a newsletter: frozen recipients, durable per-recipient state, resumable.

When a send starts, its recipients are frozen into the ledger database, one row each. Every
row moves from ``pending`` to ``sent`` the moment the SMTP server accepts that message (the
update commits before that connection writes again), or to ``bounced`` on a permanent (5xx)
answer to that recipient's own RCPT or DATA, which also suppresses the subscriber. Transient
failures (4xx, dropped connections) are retried with backoff and otherwise left ``pending``;
the sender's own failures (login, connection, server-wide refusals) stop the send with every
unreached recipient still ``pending`` (see ``outreach.mail_errors``). A send killed at any
point and run again therefore delivers to everyone exactly once, as far as the server's
acceptance can tell: only messages the server never accepted are sent again.

The messages leave through the one mail transport (``outreach.mail_transport``): over SMTP,
several connections run in parallel, each reused for many messages and all driven by one
thread, and one shared limiter keeps the whole send under the configured messages per second.
"""

from __future__ import annotations

import functools
import select
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from outreach import audit
from outreach.mail_transport import MIN_SLEEP, Chain, MailTransport, Outcome
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
    values = (state, detail, datetime.now(UTC).isoformat(), send_id, email)
    if not events:
        connection.execute(UPDATE, values)
        return
    with immediate(connection):
        connection.execute(UPDATE, values)
        audit.insert_events(connection, events)


UPDATE = (
    "UPDATE send_recipients SET state = ?, attempts = attempts + 1, detail = ?, "
    "updated_at = ? WHERE send_id = ? AND email = ?"
)


class _Recorder:
    """Records a send's outcomes in the send log, each group in one transaction.

    The chains report each outcome the moment it is known (``Chain.report``), before their
    connection writes, sleeps or reconnects again, so a crash can only lose the state of a
    message accepted and not yet committed (one a connection at most), never record one the
    server did not accept. Audit events wait for a batch (``AUDIT_BATCH``) and go in with a
    group's rows.
    """

    def __init__(self, connection: sqlite3.Connection, send_id: str):
        self.connection, self.send_id = connection, send_id
        self._events: list[audit.AuditRow] = []

    def record(self, group: list[tuple[str, str | None, str, audit.AuditRow | None]]) -> None:
        """(address, new state or None to leave the row as it is (deferred), the server's
        reply, the audit event) for each outcome of the group."""
        stamp = datetime.now(UTC).isoformat()
        rows = []
        for email, state, detail, event in group:
            if event is not None:
                self._events.append(event)
            if state is not None:
                rows.append((state, detail, stamp, self.send_id, email))
        if not rows:
            return
        events: list[audit.AuditRow] = []
        if len(self._events) >= AUDIT_BATCH:
            events, self._events = self._events, []
        if len(rows) == 1 and not events:
            self.connection.execute(UPDATE, rows[0])  # autocommit: its own transaction
            return
        with immediate(self.connection):
            self.connection.executemany(UPDATE, rows)
            if events:
                audit.insert_events(self.connection, events)

    def close(self) -> None:
        """Commit the events still waiting (also when the send stopped)."""
        events, self._events = self._events, []
        if events:
            with immediate(self.connection):
                audit.insert_events(self.connection, events)


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
    """Send ``emails`` (pending rows of ``send_id``) through ``transport``, over as many
    connections as it has, recording each recipient's state as soon as its outcome is known
    (pacing, retries and reused connections are the transport's).

    One thread drives every connection (``MailTransport.chains``): it hands each idle
    connection its next message, waits until any has answers, reads those and goes on; each
    outcome is recorded (``_Recorder``) the moment a chain knows it. Threads, one a
    connection, spent more time handing Python's lock to each other than sending: this does
    the same work with none of that.

    A SenderFailure (login, connection, a server-wide refusal) stops the send: the answers
    other connections owe are read and recorded, no message is begun, and it is raised; the
    recipients not reached stay pending, none is marked bounced. ``trail`` makes each
    outcome's audit event, written with the recipient's row."""
    report = SendReport()
    done = 0
    work = iter(emails)

    def settle(recorder: _Recorder, outcomes: list[Outcome]) -> None:
        """Record outcomes as they become known, before their connections write again."""
        nonlocal done
        if not outcomes:
            return
        group = []
        for outcome in outcomes:
            email, status, detail = outcome.recipient, outcome.status, outcome.detail
            state, said = STATES[status]
            event = trail(email, said, detail) if trail is not None else None
            group.append((email, state, detail, event))
        recorder.record(group)
        for outcome in outcomes:
            email, status = outcome.recipient, outcome.status
            if status == "sent":
                report.sent += 1
            elif status == "refused":
                on_bounce(email, outcome.detail)
                report.bounced.append(email)
            elif status == "held":
                report.held[email] = outcome.detail
            else:
                report.deferred.append(email)
            done += 1
            if progress is not None:
                progress(done, len(emails))

    def drive(recorder: _Recorder, chains: list[Chain]) -> None:
        idle, waiting = list(chains), []
        more = True
        while True:
            while idle and more:
                if waiting and idle[-1].pace_wait() > MIN_SLEEP:
                    break  # the pace holds the next message back: read answers meanwhile
                email = next(work, None)
                if email is None:
                    more = False
                    break
                chain = idle.pop()
                settle(recorder, chain.put(build(email), email, f"{send_id}:{email}"))
                (waiting if chain.awaiting else idle).append(chain)
            if not waiting:
                break
            timeout = min(WAKE_UP, idle[-1].pace_wait()) if idle and more else WAKE_UP
            ready = _readable(waiting, timeout)
            if not ready and timeout == WAKE_UP:
                ready = waiting[:1]  # nothing within WAKE_UP: read one anyway
            outcomes: list[Outcome] = []
            for chain in ready:
                waiting.remove(chain)
                outcomes += chain.take()
                (waiting if chain.awaiting else idle).append(chain)
            settle(recorder, outcomes)  # chains without ``report`` return their outcomes
        for chain in chains:
            settle(recorder, chain.finish())

    count = max(1, min(transport.connections, len(emails)))
    with log.connect() as connection:
        recorder = _Recorder(connection, send_id)
        try:
            with transport.chains(sender, count) as chains:
                for chain in chains:  # each outcome recorded the moment it is known
                    chain.report = functools.partial(settle, recorder)
                try:
                    drive(recorder, chains)
                except Exception:  # an interrupt (Ctrl-C) waits for no answer
                    _settle_owed(chains, lambda outcomes: settle(recorder, outcomes))
                    raise
        finally:
            recorder.close()  # the last events, also when the send stopped
    return report


STATES: dict[str, tuple[str | None, str]] = {
    "sent": ("sent", "sent"),
    "refused": ("bounced", "bounced"),
    "held": ("pending", "deferred"),
    "deferred": (None, "deferred"),
}
"""An outcome's status -> (the recipient's new state, None: unchanged; the audit outcome)."""

WAKE_UP = 1.0
"""Seconds the sending loop waits for answers before reading one connection's anyway (a
reply could sit in a buffer the loop cannot see: it then waits on the socket's timeout)."""


def _readable(chains: list[Chain], timeout: float) -> list[Chain]:
    """The chains with answers to read within ``timeout`` seconds. ``poll``, not ``select``:
    a long-lived worker may hold descriptors numbered past ``select``'s limit of 1024."""
    if not hasattr(select, "poll"):  # pragma: no cover - platforms without poll
        return select.select(chains, [], [], timeout)[0]
    poller = select.poll()
    by_fd = {chain.fileno(): chain for chain in chains}
    for fd in by_fd:
        poller.register(fd, select.POLLIN | select.POLLPRI)
    return [by_fd[fd] for fd, _ in poller.poll(timeout * 1000)]


def _settle_owed(chains: list[Chain], settle: Callable[[list[Outcome]], None]) -> None:
    """When a send stops on an error: the answers still owed for messages already ended
    are read and recorded (they may have been accepted); open envelopes stay unfinished and
    their connections are closed (nothing of those messages is delivered)."""
    for chain in chains:
        try:
            while chain.awaiting:
                settle(chain.take())
        except Exception:  # the first error is the one raised; this chain is closed
            continue
