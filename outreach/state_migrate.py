"""Moving a team's state from its SQLite files to PostgreSQL, and bringing stores up to date.

``copy_to_postgresql`` copies every table of the ledger file (ledger, send log, audit log)
and the subscriber file (subscribers, sign-up mail claims, suppression list, and any other
store kept there, such as event registrations) into an empty PostgreSQL database migrated to
the same schema versions, in one transaction, then reads both sides back and compares them
row by row (counts and a SHA-256 over every row). A database that already holds rows is
refused: copying twice would double nothing (keys are unique) but would hide which copy is
the truth. The SQLite files are left as they were.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from outreach import audit, ledger, remote_marks, sending, subscribers
from outreach.config import Settings
from outreach.errors import EXIT_CONFIG, OutreachError
from outreach.events import registrations, sequence
from outreach.store import Schema, Store, database_of

LEDGER_SCHEMAS: tuple[Schema, ...] = (
    ledger.SCHEMA,
    sending.SCHEMA,
    audit.SCHEMA,
    remote_marks.SCHEMA,
    sequence.SCHEMA,
)
SUBSCRIBER_SCHEMAS: tuple[Schema, ...] = (subscribers.SCHEMA, registrations.SCHEMA)
SKIPPED = {"schema_migrations", "sqlite_sequence"}


class StateMigrationError(OutreachError):
    """The state cannot be copied; the message says what was found and what to do."""

    exit_code: ClassVar[int] = EXIT_CONFIG


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    checksum: str


def migrate_stores(settings: Settings) -> dict[str, int]:
    """Bring every store of the configured state (SQLite files or PostgreSQL) to its newest
    schema version; idempotent. Returns each store's version."""
    versions: dict[str, int] = {}
    for path, schemas in _stores(settings):
        versions.update(Store(path, *schemas).versions())
    return versions


def _stores(settings: Settings) -> list[tuple[Path, tuple[Schema, ...]]]:
    return [
        (settings.paths.ledger, LEDGER_SCHEMAS),
        (settings.paths.subscribers, SUBSCRIBER_SCHEMAS),
    ]


def copy_to_postgresql(settings: Settings, url: str) -> list[TableCopy]:
    """Copy the SQLite state of ``settings`` into the empty database ``url``, verified."""
    if database_of(settings.paths.state) is not None:
        raise StateMigrationError(
            "the configuration already keeps the state in PostgreSQL ([state] url); run the "
            "migration with the configuration that names the SQLite files (no [state] url)"
        )
    sources = [(path, schemas) for path, schemas in _stores(settings) if path.is_file()]
    if not sources:
        raise StateMigrationError(
            f"no state to copy: neither {settings.paths.ledger} nor "
            f"{settings.paths.subscribers} exists (check paths.state)"
        )
    # Bring the SQLite files to the newest versions first, so both sides have one schema.
    for path, schemas in sources:
        Store(path, *schemas)
    target = Store(settings.paths.state / "postgresql", *_all_schemas(sources), url=url)
    copies: list[TableCopy] = []
    with target.transaction() as destination:
        _refuse_non_empty(destination, url)
        for path, _ in sources:
            with Store(path).connection() as source:
                for table in _tables(source):
                    _copy(source, destination, table, path)
    for path, _ in sources:
        with Store(path).connection() as source, target.connection() as destination:
            copies.extend(_verify(source, destination, table, path) for table in _tables(source))
    return copies


def _all_schemas(sources: list[tuple[Path, tuple[Schema, ...]]]) -> tuple[Schema, ...]:
    return tuple(schema for _, schemas in sources for schema in schemas)


def _tables(connection: Any) -> list[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [row[0] for row in rows if row[0] not in SKIPPED]


def _columns(connection: Any, table: str) -> list[str]:
    return [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]


def _refuse_non_empty(destination: Any, url: str) -> None:
    for table in _tables(destination):
        if destination.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone():
            raise StateMigrationError(
                f"{url} already holds state (table {table} has rows): the migration runs once, "
                "into an empty database. Nothing was copied; to start over, drop and recreate "
                "the database."
            )


def _copy(source: Any, destination: Any, table: str, path: Path) -> None:
    if table not in _tables(destination):
        raise StateMigrationError(
            f"{path}: table {table} belongs to no store this version knows; upgrade the "
            "pipeline before migrating. Nothing was copied."
        )
    columns = _columns(source, table)
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    rows = source.execute(f'SELECT {names} FROM "{table}"')
    destination.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
    if table == "audit":  # the identity column continues after the copied sequence numbers
        destination.execute(
            "SELECT setval(pg_get_serial_sequence('audit', 'seq'), "
            "COALESCE((SELECT MAX(seq) FROM audit), 0) + 1, false)"
        )


def _rows(connection: Any, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    names = ", ".join(f'"{c}"' for c in columns)
    found = [tuple(row) for row in connection.execute(f'SELECT {names} FROM "{table}"')]
    return sorted(found, key=repr)


def _verify(source: Any, destination: Any, table: str, path: Path) -> TableCopy:
    """Both sides' rows, in one order, compared one by one; their count and checksum."""
    columns = _columns(source, table)
    theirs, ours = _rows(source, table, columns), _rows(destination, table, columns)
    if len(theirs) != len(ours):
        raise StateMigrationError(
            f"{table}: {len(theirs)} rows in {path} but {len(ours)} in the database after the "
            "copy; do not switch [state] url yet (drop the database and run again)"
        )
    digest = hashlib.sha256()
    for number, (a, b) in enumerate(zip(theirs, ours, strict=True), start=1):
        if a != b:
            raise StateMigrationError(
                f"{table}: row {number} differs after the copy ({path} has {a!r}); do not "
                "switch [state] url yet (drop the database and run again)"
            )
        digest.update(repr(a).encode())
    return TableCopy(table, len(theirs), digest.hexdigest())
