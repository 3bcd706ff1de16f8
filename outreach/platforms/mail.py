"""Where email goes: the outbox folder (default: nothing leaves the machine) or an SMTP relay.

Both take one message at a time for one recipient and raise when it was not accepted, so the
caller records in the ledger only what really went out. The SMTP password is read from the
environment (``OUTREACH_SMTP_PASSWORD``) and never logged.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol
from urllib.parse import quote

from outreach.files import PRIVATE_FILE, private_folder
from outreach.mail import envelope_address
from outreach.mail_errors import RecipientDeferred, sending_failure, transient_failure
from outreach.platforms.static import atomic_write
from outreach.sending import NO_SMTPUTF8, SmtpTarget, open_connection, send_raw


class MailSender(Protocol):
    name: str

    def __enter__(self) -> MailSender: ...

    def __exit__(self, *exc: object) -> None: ...

    def send(self, message: EmailMessage, recipient: str, key: str) -> None: ...


def wire_bytes(message: EmailMessage, utf8: bool) -> bytes:
    """The message as sent; with UTF-8 headers (RFC 6532) for a non-ASCII local part."""
    return message.as_bytes(policy=message.policy.clone(utf8=True)) if utf8 else message.as_bytes()


def outbox_name(recipient: str) -> str:
    """A file name only this address maps to: anything beyond ``A-Za-z0-9@._+-`` is
    percent-encoded (UTF-8), so two internationalised addresses never share a file."""
    safe = quote(recipient, safe="@._+-")
    if len(safe) > 200:  # file names stop at 255 bytes; percent-encoding triples non-ASCII
        safe = f"{safe[:150]}~{hashlib.sha256(recipient.encode()).hexdigest()[:16]}"
    return f"{safe}.eml"


class OutboxSender:
    """Writes each message as ``<outbox>/<campaign>/<finding>/<recipient>.eml``, atomically.

    ``key`` is ``campaign:finding:recipient``; every part but the last names a folder.
    """

    name = "outbox"

    def __init__(self, root: Path):
        self.root = root

    def __enter__(self) -> OutboxSender:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, message: EmailMessage, recipient: str, key: str) -> None:
        self.write(wire_bytes(message, envelope_address(recipient)[1]), recipient, key)

    def write(self, raw: bytes, recipient: str, key: str) -> None:
        """Store ready-made message bytes (newsletters arrive already signed)."""
        folders = [re.sub(r"[^a-z0-9-]", "-", part.lower()) or "-" for part in key.split(":")[:-1]]
        private_folder(self.root)  # messages carry personal tokens: owner only
        atomic_write(self.root.joinpath(*folders) / outbox_name(recipient), raw, PRIVATE_FILE)


class SmtpSender:
    """One reused SMTP connection (STARTTLS, implicit TLS or plain on loopback).

    Raises what ``outreach.mail_errors`` defines: SenderFailure when the login, connection
    or server refuses (on entering, or on any message), RecipientRefused for a 5xx answer to
    this recipient, RecipientDeferred for an internationalised address the server cannot
    take (no SMTPUTF8), and MailTransient (retryable) for transient failures.
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        security: Literal["starttls", "tls", "none"] = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
        throttle: Callable[[], None] | None = None,
    ):
        self.target = SmtpTarget(
            host,
            port,
            security,
            username,
            password if password is not None else os.environ.get("OUTREACH_SMTP_PASSWORD"),
            timeout,
        )
        self.throttle = throttle
        """Called before each message: a rate limit shared with other workers, if any."""
        self._connection: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        try:
            self._connection = open_connection(self.target)
        except (smtplib.SMTPException, OSError) as exc:  # transient: open_connection sorted it
            raise transient_failure(exc, self.target.host, self.target.port) from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                self._connection.close()
            self._connection = None

    def send(self, message: EmailMessage, recipient: str, key: str) -> None:
        assert self._connection is not None, "use the sender as a context manager"
        sender = message["From"].addresses[0].addr_spec
        address, utf8 = envelope_address(recipient)
        if utf8 and not self._connection.has_extn("smtputf8"):
            raise RecipientDeferred(recipient, NO_SMTPUTF8)
        if self.throttle is not None:
            self.throttle()
        try:
            send_raw(self._connection, sender, address, wire_bytes(message, utf8), utf8)
        except (smtplib.SMTPException, OSError) as exc:
            outcome = sending_failure(exc, recipient, sender)
            if outcome is not None:
                raise outcome from exc
            raise transient_failure(exc, self.target.host, self.target.port) from exc
