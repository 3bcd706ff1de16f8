"""The subscriber app's emails, sent after the answer on one worker thread.

Sending after the answer keeps the sign-up page's timing independent of the address (a
confirmed address must not answer faster than a new one), and a mail server that is down or
refuses leaves the visitor with the normal page and the operator with a log line; the
subscriber row is kept either way. The queue is bounded: a flood drops mail, not memory.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("outreach.web")

Job = tuple[str, Callable[[], None]]


class MailQueue:
    """Runs ``(description, send)`` jobs one at a time on a daemon thread, in order."""

    def __init__(self, capacity: int = 100):
        self._jobs: queue.Queue[Job] = queue.Queue(maxsize=capacity)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failures = 0

    def submit(self, description: str, send: Callable[[], None]) -> bool:
        """Queue a send; False (and a log line) when the queue is full."""
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="web-mail", daemon=True)
                self._worker.start()
        try:
            self._jobs.put_nowait((description, send))
        except queue.Full:
            log.warning("mail queue full: %s not sent", description)
            return False
        return True

    def join(self) -> None:
        """Wait until every queued email was sent or failed (tests, shutdown)."""
        self._jobs.join()

    def _run(self) -> None:
        while True:
            description, send = self._jobs.get()
            try:
                send()
            except Exception as exc:  # a mail failure must never stop the worker
                self.failures += 1
                log.warning("could not send %s: %s: %s", description, type(exc).__name__, exc)
            finally:
                self._jobs.task_done()
