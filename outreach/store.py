"""SQLite state files: one way to open, configure and upgrade every store.

The ledger, the newsletter's send log and the subscriber store are SQLite files that users
keep across upgrades. Each is a named schema with ordered migrations; the versions applied to
a file are rows of its ``schema_migrations`` table (store, version), so one file can hold
several stores (the ledger file holds the ledger and the send log) and the same table can
live in a PostgreSQL database later. Opening a store upgrades the file in place in one
``BEGIN IMMEDIATE`` transaction: two processes opening an old file at once migrate it once,
and a failed migration leaves the file as it was. A file made by a newer version is refused.

Every connection gets the same settings: WAL (readers never wait for the writer), a busy
timeout, foreign keys on, and a 0600 file in a 0700 folder (``private_database``). When another
process keeps the file locked past the busy timeout, the statement raises ``StoreBusy`` (safe to
retry) naming the file, instead of sqlite3's bare "database is locked".

A state folder bound to a PostgreSQL database (``bind_state``: ``[state] url``) keeps every
store of that folder in the database instead, through ``outreach.store_pg``: same schemas,
same migrations, same ``schema_migrations`` table, same store code.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from outreach.errors import OutreachError, StoreBusy
from outreach.files import private_database

VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    store       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    description TEXT NOT NULL,
    applied_at  TEXT NOT NULL,
    PRIMARY KEY (store, version)
)"""
Synchronous = Literal["FULL", "NORMAL"]

_DATABASES: dict[Path, str] = {}
"""State folder -> the PostgreSQL URL its stores live in (``[state] url``)."""


def bind_state(state: Path, url: str | None) -> None:
    """Keep the stores of files in ``state`` in the PostgreSQL database ``url`` (None: in
    SQLite files there, the default). Set when the configuration is loaded."""
    key = state.resolve()
    if url:
        _DATABASES[key] = url
    else:
        _DATABASES.pop(key, None)


def database_of(path: Path) -> str | None:
    """The PostgreSQL URL the store file (or state folder) ``path`` is bound to, if any."""
    if not _DATABASES:
        return None
    resolved = path.resolve()
    for folder in (resolved, *resolved.parents):
        if folder in _DATABASES:
            return _DATABASES[folder]
    return None


def has_state(path: Path) -> bool:
    """Whether the store file ``path`` may hold state: it exists, or its folder is bound to a
    PostgreSQL database (where no file is ever made). Read-only callers check this first so
    as not to create an empty store just to find nothing in it."""
    return database_of(path) is not None or path.is_file()


def use_wal(connection: sqlite3.Connection, attempts: int = 40) -> None:
    """Put the connection's database in WAL mode (a no-op once it is).

    Two processes opening a new database at the same moment both try to switch it, and SQLite
    can answer the second "database is locked" at once, without waiting for its busy timeout;
    so the switch is retried for a while (about 40 s in all) before giving up."""
    for attempt in range(1, attempts + 1):
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except (sqlite3.OperationalError, StoreBusy) as exc:
            if "locked" not in str(exc) or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)


BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite gave up waiting for another connection's lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in BUSY_CODES  # the primary code of an extended one
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


class _Connection(sqlite3.Connection):
    """A connection whose statements raise StoreBusy, naming the file, when another process
    holds the lock past the busy timeout (every other error passes through unchanged)."""

    store_path: Path = Path()
    busy_timeout: float = 0.0

    def _translated(self, exc: sqlite3.Error) -> BaseException:
        if not _busy(exc):
            return exc
        return StoreBusy(
            f"{self.store_path} stayed locked by another run for more than "
            f"{self.busy_timeout:g} s ({exc}); nothing was lost: try again once the other "
            "release, send or subscriber app has finished its write."
        )

    def execute(self, *args: Any) -> sqlite3.Cursor:
        try:
            return super().execute(*args)
        except sqlite3.OperationalError as exc:
            raise self._translated(exc) from exc

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        try:
            return super().executemany(*args)
        except sqlite3.OperationalError as exc:
            raise self._translated(exc) from exc

    def executescript(self, *args: Any) -> sqlite3.Cursor:
        try:
            return super().executescript(*args)
        except sqlite3.OperationalError as exc:
            raise self._translated(exc) from exc

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.OperationalError as exc:
            raise self._translated(exc) from exc

    def __exit__(self, *exc_info: Any) -> Literal[False]:
        try:
            return super().__exit__(*exc_info)
        except sqlite3.OperationalError as exc:
            raise self._translated(exc) from exc


class StoreError(OutreachError):
    """A state file that cannot be opened or upgraded; the message names the file and the fix."""


