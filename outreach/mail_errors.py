"""Whose failure an SMTP error is: the sender's, one recipient's, or nobody's yet.

A refused login or a server that will not talk to us says nothing about the recipients:
marking them bounced would suppress real subscribers for the sender's mistake. Only a
permanent (5xx) answer to a recipient's own ``RCPT`` or ``DATA`` is that recipient's bounce.
"""

from __future__ import annotations

import smtplib
import socket
import ssl

from outreach.errors import OutreachError, Retryable

AUTH_CODES = frozenset({530, 534, 535, 538})
"""Replies that mean "log in (properly) first" (RFC 4954) whichever command they answer."""

LOGIN_FIX = (
    "check mail.smtp_username and OUTREACH_SMTP_PASSWORD (Secret block outreach-smtp-password)"
)
SERVER_FIX = "check mail.smtp_host, mail.smtp_port and mail.smtp_security"


class MailError(OutreachError):
    """A message was not sent; the text says why and what to change."""


class SenderFailure(MailError):
    """The sending side failed (login, connection, a server-wide refusal or unsafe settings):
    the send stops, every recipient not yet reached stays pending for the next run."""


class MailTransient(SenderFailure, Retryable):
    """The server failed for now (a 4xx greeting, a timeout, a dropped connection) on every
    one of the transport's attempts: the send stops like any sender's failure, and a later
    attempt (a flow's retry, the next run) may go through."""


class RecipientRefused(MailError):
    """A permanent (5xx) answer to this recipient's own RCPT or DATA: a bounce."""

    def __init__(self, recipient: str, reply: str):
        super().__init__(f"{recipient}: refused by the mail server ({reply})")
        self.recipient, self.reply = recipient, reply


class RecipientDeferred(MailError):
    """This recipient cannot be sent to through this server now (for example an
    internationalised address and no SMTPUTF8); others can, and a later run retries."""

    def __init__(self, recipient: str, reason: str):
        super().__init__(f"{recipient}: not sent, {reason}")
        self.recipient, self.reason = recipient, reason


def reply_text(code: int, text: bytes | str) -> str:
    words = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}"


def connection_failure(exc: Exception, host: str, port: int) -> SenderFailure | None:
    """The SenderFailure for an error while connecting or logging in, or None when it is
    worth trying again (a 4xx greeting, a timeout, a dropped connection)."""
    where = f"the mail server {host}:{port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = reply_text(exc.smtp_code, exc.smtp_error)
        return SenderFailure(f"{where} refused the login ({reply}): {LOGIN_FIX}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SenderFailure(f"{where} does not support what we asked ({exc}): {SERVER_FIX}")
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = reply_text(exc.smtp_code, exc.smtp_error)
        if exc.smtp_code in AUTH_CODES:
            return SenderFailure(f"{where} wants a login ({reply}): {LOGIN_FIX}")
        if 500 <= exc.smtp_code < 600:
            return SenderFailure(f"{where} refused to serve us ({reply}): {SERVER_FIX}")
        return None
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return SenderFailure(f"TLS with {where} failed ({exc}): {SERVER_FIX}")
    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        return SenderFailure(f"{where} cannot be reached ({exc}): {SERVER_FIX}")
    return None


def transient_failure(exc: Exception, host: str, port: int) -> MailTransient:
    """Connecting kept failing for a reason worth retrying: give up on this send for now."""
    reply = (
        reply_text(exc.smtp_code, exc.smtp_error)
        if isinstance(exc, smtplib.SMTPResponseException)
        else str(exc) or type(exc).__name__
    )
    return MailTransient(
        f"the mail server {host}:{port} cannot be used now ({reply}): try again later, "
        f"or {SERVER_FIX}"
    )


def sending_failure(exc: Exception, recipient: str, sender: str) -> MailError | None:
    """What an error while sending one message means: SenderFailure (stop the send),
    RecipientRefused (a bounce), or None (transient: retry, then leave it pending)."""
    if not isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
        return None
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
    else:
        code, text = exc.smtp_code, exc.smtp_error
    if not 500 <= code < 600:
        return None
    reply = reply_text(code, text)
    if code in AUTH_CODES:
        return SenderFailure(f"the mail server wants a login ({reply}): {LOGIN_FIX}")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return SenderFailure(
            f"the mail server refused the sender address {sender} ({reply}): check that the "
            "relay lets this login send as newsletter.from_email (or the press contact's email)"
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError):
        return RecipientRefused(recipient, reply)
    return SenderFailure(f"the mail server refused to continue ({reply}): {SERVER_FIX}")
