"""Newsletter subscribers: a small SQLite store with double opt-in and consent records.

Only confirmed subscribers receive newsletters. Addresses are validated and normalised with
email-validator, so the same person is never stored twice under two spellings. Unsubscribed,
bounced and complained addresses stay in the store (suppressed), so an import can never
re-add someone who left.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from email_validator import EmailNotValidError, validate_email

from outreach.files import private_database
from outreach.topics import TOPICS_BY_SLUG

Status = Literal["pending", "confirmed", "unsubscribed", "bounced", "complained"]
STATUSES: tuple[Status, ...] = ("pending", "confirmed", "unsubscribed", "bounced", "complained")
SUPPRESSED: frozenset[str] = frozenset({"unsubscribed", "bounced", "complained"})
CSV_COLUMNS = ("email", "name", "topics", "status", "consent_at", "consent_source")

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscribers (
    email          TEXT PRIMARY KEY,
    name           TEXT NOT NULL DEFAULT '',
    topics         TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL CHECK (
        status IN ('pending', 'confirmed', 'unsubscribed', 'bounced', 'complained')
    ),
    consent_at     TEXT NOT NULL,
    consent_source TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
"""
UPSERT = (
    "INSERT INTO subscribers VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (email) DO UPDATE SET "
    "name = excluded.name, topics = excluded.topics, updated_at = excluded.updated_at, "
)
SIGN_UP = UPSERT + (
    "status = excluded.status, consent_at = excluded.consent_at, "
    "consent_source = excluded.consent_source"
)
IMPORT = UPSERT + (
    "status = CASE WHEN subscribers.status IN ('unsubscribed', 'bounced', 'complained') "
    "THEN subscribers.status ELSE excluded.status END"
)


class SubscriberError(ValueError):
    """Bad subscriber data; the message says which value and what to write instead."""


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str
    topics: tuple[str, ...]
    status: Status
    consent_at: str
    consent_source: str


def normalise_email(address: str) -> str:
    """Validated and lowercased: mail systems treat addresses case-insensitively in practice,
    so 'Ama@Example.com' and 'ama@example.com' are one subscriber."""
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise SubscriberError(f"'{address}' is not an email address: {exc}") from None


def check_topics(topics: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(t.strip() for t in topics if t.strip()))
    unknown = [t for t in chosen if t not in TOPICS_BY_SLUG]
    if unknown:
        raise SubscriberError(
            f"unknown topic {', '.join(unknown)}; choose from {', '.join(TOPICS_BY_SLUG)}"
        )
    if not chosen:
        raise SubscriberError("choose at least one topic")
    return chosen


def _row(row: sqlite3.Row) -> Subscriber:
    return Subscriber(
        row["email"],
        row["name"],
        tuple(t for t in row["topics"].split(",") if t),
        row["status"],
        row["consent_at"],
        row["consent_source"],
    )


