"""Where email goes: the outbox folder (default: nothing leaves the machine) or an SMTP relay.

Both take one message at a time for one recipient and raise when it was not accepted, so the
caller records in the ledger only what really went out. The SMTP password is read from the
environment (``OUTREACH_SMTP_PASSWORD``) and never logged.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

from outreach.files import PRIVATE_FILE, private_folder
from outreach.platforms.static import atomic_write


class MailSender(Protocol):
    name: str

    def __enter__(self) -> MailSender: ...

    def __exit__(self, *exc: object) -> None: ...

    def send(self, message: EmailMessage, recipient: str, key: str) -> None: ...


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
        self.write(message.as_bytes(), recipient, key)

    def write(self, raw: bytes, recipient: str, key: str) -> None:
        """Store ready-made message bytes (newsletters arrive already signed)."""
        folders = [re.sub(r"[^a-z0-9-]", "-", part.lower()) or "-" for part in key.split(":")[:-1]]
        safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient)
        private_folder(self.root)  # messages carry personal tokens: owner only
        atomic_write(self.root.joinpath(*folders) / f"{safe}.eml", raw, PRIVATE_FILE)


class SmtpSender:
    """One reused SMTP connection (STARTTLS, implicit TLS or plain on loopback)."""

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
        self.host, self.port, self.security = host, port, security
        self.username = username
        self.password = (
            password if password is not None else os.environ.get("OUTREACH_SMTP_PASSWORD")
        )
        self.timeout = timeout
        self.throttle = throttle
        """Called before each message: a rate limit shared with other workers, if any."""
        self._connection: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        context = ssl.create_default_context()
        if self.security == "tls":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                connection.starttls(context=context)
        if self.username:
            connection.login(self.username, self.password or "")
        self._connection = connection
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
            except smtplib.SMTPException:
                self._connection.close()
            self._connection = None

    def send(self, message: EmailMessage, recipient: str, key: str) -> None:
        assert self._connection is not None, "use the sender as a context manager"
        sender = message["From"].addresses[0].addr_spec
        if self.throttle is not None:
            self.throttle()
        refused = self._connection.send_message(message, from_addr=sender, to_addrs=[recipient])
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
