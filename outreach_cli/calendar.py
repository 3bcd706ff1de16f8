"""``outreach calendar``: what is scheduled, in the team's zone and in UTC.

Registered on the main command group by ``outreach_cli.main`` (this module never imports it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from outreach.config import load_settings
from outreach.press.timing import waiting_windows
from outreach.release import load_catalog
from outreach.schedule import Scheduled, in_utc, in_zone, upcoming

console = Console(highlight=False, markup=False)
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
    ),
]


def calendar(config: ConfigOption = None) -> None:
    """List what is scheduled: future releases, embargo lifts and newsletter sends, with
    times in the team's zone ([site] timezone) and UTC. Drafts are listed apart: they are
    not scheduled until their status is ready."""
    settings = load_settings(config)
    catalog = load_catalog(settings)
    zone = settings.site.timezone
    now = datetime.now(UTC)
    entries = sorted(
        upcoming(catalog, settings, now) + pitch_windows(settings, now, catalog),
        key=lambda entry: entry.at,
    )
    # One line per entry (not a table): nothing wraps mid-time, and it can be grepped.
    if entries:
        console.print(f"Scheduled (times in {zone}, then UTC):")
        for entry in entries:
            console.print(
                f"{in_zone(entry.at, zone)} ({in_utc(entry.at)})  {entry.what}  "
                f"{entry.finding_id}: {entry.detail}",
                soft_wrap=True,
            )
    else:
        console.print("Nothing is scheduled: every ready finding is already public.")
    if catalog.drafts:
        names = ", ".join(sorted(catalog.drafts))
        console.print(f"Drafts, not scheduled until 'status: ready': {names}", soft_wrap=True)


def pitch_windows(settings, now: datetime, catalog) -> list[Scheduled]:
    """The send windows approved pitches wait for (each journalist's working morning)."""
    return [
        Scheduled(
            w.at,
            "pitch window",
            w.finding_id,
            f"pitches to {w.journalists} journalist(s) in {w.zone} "
            f"({in_zone(w.at, w.zone)} local); release '{w.finding_id}' again then",
        )
        for w in waiting_windows(settings, now, catalog)
        if catalog[w.finding_id].retraction is None  # a retracted finding is pitched no more
    ]
