"""The one mail transport: every email the pipeline sends leaves through it.

Pitches, newsletter issues and the subscriber app's confirmations hand a message for one
recipient to ``send`` and get an :class:`Outcome` back, like requests' adapters. Which
transport (the ``outbox/`` folder, or an SMTP relay) is decided once, by
:func:`mail_transport` from ``[mail]``; no caller builds a transport of its own.

The outcome rules (``outreach.mail_errors``) are the same for every caller: a failure of the
sending side (login, connection, a server-wide refusal) raises SenderFailure and stops the
caller (MailTransient, a retryable one, when connecting failed only for now); a permanent
(5xx) answer to this recipient is ``refused``; an internationalised address the server cannot
take (no SMTPUTF8) is ``held``; transient failures are retried with backoff and then
``deferred``. Only ``sent`` means the server accepted the message, so callers
record exactly what went out.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, Self
from urllib.parse import quote

from outreach.files import PRIVATE_FILE, atomic_write, private_folder
from outreach.mail import envelope_address
from outreach.mail_errors import (
    RecipientDeferred,
    RecipientRefused,
    SenderFailure,
    connection_failure,
    reply_text,
    sending_failure,
    transient_failure,
)
from outreach.secrets_store import smtp_password

if TYPE_CHECKING:  # the settings only configure the transport: no import at run time
    from outreach.config import Settings

NO_SMTPUTF8 = "the mail server does not offer SMTPUTF8, needed for this internationalised address"

Status = Literal["sent", "refused", "held", "deferred"]
Throttle = Callable[[], None]


@dataclass(frozen=True)
class RelayHooks:
    """What a scheduler shares between workers sending through one relay (Prefect's limits
    and secret blocks). Only an SMTP transport calls them, when it needs them; the outbox
    sends nothing and asks for nothing, so a caller passes hooks and never tests the platform.
    """

    slots: Callable[[int], AbstractContextManager[object]] | None = None
    """Holds ``n`` slots of a shared connection limit: entered once, for all of a transport's
    connections, before its first connection opens; left when the transport closes."""
    throttle: Throttle | None = None
    """Called before each message: waits for a slot of a rate limit shared by every worker."""
    password: Callable[[], str | None] | None = None
    """Looks up the relay's password (a secret block); None from it: OUTREACH_SMTP_PASSWORD."""


@dataclass(frozen=True)
class Outcome:
    """What became of one message to one recipient (a sender failure raises instead)."""

    recipient: str
    status: Status
    detail: str
    """The server's reply (``250``, ``550 5.1.1 ...``), ``outbox``, or why it was held."""

    @property
    def sent(self) -> bool:
        return self.status == "sent"

    def raise_for_status(self) -> None:
        """Turn a recipient's failure into its exception, for callers that only log it."""
        if self.status == "refused":
            raise RecipientRefused(self.recipient, self.detail)
        if self.status != "sent":
            raise RecipientDeferred(self.recipient, self.detail)


class Chain(Protocol):
    """One connection of a bulk send, driven by one thread together with the others: ``put``
    hands over the next message, and where its answers come later (``awaiting``, over SMTP
    with PIPELINING), ``take`` reads them once ``fileno`` is readable. Both return the
    outcomes they came to know (with PIPELINING, usually the previous message's: its final
    dot travelled with this one's envelope); ``finish`` ends the last message. Every message
    handed over gets exactly one outcome, by the rules of the transport's ``send``.

    ``report``, when the caller sets it, receives each outcome the moment it is known (the
    methods then return none): a chain that delivers several messages in one call (retries,
    a message sent afresh after a failed one) has every acceptance recorded before it
    writes, sleeps or reconnects again, and an error later in the call loses none."""

    report: Callable[[list[Outcome]], None] | None

    @property
    def awaiting(self) -> bool:
        """Answers to read (``take``) before the next ``put``."""
        ...

    def fileno(self) -> int: ...

    def pace_wait(self) -> float:
        """Seconds before the local pace lets ``put`` begin a message (0: now); the caller
        reads other connections' answers meanwhile instead of letting ``put`` sleep."""
        ...

    def put(self, message: bytes, recipient: str, key: str) -> list[Outcome]:
        """``key`` as ``MailTransport.send`` takes it (the outbox's folders)."""
        ...

    def take(self) -> list[Outcome]:
        """Only reads: whatever failed is tried again in the next ``put`` or ``finish``, so
        the outcomes read are recorded before any retry waits."""
        ...

    def finish(self) -> list[Outcome]: ...


