"""How a command runs a release, a rebuild or a newsletter send: through the Prefect flows on
the team's server, or directly in this process on embedded defaults.

Without a server, each flow would start a temporary Prefect server of its own: 7-20 s per
command, and several commands at once fight over its database ("database is locked", then
a timeout). That server has no scheduler and no UI anyone sees, so it adds nothing a
command needs: on embedded defaults the command runs the same core sequence
(``outreach.release.run_release``) with the plain runner, and never imports Prefect. The
state's locks (``outreach.locks``) keep concurrent commands from doing anything twice.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from outreach.actions import PitchFindings, SendIssue
from outreach.config import Settings
from outreach.release import ReleaseReport, ReleaseRequest, load_catalog, resolve_ids, run_release
from outreach.runner import PlainRunner

Approvals = Mapping[str, bool | None]


def approvals_for(approve: bool) -> dict[str, bool | None]:
    """The decisions a command line gives a release, by gate: ``--approve`` approves every
    gate the release reaches (pitches, newsletter, social posts); without it none is decided
    here, and each gate follows its policy and the decisions in the audit log
    (``outreach.gates.settle``)."""
    decision = True if approve else None
    return {PitchFindings.gate or "": decision, SendIssue.gate or "": decision, "social": decision}


def prefect_server(environ: Mapping[str, str] | None = None) -> str | None:
    """The team's Prefect server (its API address) if one is configured, else None.

    Read the way Prefect reads it, without importing Prefect (a second of start-up):
    PREFECT_API_URL in the environment, else in the active profile of
    ``$PREFECT_HOME/profiles.toml`` (``prefect config set PREFECT_API_URL=...`` writes there).
    """
    env = os.environ if environ is None else environ
    if "PREFECT_API_URL" in env:
        return env["PREFECT_API_URL"].strip() or None
    home = Path(env.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(env.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    active = env.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    profile = profiles.get("profiles", {}).get(active, {})
    url = profile.get("PREFECT_API_URL") if isinstance(profile, dict) else None
    return str(url).strip() or None if url else None


def show_notices() -> None:
    """On the direct path, the core's warnings (a run waiting for another's lock, and for
    whom) reach stderr as one plain line each, like the flows' log lines."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)


def release(
    settings: Settings,
    ids: Sequence[str] | None,
    channels: Sequence[str] | None,
    dry_run: bool,
    approvals: Approvals,
    config: str | None,
) -> ReleaseReport:
    """Release ``ids`` (None: every publication of every kind): the release flow on a
    server, the same sequence here without one."""
    if prefect_server():
        from flows.release import release_finding, release_findings
        from outreach_cli.main import quiet_expected_tracebacks

        quiet_expected_tracebacks()
        decisions = {
            "approve_pitches": approvals.get(PitchFindings.gate or ""),
            "approve_newsletter": approvals.get(SendIssue.gate or ""),
        }
        if ids and all(i.startswith("report:") for i in ids) and len(ids) == 1:
            from flows.release import release_report

            report_id = ids[0].removeprefix("report:")
            return release_report(report_id, channels, dry_run, config, **decisions)
        if ids is not None and len(ids) == 1:
            return release_finding(ids[0], channels, dry_run, config, **decisions)
        everything = None if ids is None else list(ids)
        return release_findings(everything, channels, dry_run, config, **decisions)
    show_notices()
    request = ReleaseRequest(
        settings,
        datetime.now(UTC),
        None if ids is None else list(ids),
        channels=channels,
        dry_run=dry_run,
        approvals=dict(approvals),
        config=config,
    )
    return run_release(request, PlainRunner())


def rebuild(settings: Settings, config: str | None) -> ReleaseReport:
    """Re-render everything released: the rebuild flow on a server, directly without one."""
    if prefect_server():
        from flows.release import rebuild_site
        from outreach_cli.main import quiet_expected_tracebacks

        quiet_expected_tracebacks()
        return rebuild_site(None, config)
    show_notices()
    request = ReleaseRequest(settings, datetime.now(UTC), None, rebuild=True, config=config)
    return run_release(request, PlainRunner())


def send_newsletter(
    settings: Settings,
    finding_ids: Sequence[str],
    digest: str | None,
    config: str | None,
    new_subscribers: bool = False,
    actor: str = "release",
    approve: bool | None = None,
) -> str:
    """Send a finding or a digest: the send-newsletter flow on a server, directly without one
    (batch after batch, resuming a send begun before); returns the summary. Either way the
    "newsletter" gate decides first: ``approve`` (given now, as ``actor``), its policy, or a
    recorded decision; without one nothing is sent and the summary says how to approve."""
    if prefect_server():
        from flows.newsletter import send_newsletter as flow
        from outreach_cli.main import quiet_expected_tracebacks

        quiet_expected_tracebacks()
        return flow(
            list(finding_ids),
            digest,
            config,
            new_subscribers=new_subscribers,
            actor=actor,
            approve=approve,
        )
    from outreach.actions import ActionContext, newsletter_action
    from outreach.campaign import (
        batch_sender,
        deliver,
        issue_to_send,
        newsletter_transport,
        prepare_send,
    )
    from outreach.gates import gate_notes, settle

    show_notices()
    now = datetime.now(UTC)
    catalog = load_catalog(settings)
    findings = [catalog[i] for i in resolve_ids(catalog, finding_ids)]
    issue = issue_to_send(findings, digest, now)
    action = newsletter_action(findings, digest)
    decision = settle(action, ActionContext(settings, now, {"newsletter": approve}, actor=actor))
    if not decision.approved:
        return "\n".join(gate_notes(action, decision))
    prepared = prepare_send(issue, settings, now, new_subscribers=new_subscribers, actor=actor)
    if prepared.warning:
        logging.getLogger(__name__).warning(f"Newsletter '{issue.key}': {prepared.warning}")
    with newsletter_transport(settings) as transport:  # its connections carry every batch
        send = batch_sender(settings, now, transport)
        return deliver(prepared, settings, send, catch_up=new_subscribers)
