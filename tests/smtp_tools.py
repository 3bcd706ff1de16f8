"""A real SMTP server for the tests: aiosmtpd on a loopback port, recording what it accepts."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller

from conftest import free_port


@dataclass
class Inbox:
    host: str
    port: int
    accepted: list[tuple[float, list[str], bytes]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    defer_once: set[str] = field(default_factory=set)
    kill_at: int | None = None
    kill_pid: int | None = None
    seen: int = 0

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
        if self.kill_at is not None and self.seen == self.kill_at and self.kill_pid:
            # A real crash of the sender, mid-send, before this message is accepted.
            os.kill(self.kill_pid, signal.SIGKILL)
            return "451 4.3.0 sender went away"
        self.accepted.append((time.monotonic(), list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on loopback."""
    port = free_port()
    handler = Inbox("127.0.0.1", port)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()
