"""Claims in the state database: one worker at a time per unit, on any machine.

With the state in PostgreSQL, workers share no folder, so ``outreach.locks``' flock files
cannot keep two of them from publishing the same unit or sending the same newsletter batch.
The unit is claimed with a session advisory lock instead, keyed by a hash of its name, on a
connection held for the block. The claim ends with the session: on release, when the worker
exits, and when it dies (``kill -9``: the server sees the socket close at once; a machine that
vanishes: TCP keepalives end the session within about 25 s, the claim's lease). A waiting
worker says who holds the claim (the holder's ``application_name``: pid, host, since when).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from outreach import store_pg

Notice = Callable[[str], None]
logger = logging.getLogger(__name__)
CLAIMS_CLASS = 0x636C  # "cl": the first half of every claim's two-part advisory key


def claim_key(unit: str) -> int:
    """A 32-bit key for ``unit`` (advisory locks take two int4 halves: class and key)."""
    return int.from_bytes(hashlib.sha256(unit.encode()).digest()[:4], "big", signed=True)


def holder(connection: object, key: int) -> str:
    """Who holds the claim ``key`` now, as it named itself (empty when nobody does)."""
    row = connection.execute(  # type: ignore[attr-defined]
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.classid::bigint = %s AND l.objid::bigint = %s "
        "AND l.granted",
        (CLAIMS_CLASS, key & 0xFFFFFFFF),
    ).fetchone()
    return row[0] if row else ""


@contextmanager
def claim(url: str, unit: str, notice: Notice | None = None) -> Iterator[None]:
    """Hold the claim of ``unit`` in the database at ``url`` for the block, waiting for
    another worker that holds it (``notice`` says who; default: a warning in the log)."""
    since = datetime.now(UTC).isoformat(timespec="seconds")
    name = f"outreach pid {os.getpid()} on {socket.gethostname()} since {since}"[:63]
    connection = store_pg.connect_raw(url, autocommit=True, name=name)
    key = claim_key(unit)
    try:
        taken = connection.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (CLAIMS_CLASS, key)
        ).fetchone()
        if not (taken and taken[0]):
            by = holder(connection, key) or "another worker"
            (notice or logger.warning)(
                f"Waiting for {unit}: {by} is doing it now (claimed in the state database); "
                "this run goes on when it finishes and does only what is left."
            )
            connection.execute("SELECT pg_advisory_lock(%s, %s)", (CLAIMS_CLASS, key))
        yield
    finally:
        connection.close()  # ending the session releases the claim


def recipient_key(send_id: str, email: str) -> int:
    """A 64-bit key for one recipient of one send (the one-key form of advisory locks, a key
    space apart from the two-part unit claims)."""
    digest = hashlib.sha256(f"sending {send_id} to {email}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def claim_recipients(
    url: str, send_id: str, emails: Sequence[str], notice: Notice | None = None
) -> Iterator[list[str]]:
    """Claim those of ``emails`` no other worker has claimed, without waiting (the
    ``SKIP LOCKED`` of advisory locks), and yield them, in order: two workers sending the
    same issue take disjoint recipients and send in parallel. The claims end with the block,
    or with the session when the worker dies; a recipient left pending is sent by a rerun."""
    since = datetime.now(UTC).isoformat(timespec="seconds")
    name = f"outreach pid {os.getpid()} on {socket.gethostname()} since {since}"[:63]
    connection = store_pg.connect_raw(url, autocommit=True, name=name)
    try:
        keys = {recipient_key(send_id, email): email for email in emails}
        taken = {
            row[0]
            for row in connection.execute(
                "SELECT k FROM unnest(%s::bigint[]) AS k WHERE pg_try_advisory_lock(k)",
                (list(keys),),
            )
        }
        mine = [email for email in emails if recipient_key(send_id, email) in taken]
        if len(mine) < len(emails):
            (notice or logger.info)(
                f"{len(emails) - len(mine)} recipients of {send_id} in this batch are being "
                "sent by another worker now; this run leaves them to it."
            )
        yield mine
    finally:
        connection.close()  # ending the session releases every claim
