"""The ledger: a small SQLite record of everything published, for idempotent releases.

Keyed by finding, channel, platform and item (a file path, later a recipient), it lets a
re-run know what is already out there, what changed and what it wrote that is now stale.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SCHEMA = """
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
);
"""


@dataclass(frozen=True)
class Publication:
    finding_id: str
    channel: str
    platform: str
    item: str
    content_hash: str
    url: str | None
    remote_id: str | None
    published_at: str


class Ledger:
    """Open per use; every write commits at once so a crash loses at most the current item."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            with connection:
                yield connection
        finally:
            connection.close()

    def items(self, finding_id: str, channel: str, platform: str) -> dict[str, Publication]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT * FROM publications WHERE finding_id=? AND channel=? AND platform=?",
                (finding_id, channel, platform),
            ).fetchall()
        return {row[3]: Publication(*row) for row in rows}

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
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO publications VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (finding_id, channel, platform, item) DO UPDATE SET "
                "content_hash=excluded.content_hash, url=excluded.url, "
                "remote_id=COALESCE(excluded.remote_id, remote_id), "
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

    def forget(self, finding_id: str, channel: str, platform: str, item: str) -> None:
        with self._connect() as connection:
            connection.execute(
                "DELETE FROM publications "
                "WHERE finding_id=? AND channel=? AND platform=? AND item=?",
                (finding_id, channel, platform, item),
            )

    def released(self, channel: str) -> set[str]:
        """Ids of findings that have anything published on ``channel``."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT DISTINCT finding_id FROM publications WHERE channel=? AND finding_id != ''",
                (channel,),
            ).fetchall()
        return {row[0] for row in rows}
