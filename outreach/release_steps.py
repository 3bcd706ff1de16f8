"""The release's steps as plain functions: validate, resolve, render, check, publish.

The order they run in lives in one place, ``outreach.release.run_release``; runners decide
how each step runs (plainly, or as Prefect tasks). Nothing here knows a channel or a
platform by name: channels and platforms say what they accept as data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import attrgetter
from typing import Any, ClassVar

from outreach import locks
from outreach.audit import AuditRow
from outreach.carried import carried_for, remember_carried
from outreach.channels import available_channels, get_channel
from outreach.channels.base import SITE_WIDE, Deliverable, Site, SitePage
from outreach.config import Settings
from outreach.errors import OutreachError
from outreach.finding import Draft, Finding, read_findings
from outreach.finding_cache import finding_cache
from outreach.ledger import Ledger
from outreach.media_checks import media_problems
from outreach.platforms.base import Batch, Platform, PlatformUnavailable, Receipt
from outreach.platforms.registry import configured_platforms, make_platform, takes_files
from outreach.render_keys import finding_key, inputs_digest
from outreach.secrets_store import press_secret
from outreach.shelf import Shelf, ShelvedFinding


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
    site_wide: bool | None = None
    """True: only site-wide batches; False: only publications'; None: tell by the batch id."""
    next_page: int | None = None
    """For a part of the site pages: where the next part starts (None: no more parts)."""
    published_to: set[str] = field(default_factory=set)
    """The platforms that took this plan's batches so far (not in a dry run)."""
    keys_recorded: bool = False
    """The render keys are in the ledger: recorded with the last platform's records."""

    def items(self) -> frozenset[str]:
        """Every item the plan's batches publish or keep."""
        return frozenset(
            item
            for batch in self.batches
            for item in (*(d.path for d in batch.deliverables), *batch.kept)
        )


LIVE_ITEMS = ("index.html", "post.json", ".mp3", "feed.xml", "feed.atom", ".pdf")
"""Items whose URL a person opens: pages, WordPress posts, episodes, feeds and PDFs."""


@dataclass
class ReleaseReport:
    receipts: Sequence[Receipt]
    """Every file published or kept (a release's are a ``ReceiptLog``, mostly on disk)."""
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
        if not set(counts) - {"unchanged"}:
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


class Catalog(dict[str, Finding]):
    """The ready findings by id, and the drafts beside them (never released; their problems
    are warnings)."""

    drafts: dict[str, Draft]

    def __init__(self, findings: Iterable[tuple[str, Finding]] = (), drafts=None) -> None:
        super().__init__(findings)
        self.drafts = dict(drafts or {})

    def warnings(self) -> list[str]:
        return [warning for draft in self.drafts.values() for warning in draft.warnings()]


def load_catalog(settings: Settings, shelved: bool = False) -> Catalog:
    """Every ready finding in the findings folder, validated; raises FindingsInvalid on any
    problem of a ready one (drafts are set aside with theirs). Retracted findings carry their
    retraction (state the ledger holds), so rendering shows the notice on every rebuild.

    ``shelved``: bodies stay on disk and are read back when rendered (the release's catalog,
    so memory does not grow with the size of the site)."""
    from outreach.retraction import retractions

    media = settings.paths.media
    taken_down = retractions(settings)
    shelve = Shelf(media).shelve if shelved else None

    def keep(finding: Finding, path: str) -> Finding:
        if isinstance(finding, ShelvedFinding):  # from the cache, shelved already
            if finding.id not in taken_down:
                return finding if shelved else finding.full()
            finding = finding.full()
        if finding.id in taken_down:
            finding = finding.model_copy(update={"retraction": taken_down[finding.id]})
        return finding if shelve is None else shelve(finding, path)

    drafts: dict[str, Draft] = {}
    paths = settings.paths
    # Findings unchanged since they last passed are taken from the cache, not read again.
    with finding_cache(
        paths.state, paths.ledger, paths.findings, media, settings.root, paths.audio_cache
    ) as cache:
        findings = read_findings(
            paths.findings,
            media,
            settings.root,
            extra_checks=lambda finding: media_problems(finding, media, paths.audio_cache),
            keep=keep,
            drafts=drafts,
            cache=cache,
        )
    return Catalog(((finding.id, finding) for finding in findings), drafts)


