"""``outreach approve`` and ``outreach reject``: a person's decision on an approval gate.

Given a finding's id, the decision is recorded in the audit log and, when a release already
stopped at the gate, the step runs now in this process (no Prefect needed: embedded
defaults). Given a paused flow run's id (a Prefect server), the run is resumed with the
decision as its form input and records it itself. The actor is the operating-system user.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from outreach.approving import choose_headline, decide
from outreach.audit import command_line_actor
from outreach.config import load_settings
from outreach.gates import ApprovalError

console = Console(highlight=False, markup=False)
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
    ),
]

RUN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

Target = Annotated[
    str,
    typer.Argument(
        help="A finding's id (embedded defaults), or a paused flow run's id (a Prefect server)."
    ),
]
GateOption = Annotated[
    list[str] | None,
    typer.Option("--gate", "-g", help="pitches or newsletter (default: every gate waiting)."),
]


def server_configured() -> bool:
    """A Prefect server to resume runs on (PREFECT_API_URL, or the active Prefect profile)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


def _resume(run_id: str, approved: bool, note: str, headline: str | None, config: Path | None):
    """Resume a paused run with the decision (the run records it in the audit log)."""
    from flows.approval import resume
    from outreach.actions import gated_actions

    if not server_configured():
        raise ApprovalError(
            f"'{run_id}' is a flow run id, but no Prefect server is configured (set "
            "PREFECT_API_URL); on embedded defaults give the finding's id"
        )
    run_input: dict[str, Any] = {
        "decision": "approve" if approved else "reject",
        "approver": command_line_actor(),
        "note": note,
    }
    if headline and approved:
        from flows.approval import paused_gate

        gate, publication = paused_gate(run_id)
        settings = load_settings(config)
        action = gated_actions()[gate].for_approval(publication, settings, datetime.now(UTC))
        shown = action.shown(settings, datetime.now(UTC)) if action else None
        run_input |= {f"{k}_headline": t for k, t in choose_headline(shown, headline).items()}
    key = resume(run_id, run_input)
    verb = "approved" if approved else "rejected"
    console.print(
        f"Resumed flow run {run_id} ({key}): {verb} by {run_input['approver']}.", soft_wrap=True
    )


def _decide(
    target: str,
    gates: list[str] | None,
    approved: bool,
    note: str,
    headline: str | None,
    config: Path | None,
) -> None:
    if RUN_ID.match(target):
        _resume(target, approved, note, headline, config)
        return
    if os.environ.get("PREFECT_API_URL"):  # a server: resume the runs waiting at the gate
        from flows.approval import paused_runs_for
        from outreach.actions import gated_actions

        waiting = paused_runs_for(target, list(gates or gated_actions()))
        for run_id, _ in waiting:
            _resume(run_id, approved, note, headline, config)
        if waiting:
            return
    settings = load_settings(config)
    actor = command_line_actor()
    for line in decide(settings, target, gates, approved, actor, datetime.now(UTC), note, headline):
        console.print(line, markup=False, soft_wrap=True)


def approve(
    target: Target,
    gate: GateOption = None,
    note: Annotated[str, typer.Option(help="Recorded with the decision.")] = "",
    headline: Annotated[
        str | None,
        typer.Option(
            help="Pitches: the headline to use, by its text, or the consumer headline's "
            "number (0 is the recommended one; see 'outreach headlines')."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Approve a gate: record it and send what waited for it (or resume a paused run)."""
    _decide(target, gate, True, note, headline, config)


def reject(
    target: Target,
    note: Annotated[str, typer.Option(help="Why (recorded with the decision).")],
    gate: GateOption = None,
    config: ConfigOption = None,
) -> None:
    """Reject a gate: recorded in the audit log; nothing is sent."""
    _decide(target, gate, False, note, None, config)


def register_approvals(app: typer.Typer) -> None:
    """Add ``approve`` and ``reject`` to the ``outreach`` command (called by main)."""
    app.command()(approve)
    app.command()(reject)
