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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar, Literal

from email_validator import EmailNotValidError, validate_email

from outreach.errors import OutreachError
from outreach.store import Migration, Schema, Store
from outreach.topics import TOPICS_BY_SLUG

Status = Literal["pending", "confirmed", "unsubscribed", "bounced", "complained"]
STATUSES: tuple[Status, ...] = ("pending", "confirmed", "unsubscribed", "bounced", "complained")
SUPPRESSED: frozenset[str] = frozenset({"unsubscribed", "bounced", "complained"})
CSV_COLUMNS = ("email", "name", "topics", "status", "consent_at", "consent_source")
REQUIRED_COLUMNS = ("email", "topics", "consent_source")

SUBSCRIBERS = """
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
)"""
WEB_MAIL = """
CREATE TABLE IF NOT EXISTS web_mail (
    email   TEXT PRIMARY KEY,
    sent_at REAL NOT NULL
)"""
SUPPRESSIONS = """
CREATE TABLE IF NOT EXISTS suppressions (
    recipient_id TEXT PRIMARY KEY,
    reason       TEXT NOT NULL,
    at           TEXT NOT NULL
)"""
SCHEMA = Schema(
    "subscribers",
    (
        Migration(1, "subscribers and sign-up mail claims", (SUBSCRIBERS, WEB_MAIL)),
        Migration(2, "suppression list by recipient id", (SUPPRESSIONS,)),
    ),
    unversioned=("subscribers", "web_mail"),
)
"""Migration 1 is the schema as it was before versions were recorded (see outreach.store);
migration 2 adds the suppression list (``outreach.suppression``), which holds no address."""
IMPORT = (
    "INSERT INTO subscribers VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (email) DO UPDATE SET "
    "name = excluded.name, topics = excluded.topics, updated_at = excluded.updated_at, "
    "status = CASE WHEN subscribers.status IN ('unsubscribed', 'bounced', 'complained') "
    "THEN subscribers.status "
    "WHEN subscribers.status = 'confirmed' AND excluded.status = 'pending' THEN 'confirmed' "
    "ELSE excluded.status END"
)
"""An import never reactivates a suppressed status, nor unconfirms someone who confirmed."""
CLAIM_MAIL = (
    "INSERT INTO web_mail VALUES (?, ?) ON CONFLICT (email) DO UPDATE "
    "SET sent_at = excluded.sent_at WHERE web_mail.sent_at <= ?"
)
NAME_LIMIT = 200
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""Cells starting with these run as formulas in spreadsheet programs (CSV injection)."""


class SubscriberError(OutreachError, ValueError):
    """Bad subscriber data; the message says which value and what to write instead."""

    before_any_change: ClassVar[bool] = True  # an import takes all rows or none


@dataclass(frozen=True)
class ImportReport:
    """What an import did."""

    changed: int
    """Rows added or changed."""
    pending: tuple[str, ...]
    """New addresses imported as pending (no proof of opt-in): each gets a confirmation email."""
    suppressed: int
    """Rows skipped because their address is on the suppression list."""


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


def clean_name(name: str) -> str:
    """One line of printable text, at most NAME_LIMIT characters: control characters (NUL
    included) are dropped, because they break mail headers, CSV files and terminals."""
    printable = "".join(c if c.isprintable() else " " for c in name)
    return " ".join(printable.split())[:NAME_LIMIT]


def csv_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: a leading formula character gets a quote first."""
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_value(cell: str) -> str:
    """The value ``csv_cell`` wrote (export, then import, gives back the same values)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


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


def _claim_mail(
    connection: sqlite3.Connection, address: str, when: datetime, window: timedelta
) -> bool:
    now = when.timestamp()
    claimed = connection.execute(CLAIM_MAIL, (address, now, now - window.total_seconds()))
    return claimed.rowcount == 1


def _aware(moment: datetime) -> datetime:
    """Stored times without a zone (older rows, hand-edited imports) are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
        self._store = Store(path, SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._store.connection(rows=True) as connection:
            yield connection

    def get(self, email: str) -> Subscriber | None:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT * FROM subscribers WHERE email = ?", (normalise_email(email),)
            ).fetchone()
        return _row(row) if row else None

    def sign_up(
        self, email: str, name: str, topics: Iterable[str], source: str, when: datetime
    ) -> Subscriber:
        """Record a new address as pending (double opt-in). An address already in the store
        is left exactly as it is: a public form never changes a record (topics, name, status,
        consent) without its owner's confirmation."""
        return self.sign_up_and_claim(email, name, topics, source, when, None)[0]

    def sign_up_and_claim(
        self,
        email: str,
        name: str,
        topics: Iterable[str],
        source: str,
        when: datetime,
        mail_window: timedelta | None,
    ) -> tuple[Subscriber, bool]:
        """``sign_up``, and whether this sign-up may mail the address: True at most once per
        ``mail_window`` per address, so a flood of sign-ups for one victim sends one email.
        One transaction with one commit whatever the address's state, so its duration does
        not tell a new address from a known one."""
        address, chosen = normalise_email(email), check_topics(topics)
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO subscribers VALUES (?, ?, ?, 'pending', ?, ?, ?) "
                "ON CONFLICT (email) DO NOTHING",
                (
                    address,
                    clean_name(name),
                    ",".join(chosen),
                    when.isoformat(),
                    source,
                    when.isoformat(),
                ),
            )
            claimed = mail_window is not None and _claim_mail(
                connection, address, when, mail_window
            )
            row = connection.execute(
                "SELECT * FROM subscribers WHERE email = ?", (address,)
            ).fetchone()
        return _row(row), claimed

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

    def confirm(self, email: str, when: datetime, issued: datetime | None = None) -> bool:
        """Pending to confirmed, for a link ``issued`` at that time (default: ``when``); True
        when the address is (now) confirmed. An unsubscribed address is confirmed again only
        by a link issued after it unsubscribed (a new sign-up), never by an old one; bounced
        and complained addresses never are."""
        address, issued = normalise_email(email), issued or when
        with self._connect() as connection:
            row = connection.execute(
                "SELECT status, updated_at FROM subscribers WHERE email = ?", (address,)
            ).fetchone()
            if row is None:
                return False
            if row["status"] == "confirmed":
                return True
            left = row["status"] == "unsubscribed"
            if row["status"] != "pending" and not (
                left and issued > _aware(datetime.fromisoformat(row["updated_at"]))
            ):
                return False
            changed = connection.execute(
                "UPDATE subscribers SET status = 'confirmed', consent_at = ?, updated_at = ? "
                "WHERE email = ? AND status = ? AND updated_at = ?",
                (when.isoformat(), when.isoformat(), address, row["status"], row["updated_at"]),
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
            values = (s.email, s.name, ";".join(s.topics), s.status, s.consent_at, s.consent_source)
            writer.writerow([csv_cell(v) for v in values])
        return buffer.getvalue()

    def import_csv(self, text: str, source: str, when: datetime) -> int:
        """``import_report``'s count of rows added or changed."""
        return self.import_report(text, source, when).changed

    def import_report(
        self,
        text: str,
        source: str,
        when: datetime,
        suppressed: Callable[[list[str]], set[str]] = lambda emails: set(),
    ) -> ImportReport:
        """Import rows (all or none): every problem is reported with its row. Suppressed
        addresses in the store are never reactivated by an import, and addresses on the
        suppression list (``suppressed`` tells which) are skipped. A row is confirmed only
        with proof of opt-in (see ``proven_opt_in``); otherwise it is imported as pending,
        and the report lists the new pending addresses, who get a confirmation email."""
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SubscriberError(
                f"CSV lacks the column(s) {', '.join(missing)}; the header needs "
                f"{','.join(CSV_COLUMNS)}. consent_source says where each person agreed to "
                "the newsletter (for example 'conference sign-up sheet 2025'); rows without "
                "status confirmed and a consent_at time are imported as pending and sent a "
                "confirmation email"
            )
        rows, problems = [], []
        for line, raw in enumerate(reader, start=2):
            row = {k: csv_value(v) for k, v in raw.items() if isinstance(k, str) and v}
            try:
                email = normalise_email(row.get("email") or "")
                topics = check_topics((row.get("topics") or "").split(";"))
                status = (row.get("status") or "pending").strip() or "pending"
                if status not in STATUSES:
                    raise SubscriberError(f"status '{status}' is not one of {', '.join(STATUSES)}")
            except SubscriberError as exc:
                problems.append(f"row {line}: {exc}")
                continue
            given_at = (row.get("consent_at") or "").strip()
            given_source = (row.get("consent_source") or "").strip()
            if status == "confirmed" and not proven_opt_in(given_at, given_source):
                status = "pending"
            rows.append(
                (
                    email,
                    clean_name(row.get("name") or ""),
                    ",".join(topics),
                    status,
                    given_at or when.isoformat(),
                    given_source or source,
                    when.isoformat(),
                )
            )
        if problems:
            raise SubscriberError("; ".join(problems))
        skipped = suppressed([values[0] for values in rows])
        rows = [values for values in rows if values[0] not in skipped]
        known = self.get_many(values[0] for values in rows)
        with self._connect() as connection:
            before = connection.total_changes
            for values in rows:
                connection.execute(IMPORT, values)
            changed = connection.total_changes - before
        pending = tuple(v[0] for v in rows if v[3] == "pending" and v[0] not in known)
        return ImportReport(changed, pending, len(skipped))


def proven_opt_in(consent_at: str, consent_source: str) -> bool:
    """A row proves opt-in when it says where (``consent_source``) and when (``consent_at``,
    an ISO 8601 time, not in words such as 'unknown') the person agreed: the record a
    regulator or a mailbox provider asks for. Without both, the person confirms by email."""
    if not consent_source:
        return False
    try:
        datetime.fromisoformat(consent_at)
    except ValueError:
        return False
    return True