class MailTransport(Protocol):
    name: str
    """Recorded in the ledger beside each pitch: ``outbox`` or ``smtp``."""
    connections: int
    """How many ``send`` calls may usefully run at once (threads of a newsletter send)."""

    def send(
        self,
        message: bytes | EmailMessage,
        recipient: str,
        key: str,
        sender: str | None = None,
    ) -> Outcome: ...

    def close(self) -> None: ...

    def chains(self, sender: str, count: int) -> AbstractContextManager[list[Chain]]:
        """Up to ``count`` chains (one a connection) for a bulk send from ``sender``."""
        ...

    def check(self) -> str:
        """Reach the transport as a send would, sending nothing; say what works (raises
        SenderFailure or MailTransient naming the fix)."""
        ...

    def __enter__(self) -> MailTransport: ...

    def __exit__(self, *exc: object) -> None: ...


def wire_bytes(message: EmailMessage, utf8: bool) -> bytes:
    """The message as sent; with UTF-8 headers (RFC 6532) for a non-ASCII local part."""
    return message.as_bytes(policy=message.policy.clone(utf8=True)) if utf8 else message.as_bytes()


def envelope_sender(message: bytes | EmailMessage, sender: str | None) -> str:
    """``sender``, or the message's From address (ready-made bytes must name their sender)."""
    if sender is not None:
        return sender
    if isinstance(message, bytes):
        raise ValueError("a message given as bytes needs its envelope sender")
    return message["From"].addresses[0].addr_spec


def outbox_name(recipient: str) -> str:
    """A file name only this address maps to: anything beyond ``A-Za-z0-9@._+-`` is
    percent-encoded (UTF-8), so two internationalised addresses never share a file."""
    safe = quote(recipient, safe="@._+-")
    if len(safe) > 200:  # file names stop at 255 bytes; percent-encoding triples non-ASCII
        safe = f"{safe[:150]}~{hashlib.sha256(recipient.encode()).hexdigest()[:16]}"
    return f"{safe}.eml"


