"""The send-newsletter flow: one finding or a digest, recipients frozen, sent in batches.

Each batch of recipients is one task (retried on transient failure; what a batch already
sent is recorded and never sent again), and a progress artifact shows how far the send is.
Running the flow again for the same issue resumes it; with ``new_subscribers`` it also
catches up the matching subscribers who joined after the issue went out.

Every send passes the "newsletter" approval gate first, as a release's does: a scheduled
weekly digest or a run started from the UI pauses for a person's decision on a server
(``outreach.gates.settle``, ``flows.approval.ask``) unless the gate is "auto", and a
rejected issue is never sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.approval import ask
from flows.common import FAILURE_HOOKS, flow_settings, run_clock, smtp_relay, worth_retrying
from flows.press import server_mode
from outreach.actions import ActionContext, SendIssue, newsletter_action
from outreach.campaign import PreparedSend, deliver, issue_to_send, prepare_send, send_batch
from outreach.config import Settings
from outreach.gates import gate_notes, settle
from outreach.newsletter import Issue
from outreach.release import load_catalog, resolve_ids
from outreach.sending import SendLog, SendReport
from outreach.templating import long_date


@task(name="prepare-send", cache_policy=NO_CACHE)
def prepare(
    issue: Issue, settings: Settings, now: datetime, new_subscribers: bool, actor: str
) -> PreparedSend:
    return prepare_send(issue, settings, now, new_subscribers=new_subscribers, actor=actor)


@task(
    name="send-batch",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=30,
    retry_condition_fn=worth_retrying,
)
def send_one_batch(
    prepared: PreparedSend, emails: list[str], settings: Settings, now: datetime
) -> SendReport:
    # On a retry, skip whoever the failed attempt already reached.
    still_pending = SendLog(settings.paths.ledger).still_pending(prepared.send_id, emails)
    notice = get_run_logger().warning  # another run sending this issue: say who, then wait
    return send_batch(prepared, still_pending, settings, now, relay=smtp_relay(), notice=notice)


def send_issue(
    issue: Issue,
    settings: Settings,
    now: datetime,
    new_subscribers: bool = False,
    actor: str = "release",
) -> str:
    """The issue to every pending recipient, each batch a retried task, with a progress
    artifact; the summary is the core's (``outreach.campaign.deliver``)."""
    logger = get_run_logger()
    prepared = prepare(issue, settings, now, new_subscribers, actor)
    if prepared.warning:
        logger.warning(f"Newsletter '{issue.key}': {prepared.warning}")
    artifact = create_progress_artifact(progress=0.0, description=f"Sending {issue.key}")

    def progress(fraction: float) -> None:
        update_progress_artifact(artifact_id=artifact, progress=round(100 * fraction, 1))

    def send(prepared: PreparedSend, batch: list[str]) -> SendReport:
        return send_one_batch(prepared, batch, settings, now)

    summary = deliver(prepared, settings, send, progress, catch_up=new_subscribers)
    logger.info(summary)
    return summary


@flow(name="send-newsletter", log_prints=True, **FAILURE_HOOKS)
def send_newsletter(
    finding_ids: list[str],
    digest_title: str | None = None,
    config: str | None = None,
    new_subscribers: bool = False,
    actor: str | None = None,
    approve: bool | None = None,
) -> str:
    """Send one finding (or, with ``digest_title``, several as one issue) to its subscribers.

    ``new_subscribers``: the issue went out before; send it to the matching subscribers who
    joined since (each once). ``actor``: who sends, for the audit log (default "release").
    ``approve``: the newsletter gate's decision, given now (recorded as ``actor``'s); left
    empty, the gate follows its policy and any recorded decision, or pauses for one."""
    settings = flow_settings(config)
    moment = run_clock()  # never a parameter: see flows.common.clock
    catalog = load_catalog(settings)
    findings = [catalog[i] for i in resolve_ids(catalog, finding_ids)]
    issue_to_send(findings, digest_title, moment)  # refuses what is not public yet
    action = newsletter_action(findings, digest_title)
    return send_gated(action, settings, moment, approve, actor or "release", new_subscribers)


def send_gated(
    action: SendIssue,
    settings: Settings,
    now: datetime,
    approve: bool | None,
    actor: str,
    new_subscribers: bool = False,
) -> str:
    """Send the action's issue once its "newsletter" gate lets it: an explicit decision, the
    "auto" policy or a recorded decision; pending, a person decides in the paused run."""
    context = ActionContext(settings, now, {"newsletter": approve}, actor=actor)
    decision = settle(action, context)
    if decision.outcome == "pending" and server_mode():
        decision = ask(action, decision, context)
    if not decision.approved:
        summary = "\n".join(gate_notes(action, decision))
        get_run_logger().info(summary)
        return summary
    return send_issue(action.issue(), settings, now, new_subscribers, actor)


@flow(name="weekly-digest", log_prints=True, **FAILURE_HOOKS)
def weekly_digest(
    days: Annotated[int, Field(ge=1, le=31)] = 7,
    title: str | None = None,
    config: str | None = None,
) -> str:
    """One digest of every finding that went public in the last ``days`` days, to the
    subscribers of their topics. A re-run of the same day sends nothing twice (the digest's
    key is its findings and its title, which names the day); a week with no new finding sends
    nothing. Its schedule runs unattended, so the digest waits at the "newsletter" gate for a
    person's decision unless the team set that gate to "auto"."""
    settings = flow_settings(config)
    moment = run_clock()  # never a parameter: see flows.common.clock
    since = moment - timedelta(days=days)
    findings = [f for f in load_catalog(settings).values() if since < f.public_from <= moment]
    if not findings:
        summary = f"No finding went public in the {days} days to {moment:%Y-%m-%d}: no digest."
        get_run_logger().info(summary)
        return summary
    heading = title or f"{settings.site.title}: findings of the week to {long_date(moment)}"
    return send_gated(newsletter_action(findings, heading), settings, moment, None, "release")
