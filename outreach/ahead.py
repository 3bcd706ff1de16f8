"""Slow, pure work done ahead in worker processes while this process renders.

A share image costs 10-15 ms of drawing and storing, mostly under the GIL: threads
do not help, processes do. The release says which calls it will make soon (``submit``: the
next batch's images), workers run them, and the call itself picks up the result
(``take``); a call nobody submitted, or whose worker failed to start, runs in the caller as
before. Results are the same bytes either way: the workers run the same function.

In-flight work is bounded by what the caller submits (one batch ahead), so memory stays flat.
Workers start once enough calls were asked for to repay their start (``MIN_CALLS``, or
``MIN_CALLS_CLEAN`` when they must come from a forkserver): a small release draws in the
caller, as before.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # multiprocessing and the pool load when workers start (3 MB otherwise)
    from concurrent.futures import Future, ProcessPoolExecutor

MIN_CALLS = 8
"""Workers forked from this process start once this many calls were asked for (forking is
quick: fewer are cheaper in the caller)."""
MIN_CALLS_CLEAN = 100
"""The same with other threads alive, when workers come from a forkserver: it starts a fresh
interpreter that imports the program's main module again (a second or so for the CLI)."""

MISSING: Any = object()
"""``take``'s answer for a call that was not submitted (the caller runs it itself)."""

Call = tuple[Callable[..., Any], tuple[Hashable, ...]]


def worker_count() -> int:
    """The cores this process may use (the caller keeps rendering beside them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def _may_fork() -> bool:
    """fork while this process has one thread: workers start at once, with what is imported
    (no module, no ``__main__`` run again). With other threads alive (a Prefect worker's, a
    test's server) one of them may hold a lock at the moment of the fork, so the workers come
    from a forkserver, a clean process, instead."""
    return threading.active_count() == 1 and hasattr(os, "fork")


def _broken(error: Exception) -> bool:
    """Whether ``error`` says the workers died or could not start (not the call's error)."""
    from concurrent.futures.process import BrokenProcessPool

    return isinstance(error, BrokenProcessPool)


def _outcome(future: Future[Any]) -> Any:
    """A worker's result, waited for; ``MISSING`` when the workers died (the caller then
    runs the call itself). The call's own error is raised as the call would raise it."""
    try:
        return future.result()
    except Exception as exc:
        if _broken(exc):
            return MISSING
        raise


class Ahead:
    """Calls submitted to worker processes, and their results until taken."""

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or worker_count()
        self._executor: ProcessPoolExecutor | None = None
        self._pending: dict[Call, Future[Any]] = {}
        self._lock = threading.Lock()
        self._asked = 0
        """Calls asked for before the workers started (they start once enough were)."""
        self.served = 0
        """How many results came from the workers (for tests and benchmarks)."""
        self.apart = 0
        """How many calls ``run_apart`` ran in a worker (for tests)."""

    def submit(self, function: Callable[..., Any], calls: Iterable[tuple[Hashable, ...]]) -> None:
        """Start ``function(*args)`` for each of ``calls`` (module-level, pure: its result
        must not depend on the process that runs it)."""
        with self._lock:
            fresh = [args for args in dict.fromkeys(calls) if (function, args) not in self._pending]
            if not fresh:
                return
            if self._executor is None:
                fork = _may_fork()
                self._asked += len(fresh)
                if self._asked < (MIN_CALLS if fork else MIN_CALLS_CLEAN):
                    return
                self._executor = self._start(fork)
            try:
                for args in fresh:
                    self._pending[(function, args)] = self._executor.submit(function, *args)
            except Exception as exc:  # a broken pool: the caller draws them itself
                if not _broken(exc):
                    raise

    def _start(self, fork: bool, workers: int | None = None) -> ProcessPoolExecutor:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork" if fork else "forkserver")
        return ProcessPoolExecutor(workers or self._workers, mp_context=context)

    def run_apart(self, function: Callable[..., Any], args: tuple[Hashable, ...]) -> Any:
        """``function(*args)`` run in a worker and waited for, so this process never loads
        what the call needs (drawing a card loads FreeType and its fonts and fills a 3 MB
        canvas, which a release would carry as its peak). In the running workers if they
        started; else in one worker forked for the call and stopped after it (a forked pool
        starts all its workers at once: one per core for one small image), and only when
        this process can fork (quick). ``MISSING`` otherwise, or when the worker cannot
        start: the caller then runs the call itself."""
        with self._lock:
            executor, own = self._executor, None
        if executor is None:
            if not _may_fork():
                return MISSING
            executor = own = self._start(fork=True, workers=1)
        try:
            try:
                future = executor.submit(function, *args)
            except Exception as exc:  # a broken pool: the caller runs it itself
                if not _broken(exc):
                    raise
                return MISSING
            result = _outcome(future)
        finally:
            if own is not None:  # its manager thread ends with it: later pools may fork
                own.shutdown(wait=True)
        if result is not MISSING:
            self.apart += 1
        return result

    def take(self, function: Callable[..., Any], args: tuple[Hashable, ...]) -> Any:
        """The result of a submitted call (waiting for it), or ``MISSING``; the worker's
        exception is raised here, as the call itself would have raised it."""
        with self._lock:
            future = self._pending.pop((function, args), None)
        if future is None:
            return MISSING
        result = _outcome(future)
        if result is not MISSING:
            self.served += 1
        return result

    def close(self) -> None:
        """Drop what nobody took and stop the workers."""
        with self._lock:
            executor, self._executor = self._executor, None
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.cancel()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


_active: Ahead | None = None


@contextlib.contextmanager
def working_ahead(workers: int | None = None) -> Iterator[Ahead]:
    """Workers for the duration of a release (started on the first large submission)."""
    global _active
    ahead, previous = Ahead(workers), _active
    _active = ahead
    try:
        yield ahead
    finally:
        _active = previous
        ahead.close()


def submit(function: Callable[..., Any], calls: Iterable[tuple[Hashable, ...]]) -> None:
    """Start the calls in the active workers (nothing without ``working_ahead``)."""
    if _active is not None:
        _active.submit(function, calls)


def take(function: Callable[..., Any], args: tuple[Hashable, ...]) -> Any:
    """The active workers' result for ``function(*args)``, or ``MISSING``."""
    return MISSING if _active is None else _active.take(function, args)


def run_apart(function: Callable[..., Any], args: tuple[Hashable, ...]) -> Any:
    """The call run in the active workers (see ``Ahead.run_apart``), or ``MISSING``."""
    return MISSING if _active is None else _active.run_apart(function, args)