class _Closing:
    """Context-manager support: leaving the block closes the transport."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        return None


class OutboxTransport(_Closing):
    """Writes each message as ``<outbox>/<key folders>/<recipient>.eml``, atomically, owner
    only (messages carry personal links). Nothing leaves the machine.

    ``key`` is ``campaign:finding:recipient``; every part but the last names a folder.
    """

    name = "outbox"
    connections = 1

    def __init__(self, root: Path):
        self.root = root

    def check(self) -> str:
        return f"messages are written to {self.root}; nothing leaves this machine"

    def send(
        self,
        message: bytes | EmailMessage,
        recipient: str,
        key: str,
        sender: str | None = None,
    ) -> Outcome:
        if isinstance(message, EmailMessage):
            message = wire_bytes(message, envelope_address(recipient)[1])
        folders = [re.sub(r"[^a-z0-9-]", "-", part.lower()) or "-" for part in key.split(":")[:-1]]
        private_folder(self.root)
        atomic_write(self.root.joinpath(*folders) / outbox_name(recipient), message, PRIVATE_FILE)
        return Outcome(recipient, "sent", "outbox")

    @contextmanager
    def chains(self, sender: str, count: int) -> Iterator[list[Chain]]:
        """One chain, one file after another: each outcome is known at once."""
        yield [_OneByOne(self, sender)]


@dataclass
class _OneByOne:
    """A chain over a transport's ``send``: each message's outcome as it returns."""

    transport: OutboxTransport
    sender: str
    report: Callable[[list[Outcome]], None] | None = None
    awaiting: ClassVar[bool] = False

    def fileno(self) -> int:
        raise ValueError("nothing to wait for: every outcome is known at once")

    def pace_wait(self) -> float:
        return 0.0

    def put(self, message: bytes, recipient: str, key: str) -> list[Outcome]:
        outcome = self.transport.send(message, recipient, key, self.sender)
        if self.report is not None:
            self.report([outcome])
            return []
        return [outcome]

    def take(self) -> list[Outcome]:
        return []

    def finish(self) -> list[Outcome]:
        return []


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log or traceback
    timeout: float = 30.0


MIN_SLEEP = 0.0005


class RateLimiter:
    """At most ``rate`` acquisitions per second across all threads, evenly spaced."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Seconds until the next slot is free (0 when it is now); reserves nothing."""
        return max(0.0, self._next - time.monotonic())

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > MIN_SLEEP:
            # Shorter waits are skipped: a sleep lasts at least the scheduler's tick, which
            # would throttle a fast send far below its limit. Slots keep the average exact.
            time.sleep(delay)


def open_connection(target: SmtpTarget) -> smtplib.SMTP:
    """Connect, secure and log in. Raises SenderFailure when trying again cannot help (a
    refused login or connection, a 5xx greeting, TLS failing), smtplib's or socket errors
    when it might."""
    connection: smtplib.SMTP | None = None
    try:
        if target.security == "tls":
            connection = smtplib.SMTP_SSL(
                target.host,
                target.port,
                timeout=target.timeout,
                context=ssl.create_default_context(),
            )
        else:
            connection = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
            if target.security == "starttls":
                connection.starttls(context=ssl.create_default_context())
        if target.username:
            connection.login(target.username, target.password or "")
        connection.ehlo_or_helo_if_needed()
        return connection
    except (smtplib.SMTPException, OSError) as exc:
        if connection is not None:
            connection.close()
        failure = connection_failure(exc, target.host, target.port)
        if failure is not None:
            raise failure from exc
        raise


def send_raw(
    smtp: smtplib.SMTP, sender: str, recipient: str, message: bytes, utf8: bool = False
) -> None:
    """One message to one recipient, raising smtplib's exceptions like ``sendmail``.

    ``sendmail`` re-parses both addresses and runs two regular expressions over every message;
    our addresses are validated and our messages already have CRLF line ends, so this sends
    the same SMTP dialogue for a fraction of the CPU (dot-stuffing is one bytes.replace).
    When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one write and
    their three replies are read together: two round trips a message instead of four, which
    on a fast relay is most of a message's time. ``utf8`` sends with SMTPUTF8 (RFC 6531), for
    a non-ASCII recipient the server accepts.
    """
    options = ""
    if utf8:
        smtp.command_encoding = "utf-8"
        options = " SMTPUTF8" + (" BODY=8BITMIME" if smtp.has_extn("8bitmime") else "")
    try:
        if smtp.does_esmtp and smtp.has_extn("pipelining"):
            _envelope_pipelined(smtp, sender, recipient, options)
        else:
            _envelope_in_turn(smtp, sender, recipient, options)
    finally:
        smtp.command_encoding = "ascii"
    smtp.send(data_bytes(message))
    _judge_data(smtp.getreply())


_LINE_DOT = re.compile(rb"\r\n\.")
"""A line starting with a dot. The regular expression engine finds none in a 13 KB message
in a sixth of the time ``b"\\r\\n." in message`` takes (CRLF every line defeats its skips)."""