def load_release_catalog(settings: Settings) -> dict[str, Finding]:
    """The release's catalog: every finding validated, bodies left on disk until rendered."""
    return load_catalog(settings, shelved=True)


def resolve_ids(
    catalog: Mapping[str, object], ids: Iterable[str] | None, kind: str = "finding"
) -> list[str]:
    """The ids to release (all when None), with unknown ids reported together."""
    if ids is None:
        return sorted(catalog)
    wanted = list(dict.fromkeys(ids))
    drafts: Mapping[str, Draft] = getattr(catalog, "drafts", {})
    in_draft = [drafts[i] for i in wanted if i not in catalog and i in drafts]
    if in_draft:
        raise ReleaseError(
            "; ".join(
                f"'{draft.id}' is a draft ({draft.file} says 'status: draft'): it is never "
                "released; set 'status: ready' (or remove the line) when it is ready"
                + (
                    f", and fix its {len(draft.problems)} problem(s) first"
                    if draft.problems
                    else ""
                )
                for draft in in_draft
            )
        )
    unknown = [finding_id for finding_id in wanted if finding_id not in catalog]
    if unknown:
        raise ReleaseError(
            f"no {kind} with id {', '.join(repr(u) for u in unknown)}; "
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
    off = [name for name in names if not settings.channel(name).enabled]
    if channels and off:
        raise ReleaseError(
            f"channel {', '.join(repr(o) for o in off)} is off (enabled = false in its "
            "[channels.NAME] section); set enabled = true to use it"
        )
    names = [name for name in names if name not in off]
    problems: list[str] = []
    for name in names:
        accepts = known[name].accepts
        for platform_name in settings.channel(name).platforms:
            refusal = _refusal(name, accepts, platform_name)
            if refusal:
                problems.append(refusal)
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


def _refusal(channel: str, accepts: frozenset[str] | None, platform: str) -> str | None:
    """Why ``channel`` may not push to ``platform`` (None: it may), from what each declares."""
    if accepts is None and takes_files(platform):
        return None
    if accepts is not None and platform in accepts:
        return None
    if accepts is not None:
        return (
            f"channel '{channel}' cannot push to platform '{platform}': it goes to "
            f"{', '.join(sorted(accepts))} only"
        )
    return (
        f"channel '{channel}' cannot push to platform '{platform}': that platform takes only "
        "its own channel's posts, not files"
    )


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


_NEWEST = attrgetter("published", "id")
"""(published, id) of a finding: the sort key of every listing."""


def newest_first(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=_NEWEST, reverse=True)


def ready_findings(
    channel_name: str, catalog: dict[str, Finding], ids: Sequence[str], now: datetime
) -> tuple[list[Finding], list[Held]]:
    """Split ``ids`` into findings the channel may render now and those held by their dates.
    A retraction goes out at once where the finding went (its notice replaces it)."""
    channel = get_channel(channel_name)
    ready: list[Finding] = []
    held: list[Held] = []
    for finding_id in ids:
        finding = catalog[finding_id]
        # Only findings are retracted; another kind's publication need not say so.
        retraction = getattr(finding, "retraction", None)
        # Retracted before it was ever public: nothing of it (not even a notice, which would
        # name it) is shown on public channels, now or after its old lift time.
        unseen = retraction is not None and retraction.at < finding.public_from
        if channel.public and (unseen or not finding.is_public(now)):
            if retraction is None:
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
    published = {name: ledger.channel_marks(channel_name, name) for name in names}

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


@dataclass(frozen=True)
class ChannelSite:
    """One channel's view of a release: the site it renders for (what its indexes list), the
    publications it may render now, those held by their dates, and the reuse of earlier runs."""

    channel: str
    site: Site
    ready: list[Finding]
    held: list[Held]
    reuse: Reuse | None
    site_id: str = SITE_WIDE


def channel_site(
    settings: Settings,
    catalog: dict[str, Finding],
    channel_name: str,
    ids: Sequence[str],
    already_released: Iterable[str],
    now: datetime,
    reuse: Reuse | None = None,
    site_id: str = SITE_WIDE,
    kit_secret: bytes = b"",
) -> ChannelSite:
    """What the channel renders for ``ids`` and which publications its site pages list;
    ``kit_secret`` (read before rendering) names the press kits in the site's URL map."""
    channel = get_channel(channel_name)
    ready, held = ready_findings(channel_name, catalog, ids, now)
    if site_id:  # another kind's publication is held under its ledger key (report:<id>), so
        # the run scheduled for its lift releases that publication, not a finding
        held = [replace(h, finding_id=f"{site_id}{h.finding_id}") for h in held]
    listed_ids = ({f.id for f in ready} | set(already_released)) & set(catalog)
    listed = newest_first(
        catalog[i]
        for i in listed_ids
        if (not channel.public or catalog[i].is_public(now))
        and getattr(catalog[i], "retraction", None) is None
    )
    inputs = inputs_digest(settings) if reuse is not None else ""
    # Whether a finding is public yet is an input too: a platform may show it differently
    # (a scheduled WordPress post is published by the run after the lift).
    keys = (
        {
            f.id: finding_key(channel_name, f, settings, inputs, f"public={f.is_public(now)}")
            for f in {f.id: f for f in (*ready, *listed)}.values()  # once each (mostly both)
        }
        if reuse is not None
        else {}
    )
    # Fragments carried from the channel's last release go with the keys that tell they
    # still match (the file is read only if rendering asks for one).
    carried = carried_for(settings.paths.state, channel_name) if reuse is not None else {}
    site = Site(
        settings, tuple(listed), channel_name, inputs, keys, kit_secret, now=now, carried=carried
    )
    return ChannelSite(channel_name, site, ready, held, reuse, site_id)


Prepare = Callable[[str, Any, Settings, str], object]
"""(channel, publication, settings, key) -> the prepared work: how a runner runs ``prepare``."""


def plain_prepare(channel: str, publication: Any, settings: Settings, key: str) -> object:
    return get_channel(channel).prepare(publication, settings)


def prepare_view(view: ChannelSite, settings: Settings, prepare: Prepare) -> ChannelSite:
    """The view with its channel's prepared work (mastered audio) for the publications it
    renders, and for every listed one when its site pages need them: rendering then only
    reads what was made here."""
    channel = get_channel(view.channel)
    wanted = {publication.id: publication for publication in view.ready}
    if getattr(channel, "prepares_listed", False):
        wanted.update({publication.id: publication for publication in view.site.listed})
    prepared: dict[str, object] = {}
    for publication_id, publication in wanted.items():
        key = channel.prepare_key(publication, settings)
        if key is not None:
            prepared[publication_id] = prepare(view.channel, publication, settings, key)
    return replace(view, site=replace(view.site, prepared=prepared))


def kit_secret_for(settings: Settings, channels: Iterable[str]) -> bytes:
    """The press kits' secret when one of ``channels`` links to a kit (says so as data), read
    (or made, on first use) before rendering; empty otherwise, so nothing is made for them."""
    if any(getattr(get_channel(name), "links_kits", False) for name in channels):
        return press_secret(settings)
    return b""


def kept_files(
    view: ChannelSite, finding: Finding, ledger_key: Callable[[str], str] = str
) -> frozenset[str] | None:
    """The files of ``finding`` the platforms still hold as published from the same inputs
    (None: it is rendered again)."""
    key = view.site.finding_keys.get(finding.id)
    return _reusable(view.reuse, ledger_key(finding.id), "", key, None)


def render_publications(
    view: ChannelSite,
    publications: Sequence[Finding],
    ledger_key: Callable[[str], str] = str,
    known: Mapping[str, frozenset[str] | None] | None = None,
) -> ChannelPlan:
    """One batch per publication (a bounded share of ``view.ready``); unchanged ones whose
    files the platforms still hold are kept, not rendered again. ``known``: ``kept_files``
    of the publications (by id), as found when the release made the batch."""
    channel = get_channel(view.channel)
    plan = ChannelPlan(view.channel, site_wide=False)
    for finding in publications:
        key = view.site.finding_keys.get(finding.id)
        publication_id = ledger_key(finding.id)
        if known is not None and finding.id in known:
            kept = known[finding.id]
        else:
            kept = kept_files(view, finding, ledger_key)
        if kept is not None:
            plan.batches.append(Batch(view.channel, publication_id, (), kept))
        else:
            # The whole finding, read back once (body checked against its digest): a channel
            # reads most fields of the publication it renders, many of them several times.
            whole = finding.full() if isinstance(finding, ShelvedFinding) else finding
            rendered = channel.render_finding(whole, view.site)
            plan.batches.append(Batch(view.channel, publication_id, rendered))
        if key is not None and (
            view.reuse is None or view.reuse.keys.get((publication_id, "")) != key
        ):
            plan.render_keys[(publication_id, "")] = key  # recorded once published (if new)
    return plan


def draw_ahead(
    view: ChannelSite, findings: Sequence[Finding], ledger_key: Callable[[str], str] = str
) -> None:
    """Start drawing, in worker processes, the share images that rendering ``findings`` on
    the view's channel will show (only those not kept as they are), so the render picks
    them up instead of drawing them one after another."""
    if not getattr(get_channel(view.channel), "draws_share_images", False):
        return
    from outreach import share_image  # with the channels that draw them (Pillow's fonts)

    keys, reuse = view.site.finding_keys, view.reuse
    changed = [
        finding
        for finding in findings
        if reuse is None
        or keys.get(finding.id) is None
        or reuse.keys.get((ledger_key(finding.id), "")) != keys.get(finding.id)
    ]
    share_image.draw_ahead(changed, view.site.settings)


def site_pages_of(view: ChannelSite) -> list[SitePage]:
    """The channel's site pages (not rendered yet: each renders when its part is)."""
    return list(get_channel(view.channel).site_pages(view.site))


SITE_PART_BYTES = 1_000_000
"""A part of the site pages ends once it holds this much rendered output: a page listing
every finding of a topic (1.5 MB at 10,000 findings) goes out before the next is rendered."""
SITE_PART_KEPT = 1_000
"""Site pages one part holds at most, rendered or kept as they are."""


def render_site_pages(
    view: ChannelSite,
    start: int = 0,
    size: int | None = None,
    published: frozenset[str] = frozenset(),
    pages: Sequence[SitePage] | None = None,
) -> ChannelPlan:
    """The channel's site-wide batch (indexes, feeds), unchanged pages kept: all of it, or
    from ``start`` on at most ``size`` pages rendered (and about ``SITE_PART_BYTES``), so
    memory holds a bounded share of the site. Pages kept as they are cost no memory: up to
    ``SITE_PART_KEPT`` of them ride along in a part (a release that changes nothing publishes
    the site pages in one part, not one per ``size`` pages: a publishing lock and ledger
    transaction each).

    ``published``: the items the earlier parts published. A part before the last removes
    nothing; the last one removes the site's items that no part contained.
    ``plan.next_page`` says where the next part starts (None: this was the last).
    ``pages``: the channel's site pages, listed once for all the parts (``site_pages_of``)."""
    plan = ChannelPlan(view.channel, site_wide=True)
    deliverables: list[Deliverable] = []
    kept_pages: set[str] = set()
    pages = site_pages_of(view) if pages is None else pages
    stop = len(pages)
    rendered = rendered_pages = 0
    for number in range(start, stop):
        if size is not None and (
            rendered_pages >= max(size, 1) or number - start >= SITE_PART_KEPT
        ):
            stop = number
            break
        page = pages[number]
        kept = _reusable(view.reuse, view.site_id, page.unit, page.key, page.paths)
        if kept is not None:
            kept_pages |= kept
        else:
            made = page.render()
            deliverables += made
            rendered += sum(len(deliverable.content) for deliverable in made)
            rendered_pages += 1
        if page.key is not None and (
            view.reuse is None or view.reuse.keys.get((view.site_id, page.unit)) != page.key
        ):
            plan.render_keys[(view.site_id, page.unit)] = page.key
        if size is not None and rendered >= SITE_PART_BYTES:
            stop = number + 1  # pages that list every finding (topics, sitemap) grow with the site
            break
    last = stop >= len(pages)
    plan.next_page = None if last else stop
    kept = frozenset(kept_pages)
    plan.batches.append(Batch(view.channel, view.site_id, deliverables, kept, not last, published))
    return plan


def plan_channel(
    settings: Settings,
    catalog: dict[str, Finding],
    channel_name: str,
    ids: Sequence[str],
    already_released: Iterable[str],
    now: datetime,
    reuse: Reuse | None = None,
) -> ChannelPlan:
    """Prepare and render one channel for ``ids`` plus the site-wide pages, all at once (the
    release streams the same steps in bounded batches)."""
    view = channel_site(
        settings, catalog, channel_name, ids, already_released, now, reuse,
        kit_secret=kit_secret_for(settings, [channel_name]),
    )  # fmt: skip
    view = prepare_view(view, settings, plain_prepare)
    plan = render_publications(view, view.ready)
    site = render_site_pages(view)
    plan.held, plan.site_wide = view.held, None
    plan.batches += site.batches
    plan.render_keys.update(site.render_keys)
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


def remember_fragments(view: ChannelSite) -> None:
    """After a channel's site pages are out: the fragments its rendering wants carried to
    its next release (``outreach.carried``)."""
    if view.reuse is not None:
        remember_carried(view.site.settings.paths.state, view.channel, view.site.memo)


def remember_renders(ledger: Ledger, plans: Sequence[ChannelPlan]) -> None:
    """After every platform took the plans: their render keys describe what is published
    (those ``publish_stage`` did not record with the last platform's records)."""
    for plan in plans:
        if plan.render_keys and not plan.keys_recorded:
            ledger.record_render_keys(plan.channel, plan.render_keys)


# -- publishing ---------------------------------------------------------------


def publishing_unit(platform: str) -> str:
    """The lock a run holds while it publishes to (or repairs) ``platform``."""
    return f"publishing to {platform}"


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
    unit = publishing_unit(platform.name)
    with locks.hold(settings.paths.state, unit, notice), ledger.transaction():
        mine = [
            (plan, [batch for batch in plan.batches if _in_stage(plan, batch, site_wide)])
            for plan in plans
            if platform.name in settings.channel(plan.channel).platforms
        ]
        # What the ledger holds of the stage's findings, read under the lock in one query a
        # channel (not one a finding): the platform compares each batch against it.
        for plan, batches in mine:
            for whole in (True, False):  # only addresses for batches with nothing rendered
                ids = [b.finding_id for b in batches if bool(b.deliverables) == whole]
                ledger.load_items(plan.channel, platform.name, ids, whole)
        for plan, batches in mine:
            for batch in batches:
                done = platform.publish(batch, ledger, now, dry_run=dry_run)
                if not dry_run:
                    ledger.record_events(publish_events(done, now))
                receipts.extend(done)
            if not dry_run and plan.site_wide == site_wide:
                _record_keys_once_everywhere(settings, plan, platform.name, ledger)
    return receipts


def _in_stage(plan: ChannelPlan, batch: Batch, site_wide: bool) -> bool:
    """Whether ``batch`` goes out in the stage of the site-wide batches (or the other)."""
    if plan.site_wide is not None:
        return plan.site_wide == site_wide
    return (batch.finding_id == SITE_WIDE) == site_wide


def _record_keys_once_everywhere(
    settings: Settings, plan: ChannelPlan, platform: str, ledger: Ledger
) -> None:
    """Once the last of its channel's platforms took a plan, its render keys go into that
    platform's transaction: one commit per batch instead of one more for the keys."""
    plan.published_to.add(platform)
    everywhere = set(settings.channel(plan.channel).platforms) <= plan.published_to
    if everywhere and plan.render_keys and not plan.keys_recorded:
        ledger.record_render_keys(plan.channel, plan.render_keys)
        plan.keys_recorded = True


def publish_events(receipts: Iterable[Receipt], now: datetime) -> list[AuditRow]:
    """The audit log's "publish" events for the receipts that changed something (one each:
    platform, channel, item, address), by the automatic actor "release"."""
    return [
        (
            "publish",
            now,
            {
                "publication": receipt.finding_id,
                "actor": "release",
                "subject": receipt.channel,
                "outcome": receipt.action,
                "detail": {
                    "platform": receipt.platform,
                    "item": receipt.item,
                    **({"url": receipt.url} if receipt.url else {}),
                },
            },
        )
        for receipt in receipts
        if receipt.action != "unchanged"
    ]


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


def rebuild_ids(
    settings: Settings,
    catalog: Mapping[str, object],
    channels: Sequence[str],
    ledger_id: Callable[[str], str | None] = lambda key: key or None,
) -> list[str]:
    """Publications already released on any of ``channels`` that still exist (``ledger_id``
    turns a ledger key into the kind's id, or None for another kind's key)."""
    ledger = Ledger(settings.paths.ledger)
    released: set[str] = set()
    for name in channels:
        released |= {i for i in map(ledger_id, ledger.released(name)) if i is not None}
    return sorted(released & set(catalog))