class SubscriberStore:
    def __init__(self, path: Path):
        self.path = path
        private_database(path)
        with self._connect() as connection:
            connection.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=30)
        connection.row_factory = sqlite3.Row
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            with connection:
                yield connection
        finally:
            connection.close()

    def get(self, email: str) -> Subscriber | None:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT * FROM subscribers WHERE email = ?", (normalise_email(email),)
            ).fetchone()
        return _row(row) if row else None

    def sign_up(
        self, email: str, name: str, topics: Iterable[str], source: str, when: datetime
    ) -> Subscriber:
        """Record a sign-up as pending (double opt-in); a suppressed address stays suppressed
        until it confirms again, and a confirmed one keeps its status."""
        address, chosen = normalise_email(email), check_topics(topics)
        clean_name = " ".join(name.split())[:200]
        with self._connect() as connection:
            row = connection.execute(
                "SELECT status FROM subscribers WHERE email = ?", (address,)
            ).fetchone()
            status = row["status"] if row and row["status"] == "confirmed" else "pending"
            connection.execute(
                SIGN_UP,
                (
                    address,
                    clean_name,
                    ",".join(chosen),
                    status,
                    when.isoformat(),
                    source,
                    when.isoformat(),
                ),
            )
        subscriber = self.get(address)
        assert subscriber is not None
        return subscriber

    def get_many(self, emails: Iterable[str]) -> dict[str, Subscriber]:
        """Subscribers by address, in one query per 500 addresses (sends look up whole batches)."""
        wanted = list(emails)
        found: dict[str, Subscriber] = {}
        with self._connect() as connection:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT * FROM subscribers WHERE email IN ({marks})", chunk
                )
                found.update((row["email"], _row(row)) for row in rows)
        return found

    def set_status(self, email: str, status: Status, when: datetime) -> None:
        with self._connect() as connection:
            connection.execute(
                "UPDATE subscribers SET status = ?, updated_at = ? WHERE email = ?",
                (status, when.isoformat(), normalise_email(email)),
            )

    def confirm(self, email: str, when: datetime) -> bool:
        """Pending (or re-subscribing) to confirmed; False when the address is unknown."""
        address = normalise_email(email)
        with self._connect() as connection:
            changed = connection.execute(
                "UPDATE subscribers SET status = 'confirmed', consent_at = ?, updated_at = ? "
                "WHERE email = ? AND status IN ('pending', 'confirmed', 'unsubscribed')",
                (when.isoformat(), when.isoformat(), address),
            ).rowcount
        return changed == 1

    def set_topics(self, email: str, topics: Iterable[str], when: datetime) -> None:
        with self._connect() as connection:
            connection.execute(
                "UPDATE subscribers SET topics = ?, updated_at = ? WHERE email = ?",
                (",".join(check_topics(topics)), when.isoformat(), normalise_email(email)),
            )

    def recipient_emails(self, topics: Iterable[str]) -> Iterator[str]:
        """Addresses of confirmed subscribers of any of ``topics``, streamed in address order
        (a send of 100,000 holds no list of them)."""
        wanted = sorted(set(topics))
        if not wanted:
            return
        clause = " OR ".join("(',' || topics || ',') LIKE ?" for _ in wanted)
        with self._connect() as connection:
            cursor = connection.execute(
                f"SELECT email FROM subscribers WHERE status = 'confirmed' AND ({clause}) "
                "ORDER BY email",
                [f"%,{topic},%" for topic in wanted],
            )
            for row in cursor:
                yield row[0]

    def recipients(self, topics: Iterable[str]) -> list[Subscriber]:
        """Confirmed subscribers who chose any of ``topics``, once each, sorted by address."""
        wanted = set(topics)
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT * FROM subscribers WHERE status = 'confirmed' ORDER BY email"
            ).fetchall()
        return [s for s in map(_row, rows) if wanted & set(s.topics)]

    def all(self) -> list[Subscriber]:
        with self._connect() as connection:
            return [_row(r) for r in connection.execute("SELECT * FROM subscribers ORDER BY email")]

    # -- CSV ------------------------------------------------------------------------------

    def export_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for s in self.all():
            writer.writerow(
                [s.email, s.name, ";".join(s.topics), s.status, s.consent_at, s.consent_source]
            )
        return buffer.getvalue()

    def import_csv(self, text: str, source: str, when: datetime) -> int:
        """Import rows (all or none): every problem is reported with its row. Suppressed
        addresses in the store are never reactivated by an import."""
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in ("email", "topics") if c not in (reader.fieldnames or [])]
        if missing:
            raise SubscriberError(
                f"CSV lacks the column(s) {', '.join(missing)}; "
                f"the header needs {','.join(CSV_COLUMNS)}"
            )
        rows, problems = [], []
        for line, row in enumerate(reader, start=2):
            try:
                email = normalise_email(row.get("email") or "")
                topics = check_topics((row.get("topics") or "").split(";"))
                status = (row.get("status") or "pending").strip() or "pending"
                if status not in STATUSES:
                    raise SubscriberError(f"status '{status}' is not one of {', '.join(STATUSES)}")
            except SubscriberError as exc:
                problems.append(f"row {line}: {exc}")
                continue
            consent_at = (row.get("consent_at") or "").strip() or when.isoformat()
            consent_source = (row.get("consent_source") or "").strip() or source
            rows.append(
                (
                    email,
                    " ".join((row.get("name") or "").split()),
                    ",".join(topics),
                    status,
                    consent_at,
                    consent_source,
                    when.isoformat(),
                )
            )
        if problems:
            raise SubscriberError("; ".join(problems))
        with self._connect() as connection:
            before = connection.total_changes
            for values in rows:
                connection.execute(IMPORT, values)
            return connection.total_changes - before