def data_bytes(message: bytes) -> bytes:
    """The message as DATA content: dot-stuffed, CRLF-ended, then the final dot."""
    if _LINE_DOT.search(message):
        message = message.replace(b"\r\n.", b"\r\n..")
    if message.startswith(b"."):
        message = b"." + message
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return message + b".\r\n"


def _judge_data(reply: tuple[int, bytes]) -> None:
    """The answer to a message's final dot: 250, or the DATA error ``sendmail`` raises."""
    if reply[0] != 250:
        raise smtplib.SMTPDataError(*reply)


def _envelope_in_turn(smtp: smtplib.SMTP, sender: str, recipient: str, options: str) -> None:
    """MAIL, RCPT and DATA one after another, each waiting for its reply."""
    code, reply = smtp.docmd("MAIL", f"FROM:<{sender}>{options}")
    if code != 250:
        smtp.rset()
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.docmd("RCPT", f"TO:<{recipient}>")
    if code not in (250, 251):
        smtp.rset()
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = smtp.docmd("DATA")
    if code != 354:
        smtp.rset()
        raise smtplib.SMTPDataError(code, reply)


def _envelope_pipelined(smtp: smtplib.SMTP, sender: str, recipient: str, options: str) -> None:
    """MAIL, RCPT and DATA in one write, then their three replies, judged in order as
    ``_envelope_in_turn`` judges them. A server that refused MAIL or RCPT must refuse DATA
    too (RFC 2920); one that answers 354 anyway gets an empty message ended at once, with
    no recipient to deliver it to, so the connection is back in step before the RSET."""
    smtp.send(envelope_bytes(sender, recipient, options, smtp.command_encoding))
    _read_envelope(smtp, sender, recipient)


def envelope_bytes(
    sender: str, recipient: str, options: str = "", encoding: str = "ascii"
) -> bytes:
    """MAIL, RCPT and DATA as one pipelined group (RFC 2920: DATA ends a group)."""
    text = f"MAIL FROM:<{sender}>{options}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n"
    return text.encode(encoding)


