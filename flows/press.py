"""The press steps of a release: send approved pitches, and schedule embargo lifts.

Pitches wait for a person at the "pitches" gate (``outreach.gates``; the pause and its form
are in ``flows.approval``); scripted runs pass ``approve_pitches=True``. A rejected gate
sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment
from prefect.settings import get_current_settings

from flows.common import smtp_relay, worth_retrying
from outreach.actions import ActionContext
from outreach.config import Settings
from outreach.finding import Finding
from outreach.ledger import Ledger
from outreach.press.pitch import (
    PitchOutcome,
    PitchPlan,
    pitch_plan_for,
    pitched_notes,
    send_pitches,
)
from outreach.press.timing import for_sending, groups, waiting_windows
from outreach.release import Held

LIFT_DEPLOYMENT = "lift-embargo/lift-embargo"


def server_mode() -> bool:
    """True with a Prefect server to pause on and schedule with; False on embedded defaults."""
    return bool(get_current_settings().api.url)


@task(
    name="send-pitches",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=30,
    retry_condition_fn=worth_retrying,
)
def send_pitches_task(plan: PitchPlan, settings: Settings, now: datetime) -> PitchOutcome:
    ledger = Ledger(settings.paths.ledger)
    notice = get_run_logger().warning  # another run pitching this finding: say who, then wait
    return send_pitches(plan, settings, ledger, now, smtp_relay(), notice)


def send_approved_pitches(context: ActionContext, finding: Finding) -> list[str]:
    """Send a finding's pitches once its gate is approved, with the headlines chosen on
    approval (by text); returns notes for the release report."""
    settings, now = context.settings, context.now
    chosen = dict(context.decision.headlines) if context.decision else {}
    ledger = Ledger(settings.paths.ledger)
    plan, release, _ = pitch_plan_for(
        finding, settings, ledger, now, chosen.get("business"), chosen.get("consumer")
    )
    if not plan.pitches:
        already = f" ({len(plan.already_pitched)} already pitched)" if plan.already_pitched else ""
        return [f"Pitches for '{finding.id}': no journalist left to pitch{already}."]
    _windows_artifact(finding.id, plan)
    # Each journalist in their working morning: the rest wait for their window.
    plan, timing = for_sending(finding.id, plan, release.contact, settings, now)
    notes = list(dict.fromkeys(timing))
    if not plan.pitches:
        return notes
    outcome = send_pitches_task(plan, settings, now)
    _sent_artifact(finding.id, plan, outcome, now)
    return notes + pitched_notes(finding.id, plan, outcome, settings.mail.platform)


def schedule_lifts(
    held: Sequence[Held],
    channels: Sequence[str] | None = None,
    config: str | None = None,
    approve_pitches: bool | None = None,
    approve_newsletter: bool | None = None,
) -> list[str]:
    """On a server, schedule the public step of each held finding at its lift time, on the
    same channels and configuration, with the same explicit decisions, as the release that
    held it. Without one, the lift reads the gates' decisions from the audit log (an approval
    given before the lift is used then) and pauses for the ones nobody has given."""
    if not server_mode():
        return []
    notes: list[str] = []
    logger = get_run_logger()
    for finding_id, until in sorted({(h.finding_id, h.until) for h in held}):
        key = f"lift-{finding_id}-{until.isoformat()}"
        try:
            run = run_deployment(
                LIFT_DEPLOYMENT,
                parameters={
                    "finding_id": finding_id,
                    **({"channels": list(channels)} if channels else {}),
                    **({"config": config} if config else {}),
                    **({"approve_pitches": approve_pitches} if approve_pitches is not None else {}),
                    **(
                        {"approve_newsletter": approve_newsletter}
                        if approve_newsletter is not None
                        else {}
                    ),
                },
                scheduled_time=until,
                idempotency_key=key,
                timeout=0,
                as_subflow=False,
            )
            notes.append(
                f"Scheduled the public release of '{finding_id}' for {until.isoformat()} "
                f"(run {run.id})."
            )
        except Exception as exc:  # a missing deployment must not fail the release
            logger.warning("could not schedule %s: %s", key, exc)
            notes.append(
                f"Could not schedule the public release of '{finding_id}' ({exc}); deploy with "
                f"'prefect deploy --all' or run the release again after {until.isoformat()}."
            )
    return notes


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (an address may hold a '|')."""
    return " ".join(text.split()).replace("|", "\\|")


