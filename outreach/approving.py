"""``outreach approve`` and ``outreach reject`` on embedded defaults: record a person's
decision on a gate and, when a release already stopped at that gate, run the step now.

No Prefect here: the gated action is rebuilt from the publication's id (its class's
``for_approval``, found in ``gated_actions()``) and run in this process. An approval given
before a release reaches the gate (before the embargo lifts, say) is recorded and used by
that release; the step still waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from outreach.actions import ActionContext, gated_actions
from outreach.audit import AuditLog
from outreach.config import Settings
from outreach.gates import ApprovalError, Decision, Shown, last_decision, record_decision
from outreach.secrets_store import recipient_key


def check_gate(gate: str) -> str:
    if gate not in gated_actions():
        raise ApprovalError(f"no gate named '{gate}'; choose from: {', '.join(gated_actions())}")
    return gate


def reached(log: AuditLog, gate: str, publication: str) -> bool:
    """Whether a release stopped at this gate for this publication (a pending decision)."""
    return any(
        entry.subject == gate and entry.outcome == "pending"
        for entry in log.entries(publication=publication, event="decision")
    )


def awaiting_gates(log: AuditLog, publication: str) -> list[str]:
    """The gates whose last decision for the publication is still pending."""
    return [
        gate
        for gate in gated_actions()
        if (latest := last_decision(log, gate, publication)) and latest.outcome == "pending"
    ]


def choose_headline(shown: Shown | None, headline: str) -> dict[str, str]:
    """``--headline``: a number picks the consumer headline (the pitch's subject; 0 is the
    recommended one), a text picks whichever headline has that text."""
    if shown is None or not shown.headlines:
        raise ApprovalError("--headline applies to pitches of a released finding only")
    if headline.strip().isdigit():
        texts = shown.headlines.get("consumer", ())
        index = int(headline)
        if index >= len(texts):
            raise ApprovalError(
                f"--headline {index}: there are {len(texts)} consumer headlines; pick 0 to "
                f"{len(texts) - 1} or give a headline's text"
            )
        return {"consumer": texts[index]}
    wanted = " ".join(headline.split()).casefold()
    for kind, texts in shown.headlines.items():
        for text in texts:
            if " ".join(text.split()).casefold() == wanted:
                return {kind: text}
    choices = "; ".join(f"{k}: {' | '.join(t)}" for k, t in shown.headlines.items())
    raise ApprovalError(f"--headline '{headline}' is none of the headlines ({choices})")


def decide(
    settings: Settings,
    publication: str,
    gates: Sequence[str] | None,
    approved: bool,
    actor: str,
    now: datetime,
    note: str = "",
    headline: str | None = None,
) -> list[str]:
    """Record the decision on each gate (default: every gate awaiting one) and run the
    steps a release stopped at; returns what happened, one line each."""
    log = AuditLog(settings.paths.ledger)
    chosen = [check_gate(g) for g in gates] if gates else awaiting_gates(log, publication)
    if not chosen:
        raise ApprovalError(
            f"nothing awaits a decision for '{publication}'; name the gate with --gate "
            f"({' or '.join(gated_actions())}) to decide before a release reaches it"
        )
    key = recipient_key(settings)
    notes: list[str] = []
    for gate in chosen:
        action = gated_actions()[gate].for_approval(publication, settings, now)
        shown = action.shown(settings, now) if action is not None else None
        headlines: Mapping[str, str] = (
            choose_headline(shown, headline) if headline and approved else {}
        )
        was_reached = reached(log, gate, publication)
        outcome = "approved" if approved else "rejected"
        decision = Decision(
            gate, publication, outcome, actor, now.isoformat(), note, headlines, "command", shown
        )
        record_decision(log, decision, now, key, shown)
        label = action.label if action is not None else f"{gate.capitalize()} for '{publication}'"
        if not approved:
            reason = f": {note}" if note else ""
            notes.append(f"{label} rejected by {actor}; nothing sent{reason}.")
        elif action is None or not was_reached:
            notes.append(
                f"{label} approved by {actor}; recorded for the release or send that reaches "
                "this gate (after the embargo lifts, when the finding is released, or when "
                "the same newsletter send runs again)."
            )
        else:
            context = ActionContext(settings, now, {gate: True}, decision, actor)
            notes.append(f"{label} approved by {actor}.")
            notes += action.run(context)
    return notes