@dataclass(frozen=True)
class Migration:
    """One step of a schema: statements run in order, in the upgrade's transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class Schema:
    """A store's tables as an ordered list of migrations.

    ``unversioned`` names the tables that version 1 created: a file made before versions
    were recorded holds them without a ``schema_migrations`` row, and is recognised as
    version 1 (its tables are kept, not created again)."""

    name: str
    migrations: tuple[Migration, ...]
    unversioned: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        numbers = [m.version for m in self.migrations]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"{self.name}: migrations must be numbered 1, 2, 3...: {numbers}")

    @property
    def version(self) -> int:
        return len(self.migrations)


def _tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows}


def schema_version(connection: sqlite3.Connection, store: str) -> int:
    """The newest version of ``store`` recorded in the file (0: none recorded)."""
    if "schema_migrations" not in _tables(connection):
        return 0
    row = connection.execute(
        "SELECT MAX(version) FROM schema_migrations WHERE store = ?", (store,)
    ).fetchone()
    return row[0] or 0


def recorded_versions(connection: sqlite3.Connection) -> dict[str, int]:
    """The newest version of every store recorded in the file (none recorded: empty)."""
    if "schema_migrations" not in _tables(connection):
        return {}
    rows = connection.execute(
        "SELECT store, MAX(version) FROM schema_migrations GROUP BY store"
    ).fetchall()
    return {store: version for store, version in rows}


class Store:
    """A SQLite file holding one or more schemas, upgraded to their newest version on open.

    ``synchronous``: FULL syncs every commit (the ledger: a record is of something already
    published); NORMAL may lose the last commits on a power cut but never corrupts (the send
    log's per-message updates, where FULL would halve the sending pace)."""

    def __init__(
        self,
        path: Path,
        *schemas: Schema,
        synchronous: Synchronous = "FULL",
        timeout: float = 30.0,
        url: str | None = None,
        local: bool = False,
    ):
        """``url``: a PostgreSQL database to use instead of the file (default: the one the
        file's state folder is bound to, if any). ``local``: always the file, never a bound
        database (a cache of this checkout's files, which other machines cannot use)."""
        self.path = path
        self.schemas = schemas
        self.synchronous = synchronous
        self.timeout = timeout
        self.url = None if local else url or database_of(path)
        if self.url is None:
            private_database(path)
        self.migrate()

    def open(
        self, *, autocommit: bool = False, threads: bool = False, rows: bool = False
    ) -> sqlite3.Connection:
        """A configured connection; the caller closes it. ``autocommit``: every statement
        commits at once unless inside an explicit BEGIN; otherwise Python's sqlite3 begins a
        transaction before the first write and ``with connection`` commits it. ``threads``:
        usable from several threads (the caller serialises writes). ``rows``: sqlite3.Row."""
        if self.url is not None:
            from outreach import store_pg

            try:
                return store_pg.open_connection(  # type: ignore[return-value]
                    self.url,
                    autocommit=autocommit,
                    rows=rows,
                    timeout=self.timeout,
                    synchronous=self.synchronous,
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the state database: {exc}") from exc
        try:
            connection = sqlite3.connect(
                self.path,
                timeout=self.timeout,
                isolation_level=None if autocommit else "",
                check_same_thread=not threads,
                factory=_Connection,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        connection.store_path, connection.busy_timeout = self.path, self.timeout
        if rows:
            connection.row_factory = sqlite3.Row
        try:
            connection.execute(f"PRAGMA synchronous={self.synchronous}")
            connection.execute("PRAGMA foreign_keys=ON")
        except StoreBusy:
            connection.close()
            raise
        except sqlite3.Error as exc:
            connection.close()
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        return connection

    @contextmanager
    def connection(self, **options: bool) -> Iterator[sqlite3.Connection]:
        """``open`` for one use: committed on success, rolled back on error, always closed."""
        connection = self.open(**options)
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    @contextmanager
    def transaction(self, **options: bool) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE): a read-then-write inside it
        cannot be overtaken by another process's write. Committed on success, else rolled back."""
        connection = self.open(autocommit=True, **options)
        try:
            with immediate(connection):
                yield connection
        finally:
            connection.close()

    def versions(self) -> dict[str, int]:
        """Each schema's version recorded in the file."""
        with self.connection() as connection:
            return {s.name: schema_version(connection, s.name) for s in self.schemas}

    def migrate(self) -> None:
        """Bring every schema to its newest version, in one transaction; nothing to do (one
        read, no lock) when the file is current."""
        connection = self.open(autocommit=True)
        try:
            if self.url is None:
                use_wal(connection)
            recorded = recorded_versions(connection)  # one read for every schema of the file
            if all(self._newest(s, recorded.get(s.name, 0)) for s in self.schemas):
                return
            with immediate(connection):  # re-read under the lock: another process may be done
                for schema in self.schemas:
                    if not self._current(connection, schema):
                        self._upgrade(connection, schema)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot upgrade {self.url or self.path}: {exc}. Nothing was changed; restore "
                "the file from a backup if it is damaged, or retry once other runs have finished."
            ) from exc
        finally:
            connection.close()

    def _current(self, connection: sqlite3.Connection, schema: Schema) -> bool:
        return self._newest(schema, schema_version(connection, schema.name))

    def _newest(self, schema: Schema, found: int) -> bool:
        """Whether ``found`` (the version recorded in the file) is the schema's newest."""
        if found > schema.version:
            raise StoreError(
                f"{self.path} holds the {schema.name} store at schema version {found}, made by "
                f"a newer version of the pipeline (this one knows versions up to "
                f"{schema.version}). Upgrade the pipeline; do not open the file with this one."
            )
        return found == schema.version

    def _upgrade(self, connection: sqlite3.Connection, schema: Schema) -> None:
        connection.execute(VERSIONS_TABLE)
        found = schema_version(connection, schema.name)
        if found == 0 and schema.unversioned and set(schema.unversioned) <= _tables(connection):
            found = 1  # made before versions were recorded: its tables are version 1's
            _record(connection, schema, schema.migrations[0], "found (made before versions)")
        for migration in schema.migrations[found:]:
            for statement in migration.statements:
                connection.execute(statement)
            _record(connection, schema, migration, migration.description)


def _record(
    connection: sqlite3.Connection, schema: Schema, migration: Migration, description: str
) -> None:
    connection.execute(
        "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
        (schema.name, migration.version, description, datetime.now(UTC).isoformat()),
    )


@contextmanager
def immediate(connection: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT on an autocommit connection, ROLLBACK on any error."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if connection.in_transaction:  # SQLite may have rolled back already (a full disk)
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