def _read_envelope(smtp: smtplib.SMTP, sender: str, recipient: str) -> None:
    """The three answers to a pipelined envelope, judged as ``_envelope_pipelined`` says."""
    mail, rcpt, data = smtp.getreply(), smtp.getreply(), smtp.getreply()
    if mail[0] == 250 and rcpt[0] in (250, 251) and data[0] == 354:
        return
    if data[0] == 354:
        smtp.send(b".\r\n")
        smtp.getreply()
    smtp.rset()
    if mail[0] != 250:
        raise smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
    if rcpt[0] not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
    raise smtplib.SMTPDataError(*data)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _transient_reason(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return reply_text(code, text)
    if isinstance(exc, smtplib.SMTPResponseException):
        return reply_text(exc.smtp_code, exc.smtp_error)
    return str(exc) or type(exc).__name__


class SmtpTransport(_Closing):
    """Up to ``connections`` SMTP connections, each reused for many messages and opened only
    when first needed, safe to share between threads; every message first waits for the
    local pace (``rate`` per second across all connections) and then for ``throttle``, a
    rate limit shared with other workers sending through the same relay.

    A dropped connection is reopened; transient failures are tried ``attempts`` times with
    exponential backoff. Failing to connect on every attempt is the sender's failure.
    """

    name = "smtp"

    def __init__(
        self,
        target: SmtpTarget,
        connections: int = 1,
        rate: float | None = None,
        throttle: Throttle | None = None,
        attempts: int = 3,
        backoff: float = 0.5,
        shared_slots: Callable[[int], AbstractContextManager[object]] | None = None,
    ):
        self.target = target
        self.connections = max(1, connections)
        self.throttle = throttle
        self.attempts, self.backoff = attempts, backoff
        self._limiter = RateLimiter(rate) if rate else None
        self._idle: list[smtplib.SMTP] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.connections)
        self._shared_slots = shared_slots
        self._held = ExitStack()
        self._holding = False
        self._hold_lock = threading.Lock()

    def _hold_shared_slots(self) -> None:
        """Before the first connection opens, take this transport's slots of the limit shared
        with other workers, all at once (taking them one by one could deadlock two workers)."""
        if self._shared_slots is None:
            return
        with self._hold_lock:
            if not self._holding:
                self._held.enter_context(self._shared_slots(self.connections))
                self._holding = True

    def send(
        self,
        message: bytes | EmailMessage,
        recipient: str,
        key: str,
        sender: str | None = None,
    ) -> Outcome:
        address, utf8 = envelope_address(recipient)
        from_address = envelope_sender(message, sender)
        raw = wire_bytes(message, utf8) if isinstance(message, EmailMessage) else message
        with self._slots:
            with self._lock:
                smtp = self._idle.pop() if self._idle else None
            outcome, smtp = self._deliver(smtp, raw, recipient, address, from_address, utf8)
            if smtp is not None:
                with self._lock:
                    self._idle.append(smtp)
            return outcome

    def _pace(self) -> None:
        """Wait for this message's turn: the local pace, then the rate shared with others."""
        if self._limiter is not None:
            self._limiter.acquire()
        if self.throttle is not None:
            self.throttle()

    def _deliver(
        self,
        smtp: smtplib.SMTP | None,
        raw: bytes,
        recipient: str,
        address: str,
        sender: str,
        utf8: bool,
        failed: Exception | None = None,
    ) -> tuple[Outcome, smtplib.SMTP | None]:
        """One message with retries; also returns the connection to keep (None if dropped).
        Whatever raises closes the connection first: it may be mid-dialogue. ``failed``: the
        first attempt was made elsewhere (in a chain, ``SmtpChain``) and raised this."""
        connect_error: Exception | None = None
        last: Exception | None = None
        for attempt in range(self.attempts):
            try:
                if attempt == 0 and failed is not None:
                    raise failed  # judged, and retried, like an attempt made here
                if smtp is None:
                    self._hold_shared_slots()
                    smtp = open_connection(self.target)
                connect_error = None
                if utf8 and not smtp.has_extn("smtputf8"):
                    return Outcome(recipient, "held", NO_SMTPUTF8), smtp
                self._pace()
                send_raw(smtp, sender, address, raw, utf8)
            except (smtplib.SMTPException, OSError) as exc:
                if smtp is None and exc is not failed:
                    connect_error = exc  # could not connect; SenderFailure passes through
                last = exc
                verdict = sending_failure(exc, recipient, sender)
                if isinstance(verdict, SenderFailure):
                    if smtp is not None:
                        smtp.close()
                    raise verdict from exc
                if isinstance(verdict, RecipientRefused):
                    return Outcome(recipient, "refused", verdict.reply), smtp
                if smtp is not None and isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
                    smtp.close()
                    smtp = None
                if attempt + 1 < self.attempts:
                    time.sleep(self.backoff * 2**attempt)
            except BaseException:
                if smtp is not None:
                    smtp.close()
                raise
            else:
                return Outcome(recipient, "sent", "250"), smtp
        if connect_error is not None:
            raise transient_failure(connect_error, self.target.host, self.target.port)
        reason = _transient_reason(last) if last is not None else "not accepted"
        return Outcome(recipient, "deferred", f"try again later ({reason})"), smtp

    @contextmanager
    def chains(self, sender: str, count: int) -> Iterator[list[Chain]]:
        """``count`` chains (at most ``connections``), each holding one connection for the
        block, all driven by the caller's one thread. Leaving the block with a chain
        mid-dialogue closes its connection: an unfinished message is never delivered."""
        count = max(1, min(count, self.connections))
        held: list[SmtpChain] = []
        try:
            for _ in range(count):
                self._slots.acquire()
                with self._lock:
                    smtp = self._idle.pop() if self._idle else None
                held.append(SmtpChain(self, sender, smtp))
            yield list(held)
        except BaseException:
            for chain in held:
                chain.abandon()
            raise
        finally:
            for chain in held:
                if chain.awaiting or chain.unfinished:
                    chain.abandon()
                if chain.smtp is not None:
                    with self._lock:
                        self._idle.append(chain.smtp)
                self._slots.release()

    def check(self) -> str:
        """Connect, secure and log in as a send would, then NOOP: the relay takes these
        credentials. Nothing is sent; the password never appears in what is said."""
        target = self.target
        try:
            smtp = open_connection(target)
            try:
                code, reply = smtp.noop()
            finally:
                _quit(smtp)
        except (smtplib.SMTPException, OSError) as exc:  # open_connection's retryable ones
            raise transient_failure(exc, target.host, target.port) from None
        if code != 250:
            raise transient_failure(
                smtplib.SMTPResponseException(code, reply), target.host, target.port
            )
        login = f"logged in as {target.username}" if target.username else "no login configured"
        return f"{target.host}:{target.port} ({target.security}): {login}, NOOP {code}"

    def close(self) -> None:
        """Say goodbye on every idle connection (those in use close when their send ends),
        then give back the shared connection slots."""
        with self._lock:
            idle, self._idle = self._idle, []
        try:
            for smtp in idle:
                _quit(smtp)
        finally:
            with self._hold_lock:
                self._holding = False
                self._held.close()