def _windows_artifact(finding_id: str, plan: PitchPlan) -> None:
    """Per zone group: when its pitches go (each journalist's working morning) and why."""
    lines = [
        f"# Send windows: {finding_id}",
        "",
        "| zone | local send time | UTC | recipients | why |",
        "|---|---|---|---|---|",
        *[
            f"| {g.zone} | {g.local_time()} | {g.utc_time()} | {_cell(', '.join(g.emails))} | "
            f"{g.slot.reason or 'their morning window'} |"
            for g in groups(plan)
        ],
    ]
    create_markdown_artifact(
        key=f"pitch-windows-{finding_id}",
        markdown="\n".join(lines),
        description="When each zone group's pitches go",
    )


def _sent_artifact(finding_id: str, plan: PitchPlan, outcome: PitchOutcome, now: datetime) -> None:
    """Per zone group: what was sent when (and what the server refused)."""
    sent, refused = set(outcome.sent), dict(outcome.not_sent)
    lines = [
        f"# Pitches sent: {finding_id}",
        "",
        "| zone | local send time | sent (UTC) | sent to | not sent |",
        "|---|---|---|---|---|",
    ]
    for group in groups(plan):
        done = [email for email in group.emails if email in sent]
        failed = [f"{email} ({refused[email]})" for email in group.emails if email in refused]
        lines.append(
            f"| {group.zone} | {group.local_time()} | {now.astimezone(UTC):%Y-%m-%d %H:%M} | "
            f"{_cell(', '.join(done)) or '-'} | {_cell('; '.join(failed)) or '-'} |"
        )
    create_markdown_artifact(
        key=f"pitch-sent-{finding_id}",
        markdown="\n".join(lines),
        description="What was pitched when, per zone",
    )


def schedule_windows(
    settings: Settings,
    ids: Sequence[str] | None,
    now: datetime,
    config: str | None,
    approve_pitches: bool | None,
) -> list[str]:
    """On a server, a run of each finding's press step at each send window its approved
    pitches wait for (recorded by outreach.press.timing), with an idempotency key per window
    (a re-run schedules nothing twice) and the release's configuration and pitch decision
    (None: the run asks again); the ledger still decides who was pitched, so nobody is
    pitched twice."""
    if not server_mode():
        return []
    notes: list[str] = []
    windows = waiting_windows(settings, now)
    due = sorted({(w.finding_id, w.at) for w in windows if ids is None or w.finding_id in ids})
    for finding_id, at in due:
        key = f"pitch-window-{finding_id}-{at.isoformat()}"
        try:
            run = run_deployment(
                LIFT_DEPLOYMENT,
                parameters={
                    "finding_id": finding_id,
                    "channels": ["press"],
                    **({"config": config} if config else {}),
                    **({"approve_pitches": approve_pitches} if approve_pitches is not None else {}),
                },
                scheduled_time=at,
                idempotency_key=key,
                timeout=0,
                as_subflow=False,
            )
            notes.append(
                f"Scheduled the pitches of '{finding_id}' due {at.isoformat()} (run {run.id})."
            )
        except Exception as exc:  # a missing deployment must not fail the release
            get_run_logger().warning("could not schedule %s: %s", key, exc)
            notes.append(
                f"Could not schedule the pitches of '{finding_id}' due {at.isoformat()} ({exc}); "
                f"deploy with 'prefect deploy --all' or release '{finding_id}' again then."
            )
    return notes
