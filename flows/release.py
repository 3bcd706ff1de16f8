"""Release flows: validate every finding, render each channel, publish, leave a record.

Thin on purpose: the work is in ``outreach.release``; this file adds Prefect's retries,
logging and artifacts. Run it from the CLI (``outreach release``), the Prefect UI (deployments
in prefect.yaml) or directly: ``python -m flows.release FINDING_ID``.

A step is a task only where the task buys something, because each task run costs bookkeeping
(its creation, state changes and log lines sent to the server) on every release:

- ``prepare-finding``: cached by content (a persisted result), retried, shows progress;
- ``check-platforms``: retried on transient failures, before anything is pushed anywhere;
- ``publish-<platform>-<stage>``: retried (a retry skips what is already up) and holding the
  platform's concurrency slot, so concurrent releases take turns;
- ``after-publish-<action>``: one per action that reaches outside (a feed ping, an event's
  invite changes or calendar entry), so the run shows what went out; gated actions pause
  for approval and send pitches and newsletters through their own tasks and subflows
  (flows.press, flows.newsletter).

Validating and rendering (each batch, the site pages) run in the flow body: a retry cannot
fix them (the same input fails the same way), nothing caches them and they leave no
artifact; the ordering and remembering stay in ``outreach.release.run_release``. A one-finding
release on the static platform makes 3 task runs instead of 9 (bench/scale.py, section 3).
No task result is persisted but ``prepare-finding``'s (Prefect's default keeps them in
memory), and a flow run no longer waits for its heartbeat thread (flows.common).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote
from pydantic import Field

from flows.approval import ask
from flows.common import FAILURE_HOOKS, flow_settings, run_clock, worth_retrying
from flows.limits import platform_slot, platform_throttle
from flows.newsletter import send_issue
from flows.press import schedule_lifts, schedule_windows, send_approved_pitches, server_mode
from flows.scheduling import schedule_runs
from outreach.actions import Action, ActionContext, PitchFindings, SendIssue
from outreach.audit import AuditLog
from outreach.audit_summary import audit_section, release_events
from outreach.channels import get_channel
from outreach.config import Settings
from outreach.finding import SLUG_PATTERN, Finding
from outreach.gates import Gated, gate_notes, settle
from outreach.ledger import Ledger
from outreach.platforms.base import Receipt
from outreach.platforms.registry import SECRET_BLOCKS, make_platform
from outreach.release import ReleaseReport, ReleaseRequest, run_release
from outreach.release_steps import ChannelPlan, Held, open_platforms, publish_stage
from outreach.runner import PlainRunner


@task(
    name="prepare-finding",
    cache_key_fn=lambda context, parameters: parameters["key"],
    persist_result=True,
    retries=2,
    retry_delay_seconds=10,
)
def prepare_finding(channel: str, finding: Finding, settings: Settings, key: str) -> object:
    """The channel's slow step (mastering audio), cached by content: ``key`` names the input.

    Progress shows as a Prefect progress artifact.
    """
    artifact_id = create_progress_artifact(
        progress=0.0, description=f"{channel}: preparing {finding.id}"
    )
    shown = [0.0]

    def report(fraction: float) -> None:
        if fraction - shown[0] >= 0.05 or fraction >= 1.0:
            shown[0] = fraction
            update_progress_artifact(artifact_id=artifact_id, progress=round(fraction * 100, 1))

    return get_channel(channel).prepare(finding, settings, report)


def _files_still_there(prepared: object) -> bool:
    """Whether the files a cached prepared result names are still there (a cleared audio
    cache leaves a cached result pointing at nothing: then the work is done again)."""
    if isinstance(prepared, Path):
        return prepared.is_file()
    if dataclasses.is_dataclass(prepared) and not isinstance(prepared, type):
        values = [getattr(prepared, f.name) for f in dataclasses.fields(prepared)]
        return all(v.is_file() for v in values if isinstance(v, Path))
    return True


_read_for: list[tuple[object, dict[str, str]]] = []
"""The current flow run's credentials (its id, the values): read once per run, not once per
task that pushes (each read was a request per block)."""


def platform_secrets() -> dict[str, str]:
    """Platform credentials from Prefect Secret blocks, read once per flow run; the
    environment is used without them."""
    from prefect.runtime import flow_run

    run = flow_run.id
    if run is not None and _read_for and _read_for[0][0] == run:
        return dict(_read_for[0][1])
    secrets = _read_secret_blocks()
    _read_for[:] = [(run, secrets)] if run is not None else []
    return dict(secrets)


SECRET_PAGE = 200
"""Secret blocks read in one request (the server's largest page)."""


def _read_secret_blocks() -> dict[str, str]:
    """Every platform's Secret block in one request (a team has a handful of Secret blocks);
    one request per block only when there are more than a page of them."""
    from prefect import get_client
    from prefect.blocks.system import Secret
    from prefect.exceptions import PrefectHTTPStatusError

    with get_client(sync_client=True) as client:
        try:
            documents = client.read_block_documents_by_type(
                "secret", limit=SECRET_PAGE, include_secrets=True
            )
        except PrefectHTTPStatusError as exc:  # no Secret block type on this server: no blocks
            if exc.response.status_code != 404:
                raise
            documents = []
    by_name = {document.name: document for document in documents}
    secrets: dict[str, str] = {}
    for platform, block in SECRET_BLOCKS.items():
        if block in by_name:
            secrets[platform] = Secret.model_validate(by_name[block].data).get()
        elif len(documents) >= SECRET_PAGE:
            try:
                secrets[platform] = Secret.load(block).get()
            except ValueError:  # no such block
                continue
    return secrets


@task(
    name="publish",
    task_run_name="publish-{platform_name}-{stage}",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[5, 30, 120],
    retry_condition_fn=worth_retrying,
)
def publish_to(
    settings: Settings,
    plans: list[ChannelPlan],
    platform_name: str,
    stage: str,
    now: datetime,
    dry_run: bool,
) -> list[Receipt]:
    """One platform's share of a stage ("findings", then "site"), holding the platform's
    concurrency slot so concurrent releases take turns; a retry skips what is already up."""
    platform = make_platform(
        settings, platform_name, platform_secrets(), throttle=platform_throttle(platform_name)
    )
    ledger = Ledger(settings.paths.ledger)
    notice = get_run_logger().warning
    with platform_slot(platform_name):
        return publish_stage(
            settings, plans, platform, ledger, now, stage == "site", dry_run, notice
        )


@task(name="check-platforms", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10,
      retry_condition_fn=worth_retrying)  # fmt: skip
def check_platforms(settings: Settings, channels: list[str]) -> list[str]:
    """Reach every platform with its credentials before anything is pushed anywhere."""
    plans = [ChannelPlan(name) for name in channels]
    return list(open_platforms(settings, plans, platform_secrets()))


@task(name="after-publish", task_run_name="{label}", cache_policy=NO_CACHE)
def after_publish(action: Action, context: ActionContext, label: str) -> list[str]:
    """One channel's after-publish action (a feed ping; a gated one once approved), as its
    own task. Credentials from Secret blocks are read here, inside the task, so they never
    become a task parameter."""
    return action.run(dataclasses.replace(context, secrets=platform_secrets()))


class PrefectRunner(PlainRunner):
    """The release sequence with Prefect tasks where the side effects are: retries, a
    concurrency slot per platform, progress artifacts, and the approval pauses; the plain
    steps (validate, render) run directly in the flow (see the module docstring).

    Large arguments (settings, rendered plans, actions) are passed ``quote``d: Prefect then
    hands them over as they are instead of walking (and copying) every object inside them
    for upstream futures, which there never are here."""

    def step(self, name, fn, *args):
        # Validating and rendering are plain calls in the flow: as tasks they bought no retry
        # (the same input fails the same way), no cache and no artifact, and cost a task run
        # each (see the module docstring).
        return fn(*args)

    def secrets(self) -> dict[str, str]:
        return platform_secrets()

    def check_platforms(self, settings: Settings, channels) -> list[str]:
        return check_platforms(quote(settings), list(channels))

    def prepare(self, channel: str, publication, settings: Settings, key: str) -> object:
        prepared = prepare_finding(channel, publication, settings, key)
        if not _files_still_there(prepared):
            prepared = prepare_finding.with_options(refresh_cache=True)(
                channel, publication, settings, key
            )
        return prepared

    def publish(self, settings, plans, platform, site_wide, now, dry_run) -> list[Receipt]:
        stage = "site" if site_wide else "findings"
        return publish_to(quote(settings), quote(list(plans)), platform, stage, now, dry_run)

    def act(self, action: Action, context: ActionContext) -> list[str]:
        # Actions that reach people pass their gate first: on a server a pending gate pauses
        # the flow for a decision; they keep their flow steps (a newsletter send runs batch
        # by batch with progress).
        scheduled = getattr(action, "scheduled_runs", None)
        if scheduled is not None and server_mode():  # later runs: the server starts them
            return schedule_runs(scheduled(context))
        if action.gate is None:
            return after_publish(
                quote(action), quote(context), f"after-publish-{type(action).__name__}"
            )
        gated: Gated = action  # type: ignore[assignment]
        decision = settle(gated, context)
        if decision.outcome == "pending" and server_mode():
            decision = ask(gated, decision, context)
        if not decision.approved:
            return gate_notes(gated, decision)
        context = dataclasses.replace(context, decision=decision)
        if isinstance(action, PitchFindings):
            return send_approved_pitches(context, action.findings[0])
        if isinstance(action, SendIssue):
            return [send_issue(action.issue(), context.settings, context.now)]
        return after_publish(
            quote(action), quote(context), f"after-publish-{type(action).__name__}"
        )

    def after_release(self, held: Sequence[Held], request: ReleaseRequest) -> list[str]:
        decision = request.approvals.get(PitchFindings.gate or "")
        lifts = schedule_lifts(
            held,
            request.channels,
            request.config,
            decision,
            request.approvals.get(SendIssue.gate or ""),
        )
        return lifts + schedule_windows(
            request.settings, request.ids, request.now, request.config, decision
        )


def _artifact(report: ReleaseReport, key: str, request: ReleaseRequest) -> None:
    lines = [f"# Release: {key}", "", report.summary().replace("\n", "\n\n"), ""]
    links = report.live_links()
    if links:
        lines += ["## Live", "", "| finding | channel | platform | address |", "|---|---|---|---|"]
        lines += [f"| {f} | {c} | {p} | <{url}> |" for f, c, p, url in links]
        lines.append("")
    changed = report.changed
    if changed:
        lines += ["## Changed", ""]
        lines += ["| channel | platform | finding | item | action |", "|---|---|---|---|---|"]
        for receipt in changed:
            item = f"[{receipt.item}]({receipt.url})" if receipt.url else receipt.item
            finding = receipt.finding_id or "(site)"
            cells = (receipt.channel, receipt.platform, finding, item, receipt.action)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if not report.dry_run:
        publications = {r.finding_id for r in report.receipts} | set(request.ids or ()) | {""}
        log = AuditLog(request.settings.paths.ledger)
        events = release_events(log, publications, request.now)
        lines += audit_section(events, publications)
    create_markdown_artifact(
        key=key, markdown="\n".join(lines), description="What this release published, and where"
    )


def _run(
    ids: Sequence[str] | None,
    channels: Sequence[str] | None,
    dry_run: bool,
    config: str | None,
    artifact_key: str,
    rebuild: bool = False,
    approve_pitches: bool | None = None,
    approve_newsletter: bool | None = None,
) -> ReleaseReport:
    """The one release sequence (outreach.release.run_release) with the Prefect runner."""
    request = ReleaseRequest(
        flow_settings(config),
        run_clock(),  # never a parameter: see flows.common.clock
        ids,
        channels=channels,
        dry_run=dry_run,
        rebuild=rebuild,
        # Explicit decisions win; without one each gate follows its policy and the audit log
        # (outreach.gates.settle), and pauses for a person on a server.
        approvals={
            PitchFindings.gate or "": approve_pitches,
            SendIssue.gate or "": approve_newsletter,
        },
        config=config,
    )
    report = run_release(request, PrefectRunner())
    get_run_logger().info(report.summary())
    _artifact(report, artifact_key, request)
    return report


def _key(text: str) -> str:
    return "release-" + "".join(c if c.isalnum() else "-" for c in text.lower())[:60]


FindingId = Annotated[
    str,
    Field(pattern=SLUG_PATTERN.pattern, description="The finding's id (its file name without .md)"),
]
FLOW_OPTIONS = {"log_prints": True, **FAILURE_HOOKS}


@flow(name="release-finding", **FLOW_OPTIONS)
def release_finding(
    finding_id: FindingId,
    channels: list[str] | None = None,
    dry_run: bool = False,
    config: str | None = None,
    approve_pitches: bool | None = None,
    approve_newsletter: bool | None = None,
) -> ReleaseReport:
    """Release one finding on the chosen channels (default: all configured).

    ``approve_pitches`` and ``approve_newsletter``: True sends without asking, False sends
    none; by default each gate follows ``[approval]`` and its recorded decision, and the flow
    pauses for a decision in the Prefect UI (on a server).
    """
    return _run(
        [finding_id],
        channels,
        dry_run,
        config,
        _key(finding_id),
        approve_pitches=approve_pitches,
        approve_newsletter=approve_newsletter,
    )


PublicationId = Annotated[
    str,
    Field(
        pattern=r"^(?:[a-z]+:)?" + SLUG_PATTERN.pattern.removeprefix("^"),
        description="A finding's id, or another kind's publication as kind:id (report:<id>)",
    ),
]


@flow(name="lift-embargo", **FLOW_OPTIONS)
def lift_embargo(
    finding_id: PublicationId,
    channels: list[str] | None = None,
    config: str | None = None,
    approve_pitches: bool | None = None,
    approve_newsletter: bool | None = None,
) -> ReleaseReport:
    """The public step of an embargoed finding, which a release schedules at the lift time:
    the blog, podcast, newsroom, WordPress post and newsletter go out, and pitches that
    waited for the lift are sent. Run early by hand, it holds the finding again.

    Prefect may start a scheduled run a fraction of a second early, which must not count as
    before the lift: every flow acts at its scheduled time then (flows.common.acting_time)."""
    return _run(
        [finding_id],
        channels,
        False,
        config,
        _key(f"lift-{finding_id}"),
        approve_pitches=approve_pitches,
        approve_newsletter=approve_newsletter,
    )


@flow(name="release-findings", **FLOW_OPTIONS)
def release_findings(
    finding_ids: list[FindingId] | None = None,
    channels: list[str] | None = None,
    dry_run: bool = False,
    config: str | None = None,
    approve_pitches: bool | None = None,
    approve_newsletter: bool | None = None,
) -> ReleaseReport:
    """Release several findings at once (all of them when no ids are given)."""
    return _run(
        finding_ids,
        channels,
        dry_run,
        config,
        _key("batch"),
        approve_pitches=approve_pitches,
        approve_newsletter=approve_newsletter,
    )


ReportId = Annotated[
    str,
    Field(pattern=SLUG_PATTERN.pattern, description="The report's id (its file name without .md)"),
]


@flow(name="release-report", **FLOW_OPTIONS)
def release_report(
    report_id: ReportId,
    channels: list[str] | None = None,
    dry_run: bool = False,
    config: str | None = None,
    approve_pitches: bool | None = None,
    approve_newsletter: bool | None = None,
) -> ReleaseReport:
    """Release one report (``reports/<id>.md``): its web edition and PDF, on the chosen
    channels (default: all configured that take reports). The same sequence as a finding's,
    with the report's ledger key ``report:<id>``; the artifact links the PDF and the pages."""
    return _run(
        [f"report:{report_id}"],
        channels,
        dry_run,
        config,
        _key(f"report-{report_id}"),
        approve_pitches=approve_pitches,
        approve_newsletter=approve_newsletter,
    )


@flow(name="rebuild-site", **FLOW_OPTIONS)
def rebuild_site(channels: list[str] | None = None, config: str | None = None) -> ReleaseReport:
    """Re-render every released finding and every index, e.g. after a template change."""
    return _run(None, channels, False, config, _key("rebuild"), rebuild=True)


@flow(name="rebuild-podcast-feed", **FLOW_OPTIONS)
def rebuild_podcast_feed(config: str | None = None) -> ReleaseReport:
    """Re-render every released episode and the podcast feed and page."""
    return _run(None, ["podcast"], False, config, _key("podcast"), rebuild=True)


if __name__ == "__main__":
    release_finding(sys.argv[1])
