"""``outreach retract``: take a publication down everywhere it went, after approval.

Registered on the main command group by ``outreach_cli.main`` (this module never imports
it: no import cycle). The work is in ``outreach.retraction``; this module only reads the
options and prints the notes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from outreach.actions import ActionContext, run_gated
from outreach.audit import AuditLog, command_line_actor
from outreach.retraction import GATE, request_retraction

console = Console(highlight=False, markup=False)
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
    ),
]


def retract(
    finding_id: Annotated[str, typer.Argument(help="The id of the finding to retract.")],
    note: Annotated[
        str, typer.Option("--note", help="Why it is withdrawn: readers see this on its notice.")
    ],
    approve: Annotated[
        bool, typer.Option("--approve", help="Approve the retraction now and carry it out.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Retract a finding: its pages, feed items, sitemap entry, listings, kit, bucket objects
    and WordPress post (to draft) are taken down, leaving a short notice at its address.
    Without --approve the request is recorded and waits for approval."""
    from outreach.config import load_settings

    settings = load_settings(config)
    now = datetime.now(UTC)
    actor = command_line_actor()
    action = request_retraction(settings, finding_id, note, now, actor)
    approvals: dict[str, bool | None] = {}
    if approve:
        AuditLog(settings.paths.ledger).record(
            "decision", now, publication=finding_id, actor=actor, subject=GATE,
            outcome="approved", detail={"note": action.note, "via": "outreach retract --approve"},
        )  # fmt: skip
        approvals[GATE] = True
        action = type(action)(action.finding_id, action.note, actor)
    for line in run_gated(action, ActionContext(settings, now, approvals)):
        console.print(line, markup=False, soft_wrap=True)
