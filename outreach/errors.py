"""The one error tree: every expected failure is an ``OutreachError``.

The root carries what a user needs (the message: what failed, where, and the fix) and what the
command ends with (``exit_code``). ``Retryable`` marks the failures a later attempt may cure
(network, throttling, a busy database), the way requests makes "safe to retry" part of the
type: retry policies call ``is_retryable`` instead of switching over three libraries' classes.
Library errors (requests, botocore, smtplib, sqlite3) are translated into this tree where they
happen, at the platform or transport boundary, so nothing above it sees them.

This module sits at the bottom of the package: it imports nothing of the project.
"""

from __future__ import annotations

from typing import Any, ClassVar

EXIT_FAILURE = 1
"""Something is wrong with the content, the credentials or a server's answer."""
EXIT_CONFIG = 2
"""The configuration (or the command line) cannot be used as written."""
EXIT_TEMPFAIL = 75
"""Try again later (sysexits' EX_TEMPFAIL): the failure is marked ``Retryable``."""


def _rebuild(cls: type[OutreachError], args: tuple[Any, ...], state: dict[str, Any]):
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class OutreachError(Exception):
    """An expected failure; ``str(error)`` is the whole message a user reads."""

    exit_code: ClassVar[int] = EXIT_FAILURE
    before_any_change: ClassVar[bool] = False
    """True when the error is raised before anything was written or sent (validation,
    rendering, platform checks), so the command may say that nothing changed."""
    heading: ClassVar[str] = ""
    """Put before the message when a command reports it (e.g. "Configuration error: ")."""

    @property
    def message(self) -> str:
        return str(self)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle without calling ``__init__``: subclasses take other arguments (a list of
        problems, a recipient), and Prefect stores a failed task's exception."""
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class Retryable(OutreachError):
    """Marker: the same call may succeed later (a reset, a timeout, a 5xx, a busy lock)."""

    exit_code: ClassVar[int] = EXIT_TEMPFAIL


def is_retryable(exc: BaseException) -> bool:
    """Whether trying again can help; everything else (credentials, configuration, content)
    fails at once, since a retry would only delay the message the team needs."""
    return isinstance(exc, Retryable)


class RenderError(OutreachError):
    """A channel could not render a finding; raised before anything is published."""

    before_any_change: ClassVar[bool] = True


class PlatformError(OutreachError):
    """A platform refused or failed a push; what was published before it stays recorded."""


class PlatformUnavailable(PlatformError):
    """A platform is misconfigured, unreachable or refuses the credentials: nothing is pushed."""

    before_any_change: ClassVar[bool] = True


class StoreBusy(Retryable):
    """Another process held a state database (ledger, subscribers) for too long."""
