"""``outreach retract``: take a publication down everywhere it went, after approval.

Registered on the main command group (one line at the end of ``outreach_cli.main``). The
work is in ``outreach.retraction``; this module only reads the options and prints the notes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from outreach.actions import ActionContext, run_gated
from outreach.audit import AuditLog, command_line_actor
from outreach.retraction import GATE, request_retraction
from outreach_cli.main import NOTHING_PUBLISHED, RESUME, ConfigOption, app, console, on_failure


@app.command()
def retract(
    ctx: typer.Context,
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

    on_failure(ctx, NOTHING_PUBLISHED, RESUME)
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
