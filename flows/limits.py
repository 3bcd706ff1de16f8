"""Prefect global concurrency limits around platform pushes.

On a team's Prefect server (``PREFECT_API_URL`` set) the limits are strict: a missing limit is
an error naming ``make bootstrap``, never silent unthrottled traffic. On embedded defaults
(a temporary server, one process) there is nothing to share, so no limit is taken.
``OUTREACH_LIMITS=strict`` or ``off`` overrides the choice.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator

from outreach.errors import OutreachError

PLATFORM_LIMIT = "outreach-platform-{}"
"""The global concurrency limit each platform's pushes take a slot of."""

SMTP_CONNECTIONS = "outreach-smtp"
"""Concurrency: SMTP connections open at once, across every worker."""
SMTP_RATE = "outreach-smtp-rate"
"""Rate: messages per second to the relay (slots decay at the rate), across every worker."""
WORDPRESS_RATE = "outreach-wordpress-rate"
"""Rate: WordPress REST calls per second, across every worker."""


def _setting(env: dict[str, str], name: str, default: str, highest: int, what: str) -> float:
    """A positive, finite number from the environment, at most ``highest``; raises ValueError
    naming the variable and the range."""
    raw = env.get(name, "").strip() or default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 < value <= highest):  # also refuses nan and infinity
        raise ValueError(
            f"{name}={raw!r} is not usable: write {what}, a number above 0 and at most {highest}"
        )
    return value


def wanted_limits(environ: dict[str, str] | None = None) -> dict[str, tuple[int, float | None]]:
    """Every global limit the flows take, as name -> (limit, slot decay per second or None for
    a plain concurrency limit). ``make bootstrap`` creates them from this table. Raises
    ValueError for a variable out of range."""
    env = dict(os.environ if environ is None else environ)
    smtp_rate = _setting(env, "OUTREACH_SMTP_RATE", "10", 1000, "messages per second")
    wordpress_rate = _setting(env, "OUTREACH_WORDPRESS_RATE", "5", 100, "calls per second")
    connections = _setting(env, "OUTREACH_SMTP_CONNECTIONS", "4", 64, "connections at once")
    if connections != int(connections):
        raise ValueError(f"OUTREACH_SMTP_CONNECTIONS={connections} must be a whole number")
    return {
        PLATFORM_LIMIT.format("static"): (4, None),
        PLATFORM_LIMIT.format("s3"): (4, None),
        PLATFORM_LIMIT.format("wordpress"): (2, None),
        SMTP_CONNECTIONS: (int(connections), None),
        SMTP_RATE: (max(1, round(smtp_rate)), smtp_rate),
        WORDPRESS_RATE: (max(1, round(wordpress_rate)), wordpress_rate),
    }


def limits_mode() -> str:
    chosen = os.environ.get("OUTREACH_LIMITS", "").strip().lower()
    if chosen in ("strict", "off"):
        return chosen
    return "strict" if os.environ.get("PREFECT_API_URL") else "off"


@contextlib.contextmanager
def _missing_means_bootstrap(name: str, what: str) -> Iterator[None]:
    from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError

    try:
        yield
    except ConcurrencySlotAcquisitionError as exc:  # only acquiring a slot raises it
        raise LimitMissing(
            f"the Prefect limit '{name}' does not exist on this server, so {what} would be "
            "unthrottled; run 'make bootstrap' (or set OUTREACH_LIMITS=off for a one-off local "
            f"run). Prefect said: {exc}"
        ) from None


@contextlib.contextmanager
def platform_slot(platform: str) -> Iterator[None]:
    """Hold one slot of the platform's concurrency limit while pushing to it."""
    if limits_mode() == "off":
        yield
        return
    from prefect.concurrency.sync import concurrency

    name = PLATFORM_LIMIT.format(platform)
    with (
        _missing_means_bootstrap(name, f"pushes to {platform}"),
        concurrency(name, occupy=1, strict=True),
    ):
        yield


@contextlib.contextmanager
def smtp_connections(count: int) -> Iterator[None]:
    """Hold ``count`` slots of the SMTP connection limit while that many connections are open."""
    if limits_mode() == "off":
        yield
        return
    from prefect.concurrency.sync import concurrency

    with (
        _missing_means_bootstrap(SMTP_CONNECTIONS, "SMTP connections"),
        concurrency(SMTP_CONNECTIONS, occupy=count, strict=True),
    ):
        yield


def rate_throttle(name: str, what: str) -> Callable[[], None] | None:
    """A call to make before each message or request: it waits for a slot of the rate limit
    shared by every worker. None when limits are off (the local pace still applies)."""
    if limits_mode() == "off":
        return None
    from prefect.concurrency.sync import rate_limit

    def throttle() -> None:
        with _missing_means_bootstrap(name, what):
            rate_limit(name, occupy=1, strict=True)

    return throttle


def smtp_throttle() -> Callable[[], None] | None:
    return rate_throttle(SMTP_RATE, "email to the SMTP relay")


def wordpress_throttle() -> Callable[[], None] | None:
    return rate_throttle(WORDPRESS_RATE, "calls to WordPress")


def platform_throttle(platform: str) -> Callable[[], None] | None:
    """The shared rate limit of a platform's remote API (WordPress), None for the others."""
    return wordpress_throttle() if platform == "wordpress" else None


class LimitMissing(OutreachError):
    """A strict limit the pushes need is not on the server."""
