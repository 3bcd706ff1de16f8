"""The release pipeline as plain functions: validate, render, publish, report.

Flows in ``flows/`` wrap these steps as Prefect tasks; the CLI's ``build`` calls them directly.
Everything is rendered before anything is published, so a rendering error leaves every
platform untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from outreach import locks
from outreach.channels import available_channels, get_channel
from outreach.channels.base import SITE_WIDE, Deliverable, Site
from outreach.config import Settings
from outreach.errors import OutreachError
from outreach.finding import Finding, read_findings
from outreach.ledger import Ledger
from outreach.media_checks import media_problems
from outreach.platforms.base import Batch, Platform, PlatformUnavailable, Receipt
from outreach.platforms.registry import configured_platforms, make_platform
from outreach.platforms.static import StaticSite, atomic_write
from outreach.render_keys import finding_key, inputs_digest


class ReleaseError(OutreachError):
    """The release cannot go ahead; nothing has been published."""

    before_any_change: ClassVar[bool] = True


@dataclass(frozen=True)
class Held:
    """A finding a public channel may not show yet, and when it may."""

    finding_id: str
    channel: str
    until: datetime


@dataclass
class ChannelPlan:
    channel: str
    batches: list[Batch] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    render_keys: dict[tuple[str, str], str] = field(default_factory=dict)
    """(finding id or "" for the site, unit) -> input key, recorded once published."""


LIVE_ITEMS = ("index.html", "post.json", ".mp3", "feed.xml", "feed.atom")
"""Items whose URL a person opens: pages, WordPress posts, episodes and feeds."""


@dataclass
class ReleaseReport:
    receipts: list[Receipt]
    held: list[Held]
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    """What happened after publishing (feed pings), for the log."""

    @property
    def changed(self) -> list[Receipt]:
        return [receipt for receipt in self.receipts if receipt.action != "unchanged"]

    def live_links(self) -> list[tuple[str, str, str, str]]:
        """(finding, channel, platform, url) for each page, post, episode and feed now out
        there, changed or not: what the team opens to check a release."""
        links: dict[tuple[str, str, str, str], None] = {}
        for receipt in self.receipts:
            if receipt.url and receipt.action != "removed" and receipt.item.endswith(LIVE_ITEMS):
                key = (receipt.finding_id or "(site)", receipt.channel, receipt.platform)
                links[(*key, receipt.url)] = None
        return list(links)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for receipt in self.receipts:
            counts[receipt.action] = counts.get(receipt.action, 0) + 1
        verb = "would be" if self.dry_run else "were"
        if not self.changed:
            text = f"Nothing changed: all {len(self.receipts)} published files are up to date."
        else:
            parts = [f"{counts[a]} {a}" for a in ("created", "updated", "removed") if a in counts]
            text = f"{', '.join(parts)} ({counts.get('unchanged', 0)} unchanged) {verb} published."
        for hold in self.held:
            text += (
                f"\nHeld: '{hold.finding_id}' may not appear on the {hold.channel} before "
                f"{hold.until.isoformat()}; run the release again after that time."
            )
        for note in self.notes:
            text += f"\n{note}"
        return text


# -- validation ---------------------------------------------------------------


def load_catalog(settings: Settings) -> dict[str, Finding]:
    """Every finding in the findings folder, validated; raises FindingsInvalid on any problem."""
    media = settings.paths.media
    findings = read_findings(
        settings.paths.findings,
        media,
        settings.root,
        extra_checks=lambda finding: media_problems(finding, media, settings.paths.audio_cache),
    )
    return {finding.id: finding for finding in findings}


def resolve_ids(catalog: dict[str, Finding], ids: Iterable[str] | None) -> list[str]:
    """The ids to release (all when None), with unknown ids reported together."""
    if ids is None:
        return sorted(catalog)
    wanted = list(dict.fromkeys(ids))
    unknown = [finding_id for finding_id in wanted if finding_id not in catalog]
    if unknown:
        raise ReleaseError(
            f"no finding with id {', '.join(repr(u) for u in unknown)}; "
            f"known ids: {', '.join(sorted(catalog)) or '(none)'}"
        )
    return wanted


def resolve_channels(
    settings: Settings,
    channels: Sequence[str] | None,
    secrets: Mapping[str, str] | None = None,
    *,
    need_secrets: bool = True,
) -> list[str]:
    """Requested channels (default: every channel the configuration or code knows), with
    their inputs and platform settings checked."""
    known = available_channels()
    names = (
        list(channels) if channels else sorted(set(known) & (set(settings.channels) or set(known)))
    )
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ReleaseError(
            f"no channel named {', '.join(repr(u) for u in unknown)}; "
            f"choose from: {', '.join(sorted(known))}"
        )
    problems: list[str] = []
    for name in names:
        for platform_name in settings.channel(name).platforms:
            if (platform_name == "wordpress") != (name == "wordpress"):
                problems.append(
                    f"channel '{name}' cannot push to platform '{platform_name}': the wordpress "
                    "channel goes to the wordpress platform only, and only it does"
                )
                continue
            try:
                make_platform(settings, platform_name, secrets, need_secrets=need_secrets)
            except PlatformUnavailable as exc:
                problems.append(str(exc))
        problems += known[name].check_inputs(settings)
    if problems:
        raise ReleaseError(
            "channel inputs have problems:\n"
            + "\n".join(f"  - {p}" for p in dict.fromkeys(problems))
        )
    return names


def open_platforms(
    settings: Settings, plans: Sequence[ChannelPlan], secrets: Mapping[str, str] | None = None
) -> dict[str, Platform]:
    """The platforms the plans push to, each reached and its credentials tried before anything
    is pushed anywhere (raises ReleaseError naming every problem)."""
    platforms = {
        name: make_platform(settings, name, secrets)
        for name in configured_platforms(settings, [plan.channel for plan in plans])
    }
    problems: list[str] = []
    for name, platform in platforms.items():
        try:
            platform.check()
        except PlatformUnavailable as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise ReleaseError("platforms are not ready:\n" + "\n".join(f"  - {p}" for p in problems))
    return platforms


# -- rendering ----------------------------------------------------------------


def newest_first(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.published, f.id), reverse=True)


def ready_findings(
    channel_name: str, catalog: dict[str, Finding], ids: Sequence[str], now: datetime
) -> tuple[list[Finding], list[Held]]:
    """Split ``ids`` into findings the channel may render now and those held by their dates."""
    channel = get_channel(channel_name)
    ready: list[Finding] = []
    held: list[Held] = []
    for finding_id in ids:
        finding = catalog[finding_id]
        if channel.public and not finding.is_public(now):
            held.append(Held(finding_id, channel_name, finding.public_from))
        else:
            ready.append(finding)
    return ready, held


@dataclass
class Reuse:
    """What a channel published before, so output whose inputs are unchanged is not rendered
    again: the render keys recorded in the ledger, and whether the platforms still hold the
    files (a deleted or hand-edited file is rendered and written again)."""

    keys: dict[tuple[str, str], str]
    kept: Callable[[str, tuple[str, ...] | None], frozenset[str] | None]
    """(finding id, paths or None for all of the finding's items) -> the items every platform
    still holds as published, or None when anything is missing."""


def reuse_for(
    settings: Settings, ledger: Ledger, channel_name: str, platforms: Mapping[str, Platform]
) -> Reuse | None:
    """Reuse for a channel that publishes to ``platforms`` (None when it publishes nowhere)."""
    names = [name for name in settings.channel(channel_name).platforms if name in platforms]
    if not names:
        return None
    published = {name: ledger.channel_items(channel_name, name) for name in names}

    def kept(finding_id: str, paths: tuple[str, ...] | None) -> frozenset[str] | None:
        held: frozenset[str] | None = None
        for name in names:
            items = published[name].get(finding_id, {})
            if paths is not None:
                if not all(path in items for path in paths):
                    return None
                items = {path: items[path] for path in paths}
            if not items or not platforms[name].holds(items):
                return None
            held = frozenset(items) if held is None else held & frozenset(items)
        return held

    return Reuse(ledger.render_keys(channel_name), kept)


def plan_channel(
    settings: Settings,
    catalog: dict[str, Finding],
    channel_name: str,
    ids: Sequence[str],
    already_released: Iterable[str],
    now: datetime,
    reuse: Reuse | None = None,
) -> ChannelPlan:
    """Render one channel for ``ids`` plus the site-wide pages that list every public finding.

    With ``reuse``, a finding or site page whose inputs are unchanged since it was published,
    and which the platforms still hold, is not rendered again: its batch keeps those items."""
    channel = get_channel(channel_name)
    ready, held = ready_findings(channel_name, catalog, ids, now)
    plan = ChannelPlan(channel_name, held=held)
    listed_ids = ({f.id for f in ready} | set(already_released)) & set(catalog)
    listed = newest_first(
        catalog[i] for i in listed_ids if not channel.public or catalog[i].is_public(now)
    )
    inputs = inputs_digest(settings) if reuse is not None else ""
    # Whether a finding is public yet is an input too: a platform may show it differently
    # (a scheduled WordPress post is published by the run after the lift).
    keys = (
        {
            f.id: finding_key(channel_name, f, settings, inputs, f"public={f.is_public(now)}")
            for f in [*ready, *listed]
        }
        if reuse is not None
        else {}
    )
    site = Site(settings, tuple(listed), channel_name, inputs, keys)
    for finding in ready:
        key = keys.get(finding.id)
        kept = _reusable(reuse, finding.id, "", key, None)
        if kept is not None:
            plan.batches.append(Batch(channel_name, finding.id, (), kept))
        else:
            rendered = channel.render_finding(finding, site)
            plan.batches.append(Batch(channel_name, finding.id, rendered))
        if key is not None:
            plan.render_keys[(finding.id, "")] = key
    deliverables: list[Deliverable] = []
    kept_pages: set[str] = set()
    for page in channel.site_pages(site):
        kept = _reusable(reuse, SITE_WIDE, page.unit, page.key, page.paths)
        if kept is not None:
            kept_pages |= kept
        else:
            deliverables += page.render()
        if page.key is not None:
            plan.render_keys[(SITE_WIDE, page.unit)] = page.key
    plan.batches.append(Batch(channel_name, SITE_WIDE, deliverables, frozenset(kept_pages)))
    return plan


def _reusable(
    reuse: Reuse | None,
    finding_id: str,
    unit: str,
    key: str | None,
    paths: tuple[str, ...] | None,
) -> frozenset[str] | None:
    if reuse is None or key is None or reuse.keys.get((finding_id, unit)) != key:
        return None
    if paths == ():
        return None
    return reuse.kept(finding_id, paths)


def platforms_for_reuse(settings: Settings, channels: Sequence[str]) -> dict[str, Platform]:
    """The channels' platforms, built only to ask what they hold (no credentials needed)."""
    return {
        name: make_platform(settings, name, need_secrets=False)
        for name in configured_platforms(settings, list(channels))
    }


def remember_renders(ledger: Ledger, plans: Sequence[ChannelPlan]) -> None:
    """After every platform took the plans: their render keys describe what is published."""
    for plan in plans:
        if plan.render_keys:
            ledger.record_render_keys(plan.channel, plan.render_keys)


# -- publishing ---------------------------------------------------------------


def publish_stage(
    settings: Settings,
    plans: Sequence[ChannelPlan],
    platform: Platform,
    ledger: Ledger,
    now: datetime,
    site_wide: bool,
    dry_run: bool = False,
    notice: locks.Notice | None = None,
) -> list[Receipt]:
    """One platform's share of the plans: the findings' batches, or the site-wide ones.

    One run at a time per platform (another run waits; ``notice`` tells why): each reads the
    ledger after the one before has recorded, so nothing is created twice."""
    receipts: list[Receipt] = []
    unit = f"publishing to {platform.name}"
    with locks.hold(settings.paths.state, unit, notice), ledger.transaction():
        for plan in plans:
            if platform.name not in settings.channel(plan.channel).platforms:
                continue
            for batch in plan.batches:
                if (batch.finding_id == SITE_WIDE) == site_wide:
                    receipts.extend(platform.publish(batch, ledger, now, dry_run=dry_run))
    return receipts


def publish_plans(
    settings: Settings,
    plans: Sequence[ChannelPlan],
    ledger: Ledger,
    now: datetime,
    dry_run: bool = False,
    secrets: Mapping[str, str] | None = None,
) -> list[Receipt]:
    """Every finding's files on every platform first, then the site-wide batches (indexes,
    feeds): a feed is never published before the pages and audio it points to."""
    platforms = open_platforms(settings, plans, secrets)
    receipts: list[Receipt] = []
    for site_wide in (False, True):
        for platform in platforms.values():
            receipts += publish_stage(settings, plans, platform, ledger, now, site_wide, dry_run)
    return receipts


def release(
    settings: Settings,
    ids: Sequence[str] | None,
    channels: Sequence[str] | None,
    now: datetime,
    dry_run: bool = False,
) -> ReleaseReport:
    """The whole release without Prefect: the flows run the same steps as tasks."""
    catalog = load_catalog(settings)
    chosen = resolve_ids(catalog, ids)
    names = resolve_channels(settings, channels)
    ledger = Ledger(settings.paths.ledger)
    platforms = platforms_for_reuse(settings, names)
    plans = [
        plan_channel(
            settings, catalog, name, chosen, ledger.released(name), now,
            reuse_for(settings, ledger, name, platforms),
        )
        for name in names
    ]  # fmt: skip
    receipts = publish_plans(settings, plans, ledger, now, dry_run)
    if not dry_run:
        remember_renders(ledger, plans)
    notes = [] if dry_run else notify_channels(settings, names, receipts)
    return ReleaseReport(receipts, [hold for plan in plans for hold in plan.held], dry_run, notes)


def notify_channels(
    settings: Settings, names: Sequence[str], receipts: Sequence[Receipt]
) -> list[str]:
    """Let each channel react to what it published (feed pings); never raises."""
    notes: list[str] = []
    for name in names:
        mine = [receipt for receipt in receipts if receipt.channel == name]
        notes.extend(get_channel(name).notify(mine, settings))
    return notes


def rebuild_ids(
    settings: Settings, catalog: dict[str, Finding], channels: Sequence[str]
) -> list[str]:
    """Findings already released on any of ``channels`` that still exist."""
    ledger = Ledger(settings.paths.ledger)
    released: set[str] = set()
    for name in channels:
        released |= ledger.released(name)
    return sorted(released & set(catalog))


def build_preview(settings: Settings, now: datetime) -> tuple[int, list[Held]]:
    """Render every finding into the build folder for review; touches no platform or ledger."""
    catalog = load_catalog(settings)
    held: list[Held] = []
    written = 0
    for name in resolve_channels(settings, None):
        plan = plan_channel(settings, catalog, name, sorted(catalog), (), now)
        held.extend(plan.held)
        preview = StaticSite(settings.paths.build, settings.site.base_url)
        for batch in plan.batches:
            for deliverable in batch.deliverables:
                atomic_write(preview.target(deliverable.path), deliverable.content)
                written += 1
    return written, held
