"""One newsletter pace for every worker: ``[newsletter] rate_per_second`` held across machines.

Each sending process paces itself (``mail_transport.RateLimiter``), so two workers sending
the same issue would reach the relay at twice the configured rate. With the state in
PostgreSQL (``[state] url``), every message first reserves the next free slot of a schedule
kept in one row of the state database (one row per relay): the row holds the time of the next
free slot, and a reservation moves it on by ``1 / rate`` seconds in one UPDATE, so the slots
of all workers together are spaced at the configured rate. Times come from the database's
clock, so the machines' clocks need not agree. A worker that dies leaves at most its one
reserved slot unused. Embedded state (one machine, SQLite) keeps the per-process pace only.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from outreach.config import Settings
from outreach.mail_transport import RelayHooks, Throttle
from outreach.store import Migration, Schema, Store, database_of

SCHEMA = Schema(
    "send_pace",
    (
        Migration(
            1,
            "the next free sending slot of each relay",
            (
                "CREATE TABLE IF NOT EXISTS send_pace ("
                " relay TEXT PRIMARY KEY,"
                " next_slot DOUBLE PRECISION NOT NULL)",
            ),
        ),
    ),
)

RESERVE = """
INSERT INTO send_pace AS p (relay, next_slot)
VALUES (%(relay)s, EXTRACT(EPOCH FROM clock_timestamp()) + %(interval)s)
ON CONFLICT (relay) DO UPDATE
SET next_slot = GREATEST(p.next_slot, EXTRACT(EPOCH FROM clock_timestamp())) + %(interval)s
RETURNING p.next_slot - %(interval)s - EXTRACT(EPOCH FROM clock_timestamp())
"""
"""Reserve the next slot; returns how many seconds from now it starts (0 or less: now)."""


class SharedPace:
    """Waits, before each message, for this process's next slot of the relay's schedule."""

    def __init__(self, url: str, relay: str, rate: float):
        self.relay, self.url = relay, url
        self.interval = 1.0 / rate
        self._connection = self._connect()
        self._lock = threading.Lock()  # one connection, shared by the sending threads

    def _connect(self):
        from outreach import store_pg

        return store_pg.connect_raw(self.url, autocommit=True, name="outreach send pace")

    def __call__(self) -> None:
        import psycopg

        from outreach.mail_errors import MailTransient

        values = {"relay": self.relay, "interval": self.interval}
        with self._lock:
            try:
                row = self._connection.execute(RESERVE, values).fetchone()
            except psycopg.OperationalError:
                # A send runs for hours: the database may have restarted or dropped an idle
                # connection meanwhile. Connect again once; if that fails too the send stops
                # here, worth retrying, with the message still pending.
                try:
                    self._connection.close()
                    self._connection = self._connect()
                    row = self._connection.execute(RESERVE, values).fetchone()
                except (psycopg.Error, sqlite3.Error) as exc:  # connect_raw's refusal
                    raise MailTransient(
                        f"the shared newsletter pace in the state database is unreachable "
                        f"({type(exc).__name__}); the send stopped with the rest pending: run "
                        "it again once the database answers"
                    ) from exc
        wait = float(row[0]) if row else 0.0
        if wait > 0:
            time.sleep(wait)  # this process's slot is that far ahead: the pace is the point

    def close(self) -> None:
        self._connection.close()


@contextmanager
def newsletter_pace(settings: Settings) -> Iterator[Throttle | None]:
    """The pace shared by every worker sending newsletters through the configured relay at
    ``[newsletter] rate_per_second``, for the block, when the state is in PostgreSQL; None
    otherwise (the outbox, no rate, or embedded state: one machine, where each process's own
    pace applies)."""
    url = database_of(settings.paths.ledger)
    rate = settings.newsletter.rate_per_second
    if url is None or not rate or settings.mail.platform != "smtp":
        yield None
        return
    Store(settings.paths.ledger, SCHEMA)  # the table, made by its versioned migration
    pace = SharedPace(url, f"{settings.mail.smtp_host}:{settings.mail.smtp_port}", rate)
    try:
        yield pace
    finally:
        pace.close()


def with_pace(relay: RelayHooks | None, pace: Throttle | None) -> RelayHooks | None:
    """``relay``'s hooks with ``pace`` as the throttle. It replaces a scheduler's own
    per-message rate limit (Prefect's ``outreach-smtp-rate``, one HTTP call to the server
    per message): the database's schedule already holds the newsletter to its rate across
    every worker, at the cost of one short UPDATE."""
    if pace is None:
        return relay
    hooks = relay or RelayHooks()
    return RelayHooks(slots=hooks.slots, throttle=pace, password=hooks.password)
