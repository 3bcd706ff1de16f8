"""The press steps of a release: approve and send pitches, and schedule embargo lifts.

Pitches wait for a person: with a Prefect server the flow pauses with a typed input (approve,
pick a headline, add a note) next to an artifact showing the headlines, the pitch and the
recipients; scripted runs pass ``approve_pitches=True``; on embedded defaults (no server, no
UI) pitches wait and the note says how to approve them. A rejected release sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from prefect import get_run_logger, pause_flow_run, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment
from prefect.input import RunInput
from prefect.settings import get_current_settings

from flows.common import smtp_relay, worth_retrying
from outreach.config import Settings
from outreach.finding import Finding
from outreach.headlines import HeadlineChoice
from outreach.ledger import Ledger
from outreach.press.pitch import PitchOutcome, PitchPlan, pitch_plan_for, send_pitches
from outreach.press.timing import for_sending, groups, waiting_windows
from outreach.release import Held

APPROVAL_TIMEOUT = timedelta(days=2)
LIFT_DEPLOYMENT = "lift-embargo/lift-embargo"


class PitchDecision(RunInput):
    """What the approver decides. Headline 0 is the chosen one; 1, 2, ... the runners-up."""

    approve: bool = False
    business_headline: int = 0
    consumer_headline: int = 0
    note: str = ""


def server_mode() -> bool:
    """True with a Prefect server to pause on and schedule with; False on embedded defaults."""
    return bool(get_current_settings().api.url)


def _artifact(finding: Finding, plan: PitchPlan, choice: HeadlineChoice) -> None:
    def row(pick: str, headline) -> str:
        style = "; ".join(headline.problems) or "within limits"
        text = headline.text.replace("|", "\\|")
        return f"| {pick} | {text} | {headline.score} | {style} |"

    def rows(chosen, runners) -> list[str]:
        return [row("0 (chosen)", chosen)] + [row(str(n), h) for n, h in enumerate(runners, 1)]

    header = ["| pick | headline | score | house style |", "|---|---|---|---|"]
    sample = plan.pitches[0].text if plan.pitches else ""
    lines = [
        f"# Pitch approval: {finding.id}",
        "",
        "## Business headlines",
        "",
        *header,
        *rows(choice.business, choice.business_runners_up),
        "",
        "## Consumer headlines",
        "",
        *header,
        *rows(choice.consumer, choice.consumer_runners_up),
        "",
        f"## Recipients ({len(plan.pitches)})",
        "",
        *[
            f"- {p.journalist.name}, {p.journalist.outlet} <{p.journalist.email}>"
            for p in plan.pitches
        ],
        *(
            [f"- already pitched: {', '.join(plan.already_pitched)}"]
            if plan.already_pitched
            else []
        ),
        *[f"- skipped {email}: {why}" for email, why in plan.skipped],
        "",
        "## Send windows (each journalist's working morning)",
        "",
        "| zone | local send time | UTC | recipients | why |",
        "|---|---|---|---|---|",
        *[
            f"| {g.zone} | {g.local_time()} | {g.utc_time()} | {_cell(', '.join(g.emails))} | "
            f"{g.slot.reason or 'their morning window'} |"
            for g in groups(plan)
        ],
        "",
        "## The pitch (first recipient)",
        "",
        "```",
        sample,
        "```",
    ]
    for warning in choice.warnings:
        lines.insert(2, f"> Warning: {warning}\n")
    create_markdown_artifact(
        key=f"pitch-{finding.id}",
        markdown="\n".join(lines),
        description="Headlines, pitch and recipients awaiting approval",
    )


def _decide(approve_pitches: bool | None, finding_id: str) -> PitchDecision | None:
    if approve_pitches is not None:
        return PitchDecision(approve=approve_pitches, note="decided by the caller")
    if not server_mode():
        return None
    return pause_flow_run(
        wait_for_input=PitchDecision,
        timeout=int(APPROVAL_TIMEOUT.total_seconds()),
        key=f"pitch-{finding_id}",
    )


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


def pitch_findings(
    settings: Settings, findings: Sequence[Finding], now: datetime, approve_pitches: bool | None
) -> list[str]:
    """Approve and send the pitches of each finding; returns notes for the release report."""
    notes: list[str] = []
    ledger = Ledger(settings.paths.ledger)
    for finding in findings:
        plan, _, choice = pitch_plan_for(finding, settings, ledger, now)
        if not plan.pitches:
            already = (
                f" ({len(plan.already_pitched)} already pitched)" if plan.already_pitched else ""
            )
            notes.append(f"Pitches for '{finding.id}': no journalist left to pitch{already}.")
            continue
        _artifact(finding, plan, choice)
        decision = _decide(approve_pitches, finding.id)
        if decision is None:
            notes.append(
                f"Pitches for '{finding.id}' await approval ({len(plan.pitches)} journalists): "
                f"run 'outreach release {finding.id} --approve', or approve in the Prefect UI "
                "on a server."
            )
            continue
        if not decision.approve:
            reason = f": {decision.note}" if decision.note else ""
            notes.append(f"Pitches for '{finding.id}' rejected; nothing sent{reason}.")
            continue
        business = _pick(choice.business, choice.business_runners_up, decision.business_headline)
        consumer = _pick(choice.consumer, choice.consumer_runners_up, decision.consumer_headline)
        plan, release, _ = pitch_plan_for(finding, settings, ledger, now, business, consumer)
        # Each journalist in their working morning: on a server each later window is a
        # scheduled run (same decision, idempotent); without one the notes say when.
        # (the release schedules their runs once it is out: schedule_windows)
        plan, timing = for_sending(finding.id, plan, release.contact, settings, now)
        notes.extend(note for note in timing if note not in notes)
        if not plan.pitches:
            continue
        outcome = send_pitches_task(plan, settings, now)
        _sent_artifact(finding.id, plan, outcome, now)
        meanwhile = len(plan.pitches) - len(outcome.sent) - len(outcome.not_sent)
        by_other = f" ({meanwhile} pitched meanwhile by another run)" if meanwhile else ""
        notes.append(
            f"Pitched '{finding.id}' to {len(outcome.sent)} journalist(s) via "
            f"{settings.mail.platform}{by_other}."
        )
        notes.extend(
            f"Not pitched: {email} ({reason}); correct press/journalists.csv and release "
            f"'{finding.id}' again to retry."
            for email, reason in outcome.not_sent
        )
    return notes


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (an address may hold a '|')."""
    return " ".join(text.split()).replace("|", "\\|")


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


def _pick(chosen, runners, index: int) -> str | None:
    if index <= 0:
        return None
    if index > len(runners):
        raise ValueError(f"headline {index} does not exist; pick 0 to {len(runners)}")
    return runners[index - 1].text


def schedule_lifts(
    held: Sequence[Held],
    channels: Sequence[str] | None = None,
    config: str | None = None,
    approve_pitches: bool | None = None,
) -> list[str]:
    """On a server, schedule the public step of each held finding at its lift time, on the
    same channels and configuration, with the same pitch decision, as the release that
    held it (so a lift run never waits for an approval nobody is there to give)."""
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
