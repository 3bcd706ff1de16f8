"""The ledger: a small SQLite record of everything published, for idempotent releases.

Keyed by finding, channel, platform and item (a file path, later a recipient), it lets a
re-run know what is already out there, what changed and what it wrote that is now stale.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from outreach import audit, remote_marks
from outreach.store import Migration, Schema, Store

PUBLICATIONS = """
CREATE TABLE IF NOT EXISTS publications (
    finding_id   TEXT NOT NULL,
    channel      TEXT NOT NULL,
    platform     TEXT NOT NULL,
    item         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    url          TEXT,
    remote_id    TEXT,
    published_at TEXT NOT NULL,
    PRIMARY KEY (finding_id, channel, platform, item)
)"""
RENDERS = """
CREATE TABLE IF NOT EXISTS renders (
    finding_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    unit       TEXT NOT NULL,
    input_key  TEXT NOT NULL,
    PRIMARY KEY (finding_id, channel, unit)
)"""
SCHEMA = Schema(
    "ledger",
    (Migration(1, "publications and render keys", (PUBLICATIONS, RENDERS)),),
    unversioned=("publications", "renders"),
)
"""Migration 1 is the schema as it was before versions were recorded (see outreach.store)."""


class Publication(NamedTuple):
    """One published item as recorded. A named tuple: a release reads every item of the
    site (three or more a finding) and a tuple is made from a row at C speed."""

    finding_id: str
    channel: str
    platform: str
    item: str
    content_hash: str
    url: str | None
    remote_id: str | None
    published_at: str


_INSIDE = nullcontext()
"""A transaction entered inside another: nothing to open or commit (reusable)."""
COMMIT_EVERY = 200
"""Records per commit inside a transaction: few disk syncs, little to redo after a crash."""
LOAD_CHUNK = 500
"""Findings per query of ``load_items`` (SQLite allows 32,766 parameters; PostgreSQL more)."""


class Ledger:
    """Open per use; every write commits at once so a crash loses at most the current item,
    unless writes are grouped in ``transaction()``."""

    def __init__(self, path: Path):
        self.path = path
        self._shared: sqlite3.Connection | None = None
        self._uncommitted = 0
        self._settlers: list[Callable[[], None]] = []
        self._loaded: dict[tuple[str, str, bool], dict[str, dict]] = {}
        """(channel, platform, whole records or only addresses) -> finding id -> items, read
        by ``load_items`` for the current transaction (a record or a removal drops its
        finding's entries)."""
        # The audit log lives in the same file: publishes are logged in the ledger's batches.
        self._store = Store(path, SCHEMA, audit.SCHEMA, remote_marks.SCHEMA, synchronous="FULL")

    def settle_before_commit(self, settle: Callable[[], None]) -> None:
        """Run ``settle`` before every commit until the current (or next) transaction ends:
        a platform that makes its writes durable in batches (``files.DeferredSync``) settles
        them there, so a committed record is always of something durably published."""
        if settle not in self._settlers:
            self._settlers.append(settle)

    def _commit(self, connection: sqlite3.Connection) -> None:
        for settle in self._settlers:
            settle()
        connection.commit()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self._shared is not None:
            yield self._shared
            return
        with self._store.connection() as connection:
            yield connection

    def transaction(self) -> AbstractContextManager[None]:
        """One connection for many records, committed every COMMIT_EVERY records and at the
        end, also when the work stops midway. A crash loses at most the uncommitted records,
        not the files: the next run finds the files (or uploads them again) and records them.
        Inside a transaction, another one is part of it (a release enters one per batch of
        its publish stage: a plain object for those, not a generator each)."""
        if self._shared is not None:
            return _INSIDE
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        connection = self._store.open()
        self._shared = connection
        try:
            yield
        finally:
            # Commit even when the batch stopped midway: every record is of something done
            # (and settled; a failed settle rolls the uncommitted records back).
            try:
                self._commit(connection)
            finally:
                self._shared, self._uncommitted, self._settlers = None, 0, []
                self._loaded = {}
                connection.close()

    @contextmanager
    def held_open(self) -> Iterator[None]:
        """Keep one idle connection to the file open meanwhile. When the last connection to a
        WAL database closes, SQLite checkpoints the log into the file and syncs it; a release
        opens and closes the ledger a few times per batch, so it holds it open and the log is
        checkpointed as it fills (every 1,000 pages) and once at the end, not at every close.
        Commits are synced as before (``synchronous=FULL``)."""
        keeper = self._store.open()
        try:
            yield
        finally:
            keeper.close()

    def load_items(
        self, channel: str, platform: str, finding_ids: Iterable[str], whole: bool = True
    ) -> None:
        """Read the items of many findings at once, for ``items`` (``whole``) or ``item_urls``
        to answer from during the current ``transaction()`` (outside one this does nothing).
        A release publishes its findings in batches: one query a batch instead of one a
        finding, and only each item's address for the findings it keeps as they are."""
        if self._shared is None:
            return
        wanted = list(dict.fromkeys(finding_ids))
        loaded = self._loaded.setdefault((channel, platform, whole), {})
        columns = "*" if whole else "finding_id, item, url"
        for start in range(0, len(wanted), LOAD_CHUNK):
            chunk = wanted[start : start + LOAD_CHUNK]
            found: dict[str, dict] = {finding_id: {} for finding_id in chunk}
            rows = self._shared.execute(
                f"SELECT {columns} FROM publications WHERE channel=? AND platform=? AND "
                f"finding_id IN ({', '.join('?' * len(chunk))})",
                (channel, platform, *chunk),
            ).fetchall()
            if whole:
                for row in rows:
                    found[row[0]][row[3]] = Publication._make(row)
            else:
                for finding_id, item, url in rows:
                    found[finding_id][item] = url
            loaded.update(found)

    def items(self, finding_id: str, channel: str, platform: str) -> dict[str, Publication]:
        loaded = self._loaded.get((channel, platform, True))
        if loaded is not None and finding_id in loaded:
            return dict(loaded[finding_id])
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT * FROM publications WHERE finding_id=? AND channel=? AND platform=?",
                (finding_id, channel, platform),
            ).fetchall()
        return {row[3]: Publication._make(row) for row in rows}

    def item_urls(self, finding_id: str, channel: str, platform: str) -> dict[str, str | None]:
        """Item -> its address, for a finding whose items are kept as they are."""
        for whole in (False, True):
            loaded = self._loaded.get((channel, platform, whole))
            if loaded is not None and finding_id in loaded:
                found = loaded[finding_id]
                return {item: p.url for item, p in found.items()} if whole else dict(found)
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT item, url FROM publications WHERE finding_id=? AND channel=? AND "
                "platform=?",
                (finding_id, channel, platform),
            ).fetchall()
        return dict(rows)

    def record(
        self,
        finding_id: str,
        channel: str,
        platform: str,
        item: str,
        content_hash: str,
        url: str | None,
        when: datetime,
        remote_id: str | None = None,
    ) -> None:
        self._unload(finding_id, channel, platform)
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO publications VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (finding_id, channel, platform, item) DO UPDATE SET "
                "content_hash=excluded.content_hash, url=excluded.url, "
                "remote_id=COALESCE(excluded.remote_id, publications.remote_id), "
                "published_at=excluded.published_at",
                (
                    finding_id,
                    channel,
                    platform,
                    item,
                    content_hash,
                    url,
                    remote_id,
                    when.isoformat(),
                ),
            )
            self._wrote(connection)

    def _unload(self, finding_id: str, channel: str, platform: str) -> None:
        """A write to a finding's items: ``items`` reads them again."""
        for whole in (False, True):
            loaded = self._loaded.get((channel, platform, whole))
            if loaded is not None:
                loaded.pop(finding_id, None)

    def _wrote(self, connection: sqlite3.Connection) -> None:
        if connection is self._shared:
            self._uncommitted += 1
            if self._uncommitted >= COMMIT_EVERY:
                self._commit(connection)
                self._uncommitted = 0

    def record_events(self, rows: list[audit.AuditRow]) -> None:
        """Append audit events with the ledger's records: in ``transaction()`` they commit
        with the batch they describe (a publish is logged exactly when its record is)."""
        if not rows:
            return
        with self._connect() as connection:
            audit.insert_events(connection, rows)
            self._wrote(connection)

    def record_mark(self, platform: str, remote_id: str, mark: str) -> None:
        """What the platform reported for a remote item just written (``remote_marks``)."""
        with self._connect() as connection:
            remote_marks.record(connection, platform, remote_id, mark)
            self._wrote(connection)

    def marks(self, platform: str) -> dict[str, str]:
        """Remote id -> the mark recorded when the pipeline last wrote the item."""
        with self._connect() as connection:
            return remote_marks.load(connection, platform)

    def forget(self, finding_id: str, channel: str, platform: str, item: str) -> None:
        self._unload(finding_id, channel, platform)
        with self._connect() as connection:
            connection.execute(
                "DELETE FROM publications "
                "WHERE finding_id=? AND channel=? AND platform=? AND item=?",
                (finding_id, channel, platform, item),
            )
            self._wrote(connection)

    def channel_items(self, channel: str, platform: str) -> dict[str, dict[str, Publication]]:
        """Every published item of a channel on a platform, by finding id then item."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT * FROM publications WHERE channel=? AND platform=?", (channel, platform)
            ).fetchall()
        found: dict[str, dict[str, Publication]] = {}
        for row in rows:
            found.setdefault(row[0], {})[row[3]] = Publication._make(row)
        return found

    def channel_marks(self, channel: str, platform: str) -> dict[str, dict[str, str | None]]:
        """Every published item of a channel on a platform with the remote id recorded for
        it (what ``Platform.holds`` compares), by finding id: three columns, not the whole
        record, as a release asks this of every file of the site."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT finding_id, item, remote_id FROM publications "
                "WHERE channel=? AND platform=?",
                (channel, platform),
            ).fetchall()
        found: dict[str, dict[str, str | None]] = {}
        for finding_id, item, remote_id in rows:
            found.setdefault(finding_id, {})[item] = remote_id
        return found

    def platform_items(self, platform: str) -> list[Publication]:
        """Everything recorded as published on ``platform``, of every channel."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT * FROM publications WHERE platform=? ORDER BY channel, finding_id, item",
                (platform,),
            ).fetchall()
        return [Publication._make(row) for row in rows]

    def render_keys(self, channel: str) -> dict[tuple[str, str], str]:
        """(finding id, unit) -> the input key of what was last published for the channel.

        A unit is a finding's batch ("") or one site-wide page. Equal keys mean equal inputs,
        so the output need not be rendered again."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT finding_id, unit, input_key FROM renders WHERE channel=?", (channel,)
            ).fetchall()
        return {(finding_id, unit): key for finding_id, unit, key in rows}

    def record_render_keys(self, channel: str, keys: dict[tuple[str, str], str]) -> None:
        with self._connect() as connection:
            connection.executemany(
                "INSERT INTO renders VALUES (?, ?, ?, ?) ON CONFLICT (finding_id, channel, unit) "
                "DO UPDATE SET input_key=excluded.input_key",
                [(finding_id, channel, unit, key) for (finding_id, unit), key in keys.items()],
            )

    def released(self, channel: str) -> set[str]:
        """Ids of findings that have anything published on ``channel``."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT DISTINCT finding_id FROM publications WHERE channel=? AND finding_id != ''",
                (channel,),
            ).fetchall()
        return {row[0] for row in rows}
