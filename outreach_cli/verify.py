"""``outreach platforms verify [--repair]``: drift between the ledger and the platforms.

Exit codes: 0 when every platform holds what the ledger says (unknown items are listed but
do not count: they are not the pipeline's), 1 when items are missing or changed and were not
repaired (or a repair left some behind).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from outreach.errors import OutreachError

if TYPE_CHECKING:
    from outreach.verify import Verification

console = Console(highlight=False, markup=False)
errors = Console(stderr=True, highlight=False, markup=False)


class DriftFound(OutreachError):
    """Missing or changed items on a platform that were not (or could not be) repaired."""


def _show(found: Verification, title: str) -> None:
    for drift in found.drifts:
        console.print(drift.line(), markup=False, soft_wrap=True)
    for note in found.notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    counts = ", ".join(f"{name} {n}" for name, n in found.checked.items()) or "no platform"
    console.print(
        f"{title}: {len(found.differing)} missing or changed, {len(found.unknown)} unknown "
        f"(ledger items compared: {counts})",
        markup=False,
        soft_wrap=True,
    )


def platforms_verify(
    repair_drift: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Push again exactly what is missing or changed (never touches unknown items).",
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
        ),
    ] = None,
) -> None:
    """Compare every platform with the ledger: list what is missing, changed or unknown."""
    from outreach.config import load_settings
    from outreach.platforms.registry import make_platform
    from outreach.verify import platform_names, repair, verify

    settings = load_settings(config)
    platforms = {name: make_platform(settings, name) for name in platform_names(settings)}
    if not repair_drift:
        found = verify(settings, platforms, notice=errors.print)
        _show(found, "Verified")
        if found.differing:
            raise DriftFound(
                f"{len(found.differing)} item(s) differ from the ledger; "
                "run 'outreach platforms verify --repair' to push them again"
            )
        return

    from outreach.release import run_release
    from outreach.request import ReleaseRequest
    from outreach.runner import PlainRunner

    def rebuild(ids: list[str], channels: list[str]) -> object:
        request = ReleaseRequest(
            settings,
            datetime.now(UTC),
            ids,
            channels=channels,
            rebuild=True,
            config=str(config) if config else None,
        )
        return run_release(request, PlainRunner())

    before, after = repair(settings, platforms, rebuild, notice=errors.print)
    _show(before, "Found")
    if before.differing:
        _show(after, "After the repair")
    if after.differing:
        raise DriftFound(
            f"{len(after.differing)} item(s) still differ after the repair (listed above): a "
            "publication no longer in the findings folder cannot be rendered again; remove "
            "its items by hand or restore its source and run the repair again"
        )
