"""What a remote platform said about an item right after the pipeline last wrote it.

WordPress keeps its own ``modified_gmt`` for every post and media item; the ledger keeps our
hash of what was sent, which cannot be compared with what WordPress holds. So the platform
records what WordPress answered (its modification time and a hash of the fields a release
sets), and ``outreach platforms verify`` calls an item changed by hand when WordPress now
answers otherwise. The table lives in
the ledger's file (opened with the ledger) and is written in the ledger's transactions.
"""

from __future__ import annotations

import sqlite3

from outreach.store import Migration, Schema

MARKS = """
CREATE TABLE IF NOT EXISTS remote_marks (
    platform  TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    mark      TEXT NOT NULL,
    PRIMARY KEY (platform, remote_id)
)"""
SCHEMA = Schema("remote_marks", (Migration(1, "marks of remote items", (MARKS,)),))


def record(connection: sqlite3.Connection, platform: str, remote_id: str, mark: str) -> None:
    connection.execute(
        "INSERT INTO remote_marks VALUES (?, ?, ?) ON CONFLICT (platform, remote_id) "
        "DO UPDATE SET mark=excluded.mark",
        (platform, remote_id, mark),
    )


def load(connection: sqlite3.Connection, platform: str) -> dict[str, str]:
    rows = connection.execute(
        "SELECT remote_id, mark FROM remote_marks WHERE platform=?", (platform,)
    ).fetchall()
    return dict(rows)
