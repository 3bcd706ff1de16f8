"""Prefect global concurrency limits around platform pushes.

On a team's Prefect server (``PREFECT_API_URL`` set) the limits are strict: a missing limit is
an error naming ``make bootstrap``, never silent unthrottled traffic. On embedded defaults
(a temporary server, one process) there is nothing to share, so no limit is taken.
``OUTREACH_LIMITS=strict`` or ``off`` overrides the choice.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

PLATFORM_LIMIT = "outreach-platform-{}"
"""The global concurrency limit each platform's pushes take a slot of."""


def limits_mode() -> str:
    chosen = os.environ.get("OUTREACH_LIMITS", "").strip().lower()
    if chosen in ("strict", "off"):
        return chosen
    return "strict" if os.environ.get("PREFECT_API_URL") else "off"


@contextlib.contextmanager
def platform_slot(platform: str) -> Iterator[None]:
    """Hold one slot of the platform's limit while pushing to it."""
    if limits_mode() == "off":
        yield
        return
    from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError
    from prefect.concurrency.sync import concurrency

    name = PLATFORM_LIMIT.format(platform)
    try:
        with concurrency(name, occupy=1, strict=True):
            yield
    except ConcurrencySlotAcquisitionError as exc:  # only acquiring raises it
        raise LimitMissing(
            f"the Prefect concurrency limit '{name}' does not exist on this server, so pushes to "
            f"{platform} would be unthrottled; run 'make bootstrap' (or set OUTREACH_LIMITS=off "
            f"for a one-off local run). Prefect said: {exc}"
        ) from None


class LimitMissing(Exception):
    """A strict limit the pushes need is not on the server."""
