"""Release flows: validate every finding, render each channel, publish, leave a record.

Thin on purpose: the work is in ``outreach.release``; this file adds Prefect's retries,
logging and artifacts. Run it from the CLI (``outreach release``), the Prefect UI (deployments
in prefect.yaml) or directly: ``python -m flows.release FINDING_ID``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.common import flow_settings, notify_failure, run_clock, worth_retrying
from flows.limits import platform_slot, wordpress_throttle
from flows.newsletter import send_issue
from flows.press import pitch_findings, schedule_lifts
from outreach.channels import get_channel
from outreach.config import Settings
from outreach.finding import SLUG_PATTERN, Finding
from outreach.ledger import Ledger
from outreach.newsletter import finding_issue
from outreach.platforms.base import Receipt
from outreach.platforms.registry import WORDPRESS_PASSWORD_BLOCK, make_platform
from outreach.release import (
    ChannelPlan,
    ReleaseReport,
    load_catalog,
    notify_channels,
    open_platforms,
    plan_channel,
    platforms_for_reuse,
    publish_stage,
    ready_findings,
    rebuild_ids,
    remember_renders,
    resolve_channels,
    resolve_ids,
    reuse_for,
)


@task(name="validate-findings", cache_policy=NO_CACHE)
def validate_findings(settings: Settings) -> dict[str, Finding]:
    return load_catalog(settings)


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


@task(name="notify", cache_policy=NO_CACHE)
def notify(settings: Settings, channels: list[str], receipts: list[Receipt]) -> list[str]:
    return notify_channels(settings, channels, receipts)


@task(name="render-channel", cache_policy=NO_CACHE)
def render_channel(
    settings: Settings, catalog: dict[str, Finding], channel: str, ids: list[str], now: datetime
) -> ChannelPlan:
    """Render what changed since the last publish (unchanged findings and pages are kept)."""
    ledger = Ledger(settings.paths.ledger)
    reuse = reuse_for(settings, ledger, channel, platforms_for_reuse(settings, [channel]))
    return plan_channel(settings, catalog, channel, ids, ledger.released(channel), now, reuse)


def platform_secrets() -> dict[str, str]:
    """Platform credentials from Prefect Secret blocks; the environment is used without them."""
    from prefect.blocks.system import Secret

    try:
        return {"wordpress": Secret.load(WORDPRESS_PASSWORD_BLOCK).get()}
    except ValueError:  # no such block
        return {}


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
        settings, platform_name, platform_secrets(),
        throttle=wordpress_throttle() if platform_name == "wordpress" else None,
    )  # fmt: skip
    ledger = Ledger(settings.paths.ledger)
    notice = get_run_logger().warning
    with platform_slot(platform_name):
        return publish_stage(
            settings, plans, platform, ledger, now, stage == "site", dry_run, notice
        )


@task(name="check-platforms", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10,
      retry_condition_fn=worth_retrying)  # fmt: skip
def check_platforms(settings: Settings, plans: list[ChannelPlan]) -> list[str]:
    """Reach every platform with its credentials before anything is pushed anywhere."""
    return list(open_platforms(settings, plans, platform_secrets()))


def publish(
    settings: Settings, plans: list[ChannelPlan], now: datetime, dry_run: bool
) -> list[Receipt]:
    """Findings' files on every platform first, then indexes and feeds."""
    names = check_platforms(settings, plans)
    receipts: list[Receipt] = []
    for stage in ("findings", "site"):
        for name in names:
            receipts += publish_to(settings, plans, name, stage, now, dry_run)
    if not dry_run:
        remember_renders(Ledger(settings.paths.ledger), plans)
    return receipts


def _artifact(report: ReleaseReport, key: str) -> None:
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
) -> ReleaseReport:
    logger = get_run_logger()
    settings = flow_settings(config)
    moment = run_clock()  # never a parameter: see flows.common.clock
    catalog = validate_findings(settings)
    names = resolve_channels(settings, channels, platform_secrets())
    chosen = rebuild_ids(settings, catalog, names) if rebuild else resolve_ids(catalog, ids)
    for name in names:
        channel = get_channel(name)
        for finding in ready_findings(name, catalog, chosen, moment)[0]:
            key = channel.prepare_key(finding, settings)
            if key is not None:
                prepare_finding(name, finding, settings, key)
    plans = [render_channel(settings, catalog, name, chosen, moment) for name in names]
    receipts = publish(settings, plans, moment, dry_run)
    held = [hold for plan in plans for hold in plan.held]
    notes: list[str] = []
    if not dry_run:
        notes += notify(settings, names, receipts)
        if "press" in names and not rebuild:
            ready = ready_findings("press", catalog, chosen, moment)[0]
            notes += pitch_findings(settings, ready, moment, approve_pitches)
        if "newsletter" in names and not rebuild:
            for finding in ready_findings("newsletter", catalog, chosen, moment)[0]:
                notes.append(send_issue(finding_issue(finding), settings, moment))
        notes += schedule_lifts(held, channels, config, approve_pitches)
    report = ReleaseReport(receipts, held, dry_run, notes)
    logger.info(report.summary())
    _artifact(report, artifact_key)
    return report


def _key(text: str) -> str:
    return "release-" + "".join(c if c.isalnum() else "-" for c in text.lower())[:60]


FindingId = Annotated[
    str,
    Field(pattern=SLUG_PATTERN.pattern, description="The finding's id (its file name without .md)"),
]
FLOW_OPTIONS = {"log_prints": True, "on_failure": [notify_failure]}


@flow(name="release-finding", **FLOW_OPTIONS)
def release_finding(
    finding_id: FindingId,
    channels: list[str] | None = None,
    dry_run: bool = False,
    config: str | None = None,
    approve_pitches: bool | None = None,
) -> ReleaseReport:
    """Release one finding on the chosen channels (default: all configured).

    ``approve_pitches``: True sends pitches without asking, False sends none, and by default
    the flow pauses for a decision in the Prefect UI (on a server).
    """
    return _run(
        [finding_id],
        channels,
        dry_run,
        config,
        _key(finding_id),
        approve_pitches=approve_pitches,
    )


@flow(name="lift-embargo", **FLOW_OPTIONS)
def lift_embargo(
    finding_id: FindingId,
    channels: list[str] | None = None,
    config: str | None = None,
    approve_pitches: bool | None = None,
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
    )


@flow(name="release-findings", **FLOW_OPTIONS)
def release_findings(
    finding_ids: list[FindingId] | None = None,
    channels: list[str] | None = None,
    dry_run: bool = False,
    config: str | None = None,
    approve_pitches: bool | None = None,
) -> ReleaseReport:
    """Release several findings at once (all of them when no ids are given)."""
    return _run(
        finding_ids, channels, dry_run, config, _key("batch"), approve_pitches=approve_pitches
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
