"""One person's data across the stores: find them, show what we hold, erase it on request.

A subscriber's or journalist's address sits in the subscriber file (their row, the web app's
mail claims, their event registrations) and in the ledger file (the send log's rows, the
pitches recorded as sent). ``erase`` removes it from each, in place: the send log's and the
ledger's rows keep their place under the person's recipient id (so counts stay true and
nobody is pitched a second time), the address goes on the suppression list (by id: no
address kept) and the erasure is recorded in the audit log. SQLite's ``secure_delete`` and a
WAL checkpoint make sure the removed text is overwritten in the files too, not only
unreachable.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from outreach.audit import AuditLog
from outreach.config import Settings
from outreach.events.registrations import SCHEMA as REGISTRATIONS_SCHEMA
from outreach.ledger import SCHEMA as LEDGER_SCHEMA
from outreach.mail_transport import mail_transport
from outreach.press.pitch import PITCH_CHANNEL
from outreach.secrets_store import link_secret
from outreach.sending import SCHEMA as SENDS_SCHEMA
from outreach.store import Store, immediate
from outreach.subscriber_mail import subscription_email
from outreach.subscribers import SCHEMA as SUBSCRIBERS_SCHEMA
from outreach.subscribers import ImportReport, Subscriber, SubscriberStore, normalise_email
from outreach.suppression import suppressions_for
from outreach.templating import environment


@dataclass(frozen=True)
class Received:
    """One message the send log or the ledger records for a person."""

    what: str
    """The send id (``newsletter:...``) or ``pitch:<finding id>``."""
    state: str
    at: str


@dataclass(frozen=True)
class PersonRecord:
    """Everything the stores hold about one address."""

    email: str
    recipient_id: str
    subscriber: Subscriber | None
    suppressed: str | None
    """The reason the address is on the suppression list, or None."""
    received: list[Received]
    journalist: bool
    """Listed in press/journalists.csv."""


@dataclass
class Erasure:
    """What ``erase`` removed, per store (rows), and what it could not."""

    recipient_id: str
    removed: dict[str, int] = field(default_factory=dict)
    journalist_list: Path | None = None
    """The journalist list still names the address: the team removes that row by hand."""


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find(settings: Settings, text: str) -> list[Subscriber]:
    """Subscribers whose address or name contains ``text`` (case-insensitive)."""
    store = Store(settings.paths.subscribers, SUBSCRIBERS_SCHEMA)
    with store.connection(rows=True) as connection:
        rows = connection.execute(
            "SELECT email FROM subscribers WHERE email LIKE ? ESCAPE '\\' "
            "OR name LIKE ? ESCAPE '\\' ORDER BY email",
            (_like(text.strip()), _like(text.strip())),
        ).fetchall()
    found = SubscriberStore(settings.paths.subscribers).get_many(row["email"] for row in rows)
    return [found[row["email"]] for row in rows if row["email"] in found]


def _journalist_listed(settings: Settings, email: str) -> Path | None:
    """The journalist list, when one of its rows has this address (read leniently: the
    list may have mistakes the release reports elsewhere)."""
    path = settings.paths.press / "journalists.csv"
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    listed = any((row.get("email") or "").strip().lower() == email for row in rows)
    return path if listed else None


def _pitch_items(connection: sqlite3.Connection, email: str) -> list[sqlite3.Row]:
    return connection.execute(
        "SELECT finding_id, item, published_at FROM publications "
        "WHERE channel = ? AND lower(item) = ?",
        (PITCH_CHANNEL, f"pitch:{email}"),
    ).fetchall()


def show(settings: Settings, address: str) -> PersonRecord:
    """What the stores hold about ``address`` (the send log's and the ledger's messages)."""
    email = normalise_email(address)
    suppressions = suppressions_for(settings)
    ledger = Store(settings.paths.ledger, LEDGER_SCHEMA, SENDS_SCHEMA)
    received: list[Received] = []
    with ledger.connection(rows=True) as connection:
        for row in connection.execute(
            "SELECT send_id, state, updated_at FROM send_recipients WHERE lower(email) = ? "
            "ORDER BY updated_at, send_id",
            (email,),
        ):
            received.append(Received(row["send_id"], row["state"], row["updated_at"]))
        for row in _pitch_items(connection, email):
            received.append(Received(f"pitch:{row['finding_id']}", "sent", row["published_at"]))
    return PersonRecord(
        email,
        suppressions.id_of(email),
        SubscriberStore(settings.paths.subscribers).get(email),
        suppressions.reason(email),
        received,
        _journalist_listed(settings, email) is not None,
    )


def _scrub(store: Store, statements: list[tuple[str, str, tuple[str, ...]]]) -> dict[str, int]:
    """Run (label, statement, values) in one transaction with secure_delete on, then
    checkpoint the WAL so no old page with the text stays in it; rows changed per label."""
    counts: dict[str, int] = {}
    connection = store.open(autocommit=True)
    try:
        connection.execute("PRAGMA secure_delete=ON")
        with immediate(connection):
            for label, statement, values in statements:
                changed = connection.execute(statement, values).rowcount
                counts[label] = counts.get(label, 0) + max(changed, 0)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return counts


def erase(settings: Settings, address: str, now: datetime, actor: str) -> Erasure:
    """Remove ``address`` from every store, suppress it and record the erasure.

    Safe to run again (a second run finds nothing and changes nothing but the log)."""
    email = normalise_email(address)
    suppressions = suppressions_for(settings)
    rid = suppressions.id_of(email)
    done = Erasure(rid)
    done.removed.update(
        _scrub(
            Store(settings.paths.subscribers, SUBSCRIBERS_SCHEMA, REGISTRATIONS_SCHEMA),
            [
                ("subscriber", "DELETE FROM subscribers WHERE email = ?", (email,)),
                ("sign-up mail claims", "DELETE FROM web_mail WHERE email = ?", (email,)),
                (
                    "event registrations",
                    "DELETE FROM event_registrations WHERE email = ?",
                    (email,),
                ),
                ("event emails owed", "DELETE FROM event_mail WHERE email = ?", (email,)),
                (
                    "event sign-up mail claims",
                    "DELETE FROM web_mail WHERE email LIKE 'event:%' AND substr(email, "
                    "instr(substr(email, 7), ':') + 7) = ?",
                    (email,),
                ),
            ],
        )
    )
    pitch_item = f"pitch:{email}"
    done.removed.update(
        _scrub(
            Store(settings.paths.ledger, LEDGER_SCHEMA, SENDS_SCHEMA),
            [
                (
                    "newsletter sends",
                    "UPDATE send_recipients SET email = ?, "
                    "state = CASE state WHEN 'pending' THEN 'skipped' ELSE state END, "
                    "detail = replace(lower(detail), ?, ?) WHERE lower(email) = ?",
                    (rid, email, rid, email),
                ),
                (
                    "pitches",
                    "UPDATE publications SET item = ? WHERE channel = ? AND lower(item) = ?",
                    (f"pitch:{rid}", PITCH_CHANNEL, pitch_item),
                ),
            ],
        )
    )
    suppressions.add(email, "erased", now)
    AuditLog(settings.paths.ledger).record(
        "erase",
        now,
        actor=actor,
        subject=rid,
        outcome="erased",
        detail={"removed": {k: v for k, v in done.removed.items() if v}},
    )
    done.journalist_list = _journalist_listed(settings, email)
    return done


@dataclass
class Imported:
    """What ``import_subscribers`` did."""

    report: ImportReport
    confirmations_sent: int = 0
    not_sent: list[tuple[str, str]] = field(default_factory=list)
    """(address, reason) of confirmation emails the mail server did not take."""


def import_subscribers(settings: Settings, text: str, source: str, now: datetime) -> Imported:
    """Import a CSV (see ``SubscriberStore.import_report``) skipping suppressed addresses,
    then mail a confirmation link to each new address imported as pending (double opt-in:
    they get the newsletter only once they confirm)."""
    store = SubscriberStore(settings.paths.subscribers)
    report = store.import_report(text, source, now, suppressions_for(settings).suppressed)
    done = Imported(report)
    if not report.pending:
        return done
    env, secret = environment(settings.paths.templates), link_secret(settings)
    people = store.get_many(report.pending)
    with mail_transport(settings) as transport:
        for address in report.pending:
            kind, message = subscription_email(
                settings, env, secret, address, people[address].topics, False, now
            )
            outcome = transport.send(message, address, f"{kind}:{address}")
            if outcome.sent:
                done.confirmations_sent += 1
            else:
                done.not_sent.append((address, outcome.detail))
    return done
