"""A real SMTP server for the tests: aiosmtpd on a loopback port, recording what it accepts."""

from __future__ import annotations

import os
import signal
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from conftest import free_port


@dataclass
class Inbox:
    host: str
    port: int
    accepted: list[tuple[float, list[str], bytes]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    refuse_sender: str | None = None
    """An answer to every MAIL FROM (a server-wide refusal), instead of 250."""
    defer_once: set[str] = field(default_factory=set)
    peers: list[tuple[str, int]] = field(default_factory=list)
    """The client end of the connection each accepted message came over (one per message)."""
    kill_at: int | None = None
    kill_pid: int | None = None
    seen: int = 0
    pipelining: bool = False
    """Offer PIPELINING (RFC 2920) in the EHLO reply; aiosmtpd reads pipelined commands in
    order from its stream either way."""
    envelope_reads: list[bytes] = field(default_factory=list)
    """With ``pipelining``: what had already arrived, unread, when each MAIL was handled (a
    pipelining client's RCPT and DATA came in the same write)."""
    data_reads: list[bytes] = field(default_factory=list)
    """With ``pipelining``: what had already arrived, unread, when each message's content
    had been read (a chaining client's next MAIL, RCPT and DATA came in the same write)."""
    refuse_data: dict[str, str] = field(default_factory=dict)
    """An answer to the final dot of a message to this recipient, instead of 250."""
    open_transactions: int = 0
    most_at_once: int = 0
    """The most transactions (MAIL handled, message not yet ended) open at once, over all
    connections: more than one when connections send in parallel."""
    drop_once: set[str] = field(default_factory=set)
    """Recipients whose message, the first time, is not accepted: the server hangs up on
    its final dot instead of answering (a connection lost with the message in flight)."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.pipelining:
            self.envelope_reads.append(bytes(server._reader._buffer))
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        self.open_transactions += 1
        self.most_at_once = max(self.most_at_once, self.open_transactions)
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        if address in self.defer_once:
            self.defer_once.discard(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        self.open_transactions -= 1
        if self.pipelining:
            self.data_reads.append(bytes(server._reader._buffer))
        if self.kill_at is not None and self.seen == self.kill_at and self.kill_pid:
            # A real crash of the sender, mid-send, before this message is accepted.
            os.kill(self.kill_pid, signal.SIGKILL)
            return "451 4.3.0 sender went away"
        dropped = [r for r in envelope.rcpt_tos if r in self.drop_once]
        if dropped:
            self.drop_once.difference_update(dropped)
            server.transport.close()
            return "421 4.4.2 connection dropped"  # never arrives: the connection is gone
        refused = [self.refuse_data[r] for r in envelope.rcpt_tos if r in self.refuse_data]
        if refused:
            return refused[0]
        self.accepted.append((time.monotonic(), list(envelope.rcpt_tos), envelope.original_content))
        self.peers.append(session.peer)
        return "250 OK"


@contextmanager
def smtp_server(**options: Any) -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on loopback; ``options`` go to aiosmtpd's SMTP class
    (``enable_SMTPUTF8``, ``authenticator``, ``auth_require_tls``...)."""
    port = free_port()
    handler = Inbox("127.0.0.1", port)
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on loopback."""
    with smtp_server() as handler:
        yield handler


def refuse_every_login(server, session, envelope, mechanism, auth_data):
    """An aiosmtpd authenticator for a wrong password: the server answers 535."""
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=False, handled=False)


@contextmanager
def greeting_server(greeting: str) -> Iterator[tuple[str, int]]:
    """A server on loopback that greets every connection with ``greeting`` (say, 554: no
    service) and then only answers QUIT; aiosmtpd always greets with 220."""

    class Greeter(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(f"{greeting}\r\n".encode())
            for line in self.rfile:
                if line.strip().upper() == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                self.wfile.write(b"503 5.5.1 no service\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Greeter)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address
    finally:
        server.shutdown()
        server.server_close()
