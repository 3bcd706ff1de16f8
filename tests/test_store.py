"""The store helper: every SQLite state file opened the same way, versioned and upgraded in place."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
from pathlib import Path

import pytest

from outreach.errors import StoreBusy, is_retryable
from outreach.store import Migration, Schema, Store, StoreError

NOTES_V1 = Migration(
    1,
    "notes",
    ("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)",),
)
NOTES_V2 = Migration(
    2,
    "notes get an author; a log of upgrades",
    (
        "ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT 'unknown'",
        "CREATE TABLE upgrades (what TEXT NOT NULL)",
        "INSERT INTO upgrades VALUES ('notes v2')",
    ),
)
V1 = Schema("notes", (NOTES_V1,), unversioned=("notes",))
V2 = Schema("notes", (NOTES_V1, NOTES_V2), unversioned=("notes",))


def old_file(path: Path) -> None:
    """A file as the code before versions made it: the tables, no version recorded."""
    with sqlite3.connect(path) as connection:
        connection.execute(NOTES_V1.statements[0])
        connection.executemany("INSERT INTO notes (text) VALUES (?)", [("one",), ("two",)])
    connection.close()


def rows(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        found = connection.execute(query).fetchall()
    connection.close()
    return found


def test_a_new_store_is_owner_only_in_wal_mode_and_records_its_version(tmp_path: Path) -> None:
    path = tmp_path / "state" / "notes.sqlite"
    store = Store(path, V2)
    assert store.versions() == {"notes": 2}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with store.connection() as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert rows(path, "SELECT store, version FROM schema_migrations ORDER BY version") == [
        ("notes", 1),
        ("notes", 2),
    ]


def test_a_file_made_before_versions_is_version_1_and_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    old_file(path)
    assert Store(path, V1).versions() == {"notes": 1}
    assert rows(path, "SELECT text FROM notes ORDER BY id") == [("one",), ("two",)]
    Store(path, V2)
    assert rows(path, "SELECT text, author FROM notes ORDER BY id") == [
        ("one", "unknown"),
        ("two", "unknown"),
    ]
    assert rows(path, "SELECT version, description FROM schema_migrations ORDER BY version") == [
        (1, "found (made before versions)"),
        (2, "notes get an author; a log of upgrades"),
    ]
    Store(path, V2)  # opening a current file changes nothing
    assert rows(path, "SELECT what FROM upgrades") == [("notes v2",)]


def test_a_file_from_a_newer_version_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    Store(path, V2)
    before = path.read_bytes()
    with pytest.raises(StoreError) as refused:
        Store(path, V1)
    message = str(refused.value)
    assert str(path) in message
    assert "schema version 2" in message and "newer version of the pipeline" in message
    assert "Upgrade the pipeline" in message
    assert path.read_bytes() == before


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    old_file(path)
    broken = Migration(2, "half done", (*NOTES_V2.statements, "INSERT INTO missing VALUES (1)"))
    with pytest.raises(StoreError) as failed:
        Store(path, Schema("notes", (NOTES_V1, broken), unversioned=("notes",)))
    assert str(path) in str(failed.value) and "Nothing was changed" in str(failed.value)
    assert rows(path, "SELECT name FROM pragma_table_info('notes')") == [("id",), ("text",)]
    tables = {name for (name,) in rows(path, "SELECT name FROM sqlite_master")}
    assert "upgrades" not in tables and "schema_migrations" not in tables
    assert Store(path, V2).versions() == {"notes": 2}, "the fixed migration then applies"


def test_two_stores_share_one_file_with_their_own_versions(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    Store(path, V2)
    other = Schema("other", (Migration(1, "things", ("CREATE TABLE things (x)",)),))
    assert Store(path, other).versions() == {"other": 1}
    assert Store(path, V2, other).versions() == {"notes": 2, "other": 1}


def _open_at_once(path: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()
    Store(Path(path), V2)


def test_processes_opening_an_old_file_at_once_upgrade_it_once(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    old_file(path)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    processes = [context.Process(target=_open_at_once, args=(str(path), barrier)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    assert rows(path, "SELECT what FROM upgrades") == [("notes v2",)], "migrated exactly once"
    assert rows(path, "SELECT version FROM schema_migrations ORDER BY version") == [(1,), (2,)]
    assert rows(path, "SELECT text, author FROM notes ORDER BY id") == [
        ("one", "unknown"),
        ("two", "unknown"),
    ]
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"this is a text file, not SQLite" * 100)
    with pytest.raises(StoreError) as refused:
        Store(path, V1)
    assert str(path) in str(refused.value)


def test_a_file_locked_past_the_busy_timeout_is_a_retryable_error_naming_it(
    tmp_path: Path,
) -> None:
    """Another process holding the write lock longer than the busy timeout: every way of
    writing (a transaction, a plain write, an upgrade) says which file and that a retry may
    work; nothing is lost, and the same write succeeds once the lock is released."""
    path = tmp_path / "notes.sqlite"
    store = Store(path, V1, timeout=0.1)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO notes (text) VALUES ('by the other run')")
    try:
        with pytest.raises(StoreBusy) as busy, store.transaction() as connection:
            connection.execute("INSERT INTO notes (text) VALUES ('mine')")
        assert str(path) in str(busy.value) and is_retryable(busy.value)
        with pytest.raises(StoreBusy, match=r"notes\.sqlite"), store.connection() as connection:
            connection.execute("INSERT INTO notes (text) VALUES ('mine')")
        with pytest.raises(StoreBusy, match=r"notes\.sqlite"):
            Store(path, V2, timeout=0.1)  # the upgrade needs the write lock too
        with store.connection() as connection:  # readers never wait for the writer (WAL)
            assert connection.execute("SELECT COUNT(*) FROM notes").fetchone() == (0,)
    finally:
        holder.execute("COMMIT")
        holder.close()
    with store.transaction() as connection:
        connection.execute("INSERT INTO notes (text) VALUES ('mine')")
    assert rows(path, "SELECT text FROM notes ORDER BY id") == [("by the other run",), ("mine",)]
    assert Store(path, V2).versions() == {"notes": 2}
