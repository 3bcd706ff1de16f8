"""Bounces and complaints that arrive after sending: DSN (RFC 3464) and ARF (RFC 5965) reports.

A relay accepts a message and a day later the recipient's server says it cannot deliver it
(a delivery status notification), or the recipient presses "this is spam" and the mailbox
provider sends a feedback report. Both come back as email: to a mailbox the pipeline reads
over IMAP, or posted to the web app by a mail service's webhook. Each report names the
address; a permanent failure (status 5.x.x) marks the subscriber bounced, a complaint marks
them complained, and either puts the address on the suppression list and in the audit log
(by recipient id). Delays and other transient reports (4.x.x) change nothing.

DSNs are read with flufl.bounce (GNU Mailman's bounce detectors: the standard format and
the many non-standard ones real servers still send), checked against the report's own
per-recipient Status where it has one; ARF's message/feedback-report is read with Python's
email package.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from typing import Literal

from outreach.audit import AuditLog
from outreach.config import Settings
from outreach.errors import OutreachError
from outreach.subscribers import SubscriberError, SubscriberStore, normalise_email
from outreach.suppression import suppressions_for

Kind = Literal["bounced", "complained"]


class ReportError(OutreachError, ValueError):
    """A posted or fetched message is not a delivery or feedback report we can read."""

    exit_code = 2


@dataclass(frozen=True)
class MailReport:
    """One address a report names, and what happened to it."""

    address: str
    kind: Kind
    status: str
    """The DSN status (5.1.1) or the feedback type (abuse)."""


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    return (
        [block for block in payload if isinstance(block, Message)]
        if isinstance(payload, list)
        else []
    )


def _address(field: str | None) -> str | None:
    """The address of ``rfc822; someone@example.org`` (or a bare address)."""
    if not field:
        return None
    value = field.split(";", 1)[-1].strip().strip("<>")
    try:
        return normalise_email(value)
    except SubscriberError:
        return None


def _dsn_statuses(message: Message) -> dict[str, str]:
    """Recipient -> Status from a standard DSN's per-recipient fields."""
    statuses: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _field_blocks(part):
            address = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
            if address and block.get("Status"):
                statuses[address] = str(block["Status"]).strip().split()[0]
    return statuses


def _complaints(message: Message) -> list[MailReport]:
    found: list[MailReport] = []
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        for block in _field_blocks(part):
            kind = str(block.get("Feedback-Type", "abuse")).strip().lower()
            for field in block.get_all("Original-Rcpt-To") or []:
                address = _address(field)
                if address:
                    found.append(MailReport(address, "complained", kind))
    if found:
        return found
    # Some providers redact Original-Rcpt-To: the returned message's To is then the address.
    for part in message.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            inner = (
                part.get_payload(0)
                if part.is_multipart()
                else email.message_from_string(str(part.get_payload()))
            )
            address = _address(inner.get("To"))
            if address:
                return [MailReport(address, "complained", "abuse")]
    return []


def parse_report(raw: bytes) -> list[MailReport]:
    """The addresses a report names: complaints (ARF) or permanent failures (DSN, 5.x.x)."""
    message = email.message_from_bytes(raw)
    report_type = str(message.get_param("report-type") or "").lower()
    if message.get_content_type() == "multipart/report" and report_type == "feedback-report":
        return _complaints(message)
    from flufl.bounce import all_failures

    _, permanent = all_failures(message)
    statuses = _dsn_statuses(message)
    found: list[MailReport] = []
    for raw_address in sorted(permanent):
        text = (
            raw_address.decode("utf-8", "replace")
            if isinstance(raw_address, bytes)
            else raw_address
        )
        address = _address(text)
        if address is None:
            continue
        status = statuses.get(address, "5.0.0")
        if status.startswith("5."):
            found.append(MailReport(address, "bounced", status))
    return found


@dataclass
class TakenIn:
    """What taking in reports changed."""

    bounced: int = 0
    complained: int = 0


def take_in(settings: Settings, reports: list[MailReport], now: datetime) -> TakenIn:
    """Mark each address (subscriber status, suppression list) and log it by recipient id."""
    store = SubscriberStore(settings.paths.subscribers)
    suppressions = suppressions_for(settings)
    taken, rows = TakenIn(), []
    for report in reports:
        if store.get(report.address) is not None:
            store.set_status(report.address, report.kind, now)
        rid = suppressions.add(report.address, report.kind, now)
        if report.kind == "bounced":
            taken.bounced += 1
        else:
            taken.complained += 1
        rows.append(
            (
                "bounce",
                now,
                {
                    "actor": "mail report",
                    "subject": rid,
                    "outcome": report.kind,
                    "detail": {"status": report.status},
                },
            )
        )
    AuditLog(settings.paths.ledger).record_many(rows)
    return taken
