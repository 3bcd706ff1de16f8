"""The send-newsletter flow: one finding or a digest, recipients frozen, sent in batches.

Each batch of recipients is one task (retried on transient failure; what a batch already
sent is recorded and never sent again), and a progress artifact shows how far the send is.
Running the flow again for the same issue resumes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from outreach.campaign import PreparedSend, prepare_send, send_batch
from outreach.config import Settings, load_settings
from outreach.newsletter import Issue, digest_issue, finding_issue
from outreach.release import ReleaseError, load_catalog, resolve_ids
from outreach.sending import SendLog, SendReport


@task(name="prepare-send", cache_policy=NO_CACHE)
def prepare(issue: Issue, settings: Settings, now: datetime) -> PreparedSend:
    return prepare_send(issue, settings, now)


SMTP_PASSWORD_BLOCK = "outreach-smtp-password"
"""A Prefect Secret block with the SMTP password; OUTREACH_SMTP_PASSWORD is used without it."""


def smtp_password() -> str | None:
    from prefect.blocks.system import Secret

    try:
        return Secret.load(SMTP_PASSWORD_BLOCK).get()
    except ValueError:  # no such block: the environment variable applies
        return None


@task(name="send-batch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=30)
def send_one_batch(
    prepared: PreparedSend, emails: list[str], settings: Settings, now: datetime
) -> SendReport:
    # On a retry, skip whoever the failed attempt already reached.
    still_pending = SendLog(settings.paths.ledger).still_pending(prepared.send_id, emails)
    password = smtp_password() if settings.mail.platform == "smtp" else None
    return send_batch(prepared, still_pending, settings, now, password=password)


def send_issue(issue: Issue, settings: Settings, now: datetime) -> str:
    logger = get_run_logger()
    prepared = prepare(issue, settings, now)
    total = SendLog(settings.paths.ledger).counts(prepared.send_id).total
    artifact = create_progress_artifact(progress=0.0, description=f"Sending {issue.key}")
    sent = bounced = deferred = 0
    for batch in prepared.batches(settings):
        report = send_one_batch(prepared, batch, settings, now)
        sent, bounced, deferred = (
            sent + report.sent,
            bounced + len(report.bounced),
            deferred + len(report.deferred),
        )
        counts = SendLog(settings.paths.ledger).counts(prepared.send_id)
        done = counts.total - counts.pending
        update_progress_artifact(
            artifact_id=artifact, progress=round(100 * done / max(total, 1), 1)
        )
        if report.deferred:
            break  # the server is refusing for now: the next run resumes
    update_progress_artifact(artifact_id=artifact, progress=100.0)
    resumed = "" if prepared.newly_frozen else " (resumed)"
    summary = (
        f"Newsletter '{issue.key}'{resumed}: {sent} sent, {bounced} bounced, {deferred} deferred "
        f"to a later run, of {total} recipients."
    )
    logger.info(summary)
    return summary


@flow(name="send-newsletter", log_prints=True)
def send_newsletter(
    finding_ids: list[str],
    digest_title: str | None = None,
    config: str | None = None,
    now: datetime | None = None,
) -> str:
    """Send one finding (or, with ``digest_title``, several as one issue) to its subscribers."""
    settings = load_settings(Path(config) if config else None)
    moment = now or datetime.now(UTC)
    catalog = load_catalog(settings)
    ids = resolve_ids(catalog, finding_ids)
    findings = [catalog[i] for i in ids]
    held = [f.id for f in findings if not f.is_public(moment)]
    if held:
        raise ReleaseError(f"not public yet, so not sent: {', '.join(held)}")
    if digest_title:
        issue = digest_issue(findings, digest_title)
    elif len(findings) == 1:
        issue = finding_issue(findings[0])
    else:
        raise ReleaseError("several findings need a digest_title: they go out as one digest")
    return send_issue(issue, settings, moment)
