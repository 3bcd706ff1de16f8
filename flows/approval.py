"""The approval pause on a Prefect server: one typed form for every gate (pitches, newsletter).

The form opens on the recommended choice, "approve", as an explicit choice (not a toggle that
is off by default, where Resume then Submit would reject); it asks for the approver's name
(the server has no accounts) and a note, and, for pitches, the headlines by their text. Its
description shows the subject, the recipient count and a sample of recipients, the headlines
and the text part; the rendered HTML is written next to the build folder and linked from an
artifact. The decision is recorded in the audit log and the gate's artifact is updated with
it. ``outreach approve RUN_ID`` resumes a paused run with the same input (``resume``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from prefect import pause_flow_run
from prefect.artifacts import create_markdown_artifact
from prefect.input import RunInput
from pydantic import Field, create_model

import flows.common as common
from outreach.actions import ActionContext
from outreach.audit import AuditLog
from outreach.files import atomic_write
from outreach.gates import ApprovalError, Decision, Gated, Shown, record_decision
from outreach.secrets_store import recipient_key

APPROVAL_TIMEOUT = timedelta(days=2)


class Approval(RunInput):
    """The decision on one gate: approve (the recommended choice) or reject, by whom, why."""

    decision: Literal["approve", "reject"] = Field(
        "approve", description="Approve sends to the recipients shown; reject sends nothing."
    )
    approver: str = Field(
        min_length=1, description="Your name: recorded with the decision in the audit log."
    )
    note: str = Field("", description="Why, or anything the team should know (recorded).")


def form_for(shown: Shown) -> type[Approval]:
    """The form for what is shown: pitches add a choice of each headline, by its text."""
    if not shown.headlines:
        return Approval
    fields: dict[str, Any] = {
        f"{kind}_headline": (
            Literal[tuple(texts)],  # type: ignore[valid-type]
            Field(texts[0], description=f"The {kind} headline (the recommended one first)."),
        )
        for kind, texts in shown.headlines.items()
        if texts
    }
    return create_model("PitchApproval", __base__=Approval, **fields)


def pause_key(gate: str, publication: str) -> str:
    return f"{gate}-{publication}"


def artifact_key(gate: str, publication: str) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes."""
    name = "pitch" if gate == "pitches" else gate
    return "".join(c if c.isalnum() else "-" for c in f"{name}-{publication}".lower())[:100]


def preview_file(build: Path, gate: str, publication: str, shown: Shown) -> Path | None:
    """The rendered HTML as a file the approver opens (``outreach preview`` serves build/)."""
    if shown.html is None:
        return None
    path = build / "approvals" / f"{artifact_key(gate, publication)}.html"
    atomic_write(path, shown.html.encode("utf-8"))
    return path


def describe(action: Gated, shown: Shown, preview: Path | None, status: str) -> str:
    """The markdown an approver reads: status, subject, who it reaches, headlines, text."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"# {action.label}: {status}", "", f"**Subject:** {cell(shown.subject)}", ""]
    lines += [f"**Recipients:** {shown.count}", ""]
    lines += [f"- {address}" for address in shown.sample]
    if shown.count > len(shown.sample):
        lines.append(f"- … and {shown.count - len(shown.sample)} more")
    for kind, texts in shown.headlines.items():
        lines += ["", f"## {kind.capitalize()} headlines", ""]
        lines += [f"{n}. {cell(text)}{' (recommended)' if n == 1 else ''}"
                  for n, text in enumerate(texts, 1)]  # fmt: skip
    if preview is not None:
        lines += ["", f"**Rendered email (HTML):** [{preview.name}]({preview.as_uri()})"]
    lines += ["", "## Text part", "", "```", shown.text.strip(), "```"]
    return "\n".join(lines)


def ask(action: Gated, pending: Decision, context: ActionContext) -> Decision:
    """Pause the flow run for a person's decision on a pending gate; record it and show it
    on the gate's artifact. Returns the decision."""
    settings = context.settings
    shown = pending.shown
    assert shown is not None, "a pending decision carries what it shows"
    gate, publication = pending.gate, pending.publication
    preview = preview_file(settings.paths.build, gate, publication, shown)
    waiting = describe(action, shown, preview, "awaiting approval")
    key = artifact_key(gate, publication)
    create_markdown_artifact(key=key, markdown=waiting, description="Awaiting approval")
    form = form_for(shown).with_initial_data(description=waiting, decision="approve")
    answer = pause_flow_run(
        wait_for_input=form,
        timeout=int(APPROVAL_TIMEOUT.total_seconds()),
        key=pause_key(gate, publication),
    )
    decided_at = common.clock()
    headlines = {
        kind: getattr(answer, f"{kind}_headline")
        for kind in shown.headlines
        if hasattr(answer, f"{kind}_headline")
    }
    decision = Decision(
        gate,
        publication,
        "approved" if answer.decision == "approve" else "rejected",
        answer.approver.strip(),
        decided_at.isoformat(),
        answer.note.strip(),
        headlines,
        "form",
        shown,
    )
    record_decision(AuditLog(settings.paths.ledger), decision, decided_at,
                    recipient_key(settings), shown)  # fmt: skip
    show_decision(action, decision, preview)
    return decision


def show_decision(action: Gated, decision: Decision, preview: Path | None = None) -> None:
    """Replace the gate's artifact with the decision (never "awaiting approval" afterwards)."""
    if decision.shown is None:
        return
    verb = "approved" if decision.approved else "rejected"
    status = f"{verb} by {decision.actor or 'the release request'} at {decision.at}"
    text = describe(action, decision.shown, preview, status)
    if decision.note:
        text += f"\n\n**Note:** {decision.note}"
    for kind, chosen in decision.headlines.items():
        text += f"\n\n**{kind.capitalize()} headline chosen:** {chosen}"
    create_markdown_artifact(
        key=artifact_key(decision.gate, decision.publication),
        markdown=text,
        description=f"{action.label} {verb}",
    )


def resume(run_id: str, run_input: dict[str, Any]) -> str:
    """Resume a flow run paused at a gate with a decision; returns the gate's pause key."""
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    if not run.state or not run.state.is_paused():
        state = run.state.name if run.state else "unknown"
        raise ApprovalError(
            f"flow run {run_id} is not paused at a gate (it is {state}); give a paused run's "
            "id, or a finding id with --gate on embedded defaults"
        )
    resume_flow_run(run_id, run_input=run_input)
    return str(run.state.state_details.pause_key or "")


def paused_gate(run_id: str) -> tuple[str, str]:
    """(gate, publication) a flow run is paused at, from its pause key."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    key = str(run.state.state_details.pause_key or "") if run.state else ""
    gate, _, publication = key.partition("-")
    if not publication:
        raise ApprovalError(f"flow run {run_id} is not paused at an approval gate")
    return gate, publication


def paused_runs_for(publication: str, gates: list[str]) -> list[tuple[str, str]]:
    """(run id, gate) of every flow run paused at one of ``gates`` for ``publication``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    wanted = {pause_key(gate, publication): gate for gate in gates}
    paused = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
    )
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=paused)
    return [
        (str(run.id), wanted[key])
        for run in runs
        if run.state and (key := str(run.state.state_details.pause_key or "")) in wanted
    ]