class SmtpChain:
    """Messages on one SMTP connection, one round trip each where the server offers
    PIPELINING (RFC 2920): a message's content and final dot are the first "command" of a
    group whose last is the next message's MAIL, RCPT and DATA, all in one write (``put``).
    The answers then come back together (``take``): 250 for the message, returned at once
    so the caller records it before its next write, then the next envelope's, whose 354
    leaves that message open for the next ``put``.

    Anything else goes the transport's way (``SmtpTransport._deliver``, with its judgement
    and retries, which wait in the caller's thread), the chained attempt counting as the
    first: a server without PIPELINING, an address needing SMTPUTF8, a refused envelope, a
    failed message. A connection dropped with a message in flight leaves that message to be
    tried again on a new connection, as a single send does; an open envelope is never ended
    with a dot it was not meant to have: if its chain breaks, its connection is closed.
    """

    def __init__(self, transport: SmtpTransport, sender: str, smtp: smtplib.SMTP | None):
        self.transport, self.sender, self.smtp = transport, sender, smtp
        self.report: Callable[[list[Outcome]], None] | None = None
        self._open: tuple[bytes, str] | None = None
        """(message, recipient) whose DATA got 354: its content goes with the next write."""
        self._ended: tuple[bytes, str] | None = None
        """(message, recipient) whose content and final dot were written, answer unread."""
        self._next: tuple[bytes, str, str] | None = None
        """(message, recipient, address) whose envelope was written, answers unread."""
        self._turn: tuple[str, bytes, str, str] | None = None
        """Without PIPELINING: (the command whose answer is awaited, message, recipient,
        address); each answer read sends the next command."""
        self._redo: list[tuple[bytes, str, Exception | None]] = []
        """Messages ``take`` found failed (with the failure) or cut off (None): sent the
        transport's way at the next ``put`` or ``finish``, after the caller has recorded
        what ``take`` returned (a retry's backoff never delays recording an acceptance)."""

    @property
    def awaiting(self) -> bool:
        return self._ended is not None or self._next is not None or self._turn is not None

    @property
    def unfinished(self) -> bool:
        """A message's envelope is open: its content was not sent yet (``finish`` sends it)."""
        return self._open is not None

    def fileno(self) -> int:
        assert self.smtp is not None and self.smtp.sock is not None
        return self.smtp.sock.fileno()

    def pace_wait(self) -> float:
        limiter = self.transport._limiter
        return limiter.wait() if limiter is not None else 0.0

    def put(self, message: bytes, recipient: str, key: str = "") -> list[Outcome]:
        """Write the open message's content with this one's envelope (nothing awaiting)."""
        address, utf8 = envelope_address(recipient)
        done = self._recover()
        smtp = self.smtp
        if utf8 or smtp is None:
            done += self.finish()
            outcome, self.smtp = self.transport._deliver(
                self.smtp, message, recipient, address, self.sender, utf8
            )
            self._known(done, outcome)
            return done
        self.transport._pace()
        if not (smtp.does_esmtp and smtp.has_extn("pipelining")):
            return done + self._in_turn("MAIL", message, recipient, address)
        content = b""
        if self._open is not None:
            content = data_bytes(self._open[0])
            self._ended, self._open = self._open, None
        try:
            smtp.send(content + envelope_bytes(self.sender, address))
        except (smtplib.SMTPException, OSError) as exc:
            if self._ended is not None:  # maybe delivered: its answer never came
                ended, self._ended = self._ended, None
                self._known(done, self._retry(*ended, exc, drop=True))
            self._known(done, self._retry(message, recipient, exc, drop=True))
            return done
        self._next = (message, recipient, address)
        return done

    def take(self) -> list[Outcome]:
        """Read the answers to the last write (blocks until they have all come)."""
        smtp = self.smtp
        assert smtp is not None
        if self._turn is not None:
            return self._answer_in_turn()
        done = []
        if self._ended is not None:
            ended, self._ended = self._ended, None
            try:
                _judge_data(smtp.getreply())
            except (smtplib.SMTPException, OSError) as exc:
                # The next envelope is in flight behind the failed message: close the
                # connection (nothing unfinished is delivered); both go the slow way.
                after, self._next = self._next, None
                self.abandon()
                self._redo.append((*ended, exc))
                if after is not None:  # (its pace was taken: a fresh start takes another)
                    self._redo.append((after[0], after[1], None))
                return done
            self._known(done, Outcome(ended[1], "sent", "250"))
        if self._next is not None:
            message, recipient, address = self._next
            self._next = None
            try:
                _read_envelope(smtp, self.sender, address)
            except (smtplib.SMTPException, OSError) as exc:
                self._failed(message, recipient, exc, drop=False)
            else:
                self._open = (message, recipient)
        return done

    def _in_turn(self, command: str, message: bytes, recipient: str, address: str) -> list[Outcome]:
        """Without PIPELINING: write one command of the dialogue, its answer awaited."""
        assert self.smtp is not None
        if command == "MAIL":
            line = f"MAIL FROM:<{self.sender}>\r\n".encode("ascii")
        elif command == "RCPT":
            line = f"RCPT TO:<{address}>\r\n".encode("ascii")
        else:
            line = b"DATA\r\n" if command == "DATA" else data_bytes(message)
        try:
            self.smtp.send(line)
        except (smtplib.SMTPException, OSError) as exc:
            done: list[Outcome] = []
            self._known(done, self._retry(message, recipient, exc, drop=True))
            return done
        self._turn = (command, message, recipient, address)
        return []

    def _answer_in_turn(self) -> list[Outcome]:
        """Judge the answer to the command written, as ``_envelope_in_turn`` and ``send_raw``
        judge it, and write the next one; the message's outcome once it has ended."""
        assert self.smtp is not None and self._turn is not None
        command, message, recipient, address = self._turn
        self._turn = None
        smtp = self.smtp
        try:
            code, reply = smtp.getreply()
            if command == "MAIL" and code != 250:
                smtp.rset()
                raise smtplib.SMTPSenderRefused(code, reply, self.sender)
            if command == "RCPT" and code not in (250, 251):
                smtp.rset()
                raise smtplib.SMTPRecipientsRefused({address: (code, reply)})
            if command == "DATA" and code != 354:
                smtp.rset()
                raise smtplib.SMTPDataError(code, reply)
            if command == "END":
                _judge_data((code, reply))
        except (smtplib.SMTPException, OSError) as exc:
            self._failed(message, recipient, exc, drop=False)
            return []
        if command == "END":
            done: list[Outcome] = []
            self._known(done, Outcome(recipient, "sent", "250"))
            return done
        following = {"MAIL": "RCPT", "RCPT": "DATA", "DATA": "END"}[command]
        return self._in_turn(following, message, recipient, address)

    def finish(self) -> list[Outcome]:
        """Everything still owed: the answers awaited, then the open message's content."""
        done = self._recover()
        while self.awaiting:
            done += self.take()
            done += self._recover()
        if self._open is None:
            return done
        message, recipient = self._open
        self._open = None
        assert self.smtp is not None
        try:
            self.smtp.send(data_bytes(message))
            _judge_data(self.smtp.getreply())
        except (smtplib.SMTPException, OSError) as exc:
            self._known(done, self._retry(message, recipient, exc, drop=True))
        else:
            self._known(done, Outcome(recipient, "sent", "250"))
        return done

    def _known(self, done: list[Outcome], outcome: Outcome) -> None:
        """An outcome, the moment it is known: to ``report`` when the caller set it (recorded
        before this chain writes, sleeps or reconnects again), else returned with the call."""
        if self.report is not None:
            self.report([outcome])
        else:
            done.append(outcome)

    def abandon(self) -> None:
        """Close the connection as it is (mid-dialogue after an error): an open message
        has no final dot, so the server delivers nothing of it."""
        self._open = self._ended = self._next = self._turn = None
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    def _failed(self, message: bytes, recipient: str, exc: Exception, drop: bool) -> None:
        """A failure ``take`` found: close the connection if it is out of step, and leave
        the message for ``_recover``."""
        if drop or isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
            self.abandon()
        self._redo.append((message, recipient, exc))

    def _recover(self) -> list[Outcome]:
        """The messages ``take`` left, the transport's way: a failed one judged and retried
        (its chained attempt counting as the first), a cut-off one sent afresh."""
        done = []
        while self._redo:
            message, recipient, exc = self._redo.pop(0)
            outcome, self.smtp = self.transport._deliver(
                self.smtp, message, recipient, envelope_address(recipient)[0], self.sender,
                False, exc,
            )  # fmt: skip
            self._known(done, outcome)
        return done

    def _retry(self, message: bytes, recipient: str, exc: Exception, drop: bool) -> Outcome:
        """The transport's judgement of a failed chained attempt, and its retries. ``drop``:
        the connection is out of step (a write or read failed mid-group): close it."""
        if drop or isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
            self.abandon()
        outcome, self.smtp = self.transport._deliver(
            self.smtp, message, recipient, envelope_address(recipient)[0], self.sender, False, exc
        )
        return outcome


def mail_transport(
    settings: Settings,
    *,
    relay: RelayHooks | None = None,
    password: str | None = None,
    connections: int = 1,
    rate: float | None = None,
) -> MailTransport:
    """The transport ``[mail]`` configures: the one place the choice is made.

    The SMTP password is ``password``, else what ``relay.password`` looks up, else
    OUTREACH_SMTP_PASSWORD; it is never logged. ``relay``, ``connections`` and ``rate`` only
    matter over SMTP (the outbox writes one file at a time, unpaced, and calls no hook).
    """
    mail = settings.mail
    if mail.platform == "smtp":
        relay = relay or RelayHooks()
        if password is None and relay.password is not None:
            password = relay.password()
        target = SmtpTarget(
            mail.smtp_host,
            mail.smtp_port,
            mail.smtp_security,
            mail.smtp_username,
            smtp_password(password),
        )
        return SmtpTransport(target, connections, rate, relay.throttle, shared_slots=relay.slots)
    return OutboxTransport(settings.paths.outbox)
