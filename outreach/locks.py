"""One run at a time per unit of outside work: publishing to a platform, pitching a finding,
sending a newsletter issue.

Two runs on one state folder would otherwise both read "not sent yet" and both send. Each
unit that sends or publishes takes an OS-level lock (``flock``) on a file in the state
folder's ``locks`` folder, then reads what is already done, does the rest and records it.
A second run waits, saying which run holds the lock (pid, host, since when), and then finds
the work done. Only the sending and publishing steps lock, never a whole flow, so a release
paused for pitch approval holds nothing; and the operating system releases the lock when its
process ends, so a crashed run never blocks the next one.

With the state in PostgreSQL (``[state] url``) workers share no folder: the unit is claimed
in the database instead (``outreach.claims``), with the same promises across machines.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from outreach.files import PRIVATE_FILE, private_folder
from outreach.store import database_of

Notice = Callable[[str], None]
logger = logging.getLogger(__name__)


def lock_path(state: Path, unit: str) -> Path:
    """The lock file of ``unit``: readable name, plus a hash so two units never share one."""
    slug = re.sub(r"[^a-z0-9]+", "-", unit.lower()).strip("-")[:60]
    digest = hashlib.sha256(unit.encode()).hexdigest()[:12]
    return state / "locks" / f"{slug}-{digest}.lock"


def holder(path: Path) -> str:
    """Who holds the lock, as its holder wrote it (empty in the instant before it writes)."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


@contextmanager
def hold(state: Path, unit: str, notice: Notice | None = None) -> Iterator[None]:
    """Hold the lock of ``unit`` for the block, waiting for another run that holds it.

    ``notice`` receives the waiting message (default: a warning in the log)."""
    url = database_of(state)
    if url is not None:
        from outreach.claims import claim

        with claim(url, unit, notice):
            yield
        return
    path = lock_path(state, unit)
    private_folder(path.parent)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    held = False
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            by = holder(path) or "another run"
            (notice or logger.warning)(
                f"Waiting for {unit}: {by} is doing it now (lock {path}); this run goes on "
                "when it finishes and does only what is left."
            )
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        mine = f"pid {os.getpid()} on host {socket.gethostname()} since {since}"
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, mine.encode(), 0)
        held = True
        yield
    finally:
        if held:
            os.ftruncate(descriptor, 0)  # nobody holds it now
        os.close(descriptor)  # closing the file releases the lock


@contextmanager
def hold_recipients(
    state: Path, send_id: str, emails: Sequence[str], notice: Notice | None = None
) -> Iterator[list[str]]:
    """The recipients of ``emails`` this run may send to now. On one machine: all of them,
    under the issue's lock (a concurrent run of the issue waits). With the state in
    PostgreSQL: those no other worker has claimed, each claimed in the database, so workers
    send one issue in parallel (``outreach.claims.claim_recipients``)."""
    url = database_of(state)
    if url is None:
        with hold(state, f"sending {send_id}", notice):
            yield list(emails)
        return
    from outreach.claims import claim_recipients

    with claim_recipients(url, send_id, emails, notice) as mine:
        yield mine
