"""The release: one sequence, the only place its order lives.

validate -> prepare -> render -> check platforms -> publish (publications' files in bounded
batches, then site pages, indexes and feeds) -> remember -> after-publish actions.

``run_release(request, runner)`` is what every caller runs: ``release()`` and the tests and
benchmarks with the plain runner, ``outreach build`` with the preview runner (the build
folder instead of platforms), the Prefect flows with a runner that wraps each step in its
task. The sequence names no channel, platform or kind: channels and kinds are plugins.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from outreach.actions import ActionContext, HookContext
from outreach.ahead import working_ahead
from outreach.channels import get_channel
from outreach.config import Settings
from outreach.heap import BatchTrimmer
from outreach.kinds import FINDING, Kind, get_kind, known_kinds
from outreach.ledger import Ledger
from outreach.receipt_log import ReceiptLog
from outreach.release_steps import (
    ChannelPlan,
    ChannelSite,
    Held,
    ReleaseError,
    ReleaseReport,
    channel_site,
    draw_ahead,
    kept_files,
    kit_secret_for,
    load_catalog,
    newest_first,
    platforms_for_reuse,
    prepare_view,
    ready_findings,
    rebuild_ids,
    remember_fragments,
    remember_renders,
    render_publications,
    render_site_pages,
    resolve_channels,
    resolve_ids,
    reuse_for,
    site_pages_of,
)
from outreach.request import BATCH_SIZE, ReleaseRequest
from outreach.runner import PlainRunner, PreviewRunner, Runner
from outreach.vocabulary import Receipt

__all__ = [
    "BATCH_SIZE",
    "Held",
    "ReleaseError",
    "ReleaseReport",
    "ReleaseRequest",
    "build_preview",
    "load_catalog",
    "newest_first",
    "ready_findings",
    "release",
    "resolve_channels",
    "resolve_ids",
    "run_release",
]


KEPT_PER_BATCH = 1_000
"""Publications left as they are that one batch carries at most, besides the ones it renders
(``ReleaseRequest.batch_size``): a receipt or three each in memory, no rendered files."""


@dataclass
class _Part:
    """One channel's share of one kind in this release."""

    kind: Kind
    view: ChannelSite
    site_pages: bool = True
    """False for a channel's later kinds: its first kind's part lists them all (one feed)."""


def run_release(request: ReleaseRequest, runner: Runner | None = None) -> ReleaseReport:
    """The release, in its one order; ``runner`` decides how each step runs."""
    with _collecting_only_new_objects():
        return _run_release(request, runner)


@contextlib.contextmanager
def _collecting_only_new_objects() -> Iterator[None]:
    """While a release runs, Python's cycle collector leaves alone every object that was
    alive before it (the imports, a long-lived worker's state: 100,000 objects or more),
    which a full collection would otherwise walk in the middle of the release (0.1 s here, as
    long as a release that changes nothing). Objects the release makes are collected as
    usual; the older ones are handed back to the collector when it ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run_release(request: ReleaseRequest, runner: Runner | None) -> ReleaseReport:
    runner = runner or (PreviewRunner() if request.preview else PlainRunner())
    settings, now = request.settings, request.now

    # 1. Validate: every publication of every kind, before any work (an invalid one of any
    # kind stops the release), then the channels with their inputs and platform settings.
    catalogs = {
        name: runner.step("validate", get_kind(name).read, settings) for name in known_kinds()
    }
    # Drafts are never released and never stop a release: their problems are warnings.
    warnings = [w for catalog in catalogs.values() for w in getattr(catalog, "warnings", list)()]
    names = resolve_channels(settings, request.channels, runner.secrets())
    kinds = [get_kind(name) for name in (request.kinds or known_kinds())]
    chosen = _chosen(request, kinds, catalogs, names)

    # 2. Prepare: what each channel renders and lists, the secrets rendering needs and the
    # channels' slow work (mastered audio), so rendering only reads what is made here.
    kit_secret = kit_secret_for(settings, names)
    ledger = None if request.preview else Ledger(settings.paths.ledger)
    parts = _parts(request, kinds, catalogs, chosen, names, ledger, kit_secret)
    for part in parts:
        part.view = prepare_view(part.view, settings, runner.prepare)

    # 3-6. Render, check platforms, publish, remember: publications in bounded batches, every
    # batch's files on every platform before the next, and site pages (indexes, feeds) only
    # after every publication's files, so no feed points at something missing. A batch's
    # render keys are remembered once it is out: a release stopped midway resumes there.
    receipts = ReceiptLog()  # on disk as they come: memory does not grow with the site
    platforms: list[str] | None = None
    trimmer = BatchTrimmer()  # freed pages of published batches go back to the system

    def publish(plans: list[ChannelPlan], site_wide: bool) -> None:
        nonlocal platforms
        if platforms is None:  # checked after the first render: a render error goes first
            platforms = ["preview"] if request.preview else runner.check_platforms(settings, names)
        for platform in platforms:
            receipts.extend(
                runner.publish(settings, plans, platform, site_wide, now, request.dry_run)
            )
        if ledger is not None and not request.dry_run:
            remember_renders(ledger, plans)
        trimmer.batch_done(large=site_wide)

    # The ledger is held open meanwhile: SQLite syncs a WAL file into the database whenever
    # its last connection closes, and each batch opens and closes it a few times.
    # Share images are drawn one batch ahead in worker processes (``outreach.ahead``) while
    # this process renders and publishes the batch before: the same bytes, on every core.
    with (
        ledger.held_open() if ledger is not None else contextlib.nullcontext(),
        working_ahead(),
    ):
        for batch in _ahead_by_one(_batches(parts, request.batch_size)):
            # Passed straight on, not kept in a local: a batch's rendered files are freed once
            # published, before the next batch (or the site pages) is rendered.
            publish(
                [
                    runner.step(
                        "render",
                        render_publications,
                        part.view,
                        chunk,
                        part.kind.ledger_key,
                        known,
                    )
                    for part, chunk, known in batch
                ],
                site_wide=False,
            )
        # Site pages in bounded parts too: each part's files out before the next is rendered;
        # the last part removes the site files none of the parts contained.
        for part in (part for part in parts if part.site_pages):
            channel = get_channel(part.view.channel)
            # A channel lists only its own kinds (the blog renders a report's announcement but
            # its index and feed stay the findings'): for another kind, no site pages.
            listed = part.kind.name in (getattr(channel, "lists", None) or channel.kinds)
            pages = runner.step("site-pages", site_pages_of, part.view) if listed else []
            start: int | None = 0
            published: frozenset[str] = frozenset()
            while start is not None:
                plan = runner.step(
                    "render-site", render_site_pages, part.view, start, request.batch_size,
                    published, pages,
                )  # fmt: skip
                start, published = plan.next_page, published | plan.items()
                publish([plan], site_wide=True)
                del plan
            if ledger is not None and not request.dry_run:
                remember_fragments(part.view)

    # 7. After publishing: each channel's hook returns actions; the runner executes them (the
    # preview runner renders the emails they would send); a dry run says whom they would reach.
    held = [hold for part in parts for hold in part.view.held]
    notes: list[str] = list(warnings)
    context = ActionContext(settings, now, request.approvals, config=request.config)
    for part in parts:
        hook = HookContext(
            settings, _receipts_of(part, receipts), part.view.ready, request.rebuild, now
        )
        for action in get_channel(part.view.channel).after_publish(hook):
            if request.dry_run and not request.preview:
                from outreach.preview import describe_action  # its email modules: dry runs only

                notes += describe_action(action, context)
            else:
                notes += runner.act(action, context)
    if not request.dry_run and not request.preview:
        notes += runner.after_release(held, request)
    return ReleaseReport(receipts, held, request.dry_run, notes)


def _chosen(
    request: ReleaseRequest,
    kinds: Sequence[Kind],
    catalogs: Mapping[str, Mapping[str, Any]],
    names: Sequence[str],
) -> dict[str, list[str]]:
    """The ids to release for each kind (``kind:id`` names another kind's publication)."""
    chosen: dict[str, list[str]] = {}
    for kind in kinds:
        catalog = dict(catalogs[kind.name])
        if request.rebuild or request.preview:
            chosen[kind.name] = (
                sorted(catalog)
                if request.preview
                else rebuild_ids(request.settings, catalog, names, kind.ledger_id)
            )
            if request.rebuild and request.ids is not None:  # a repair: only these again
                wanted = set(_of_kind(request.ids, kind.name))
                chosen[kind.name] = [i for i in chosen[kind.name] if i in wanted]
        elif request.ids is None:
            chosen[kind.name] = resolve_ids(catalog, None, kind.name)
        else:
            mine = _of_kind(request.ids, kind.name)
            if mine:  # the kind's own catalog: it knows its drafts, to name them
                chosen[kind.name] = resolve_ids(catalogs[kind.name], mine, kind.name)
    unknown = [i for i in request.ids or () if ":" in i and i.split(":", 1)[0] not in known_kinds()]
    if unknown and not request.rebuild:
        raise ReleaseError(
            f"no publication kind for {', '.join(repr(u) for u in unknown)}; "
            f"known kinds: {', '.join(known_kinds())}"
        )
    return chosen


def _of_kind(ids: Sequence[str], kind: str) -> list[str]:
    """The ids of ``kind`` among publication names (``kind:id``, a bare id is a finding)."""
    return [
        i.split(":", 1)[1] if ":" in i else i
        for i in ids
        if (i.split(":", 1)[0] if ":" in i else FINDING) == kind
    ]


def _parts(
    request: ReleaseRequest,
    kinds: Sequence[Kind],
    catalogs: Mapping[str, Mapping[str, Any]],
    chosen: Mapping[str, Sequence[str]],
    names: Sequence[str],
    ledger: Ledger | None,
    kit_secret: bytes = b"",
) -> list[_Part]:
    settings = request.settings
    for_reuse = {} if ledger is None else platforms_for_reuse(settings, names)
    released_on = _ReleasedOn(ledger)
    parts: list[_Part] = []
    for kind in kinds:
        if kind.name not in chosen:
            continue
        catalog = dict(catalogs[kind.name])
        for name in names:
            if kind.name not in get_channel(name).kinds:
                continue
            released: set[str] = set()
            reuse = None
            if ledger is not None:
                released = released_on(name, kind)
                # Render keys hash a finding's fields and media; other kinds render each time.
                if kind.name == FINDING:
                    reuse = reuse_for(settings, ledger, name, for_reuse)
            view = channel_site(
                settings, catalog, name, chosen[kind.name], released, request.now, reuse,
                kind.site_id, kit_secret,
            )  # fmt: skip
            parts.append(_Part(kind, view))
    return _one_site_per_channel(request, catalogs, parts, released_on)


class _ReleasedOn:
    """The ids of a kind with anything published on a channel: one ledger query a channel,
    whatever the number of kinds asking."""

    def __init__(self, ledger: Ledger | None) -> None:
        self.ledger = ledger
        self._keys: dict[str, set[str]] = {}

    def __call__(self, channel: str, kind: Kind) -> set[str]:
        if self.ledger is None:
            return set()
        if channel not in self._keys:
            self._keys[channel] = self.ledger.released(channel)
        return {i for i in map(kind.ledger_id, self._keys[channel]) if i is not None}


def _one_site_per_channel(
    request: ReleaseRequest,
    catalogs: Mapping[str, Mapping[str, Any]],
    parts: list[_Part],
    released_on: _ReleasedOn,
) -> list[_Part]:
    """A channel fed by several kinds (the podcast: findings' and events' episodes) renders
    its site pages (one feed) once, in its first kind's part, listing every kind's released
    publications, also those of kinds this release does not publish."""
    for name in dict.fromkeys(part.view.channel for part in parts):
        channel = get_channel(name)
        # The kinds its site pages list (the blog renders reports' announcements, but its
        # index and feed list findings only: ``lists``).
        listing = getattr(channel, "lists", None) or channel.kinds
        fed = [k for k in known_kinds() if k in listing]
        if len(fed) < 2:
            continue
        mine = {part.kind.name: part for part in parts if part.view.channel == name}
        for kind_name in fed:
            if kind_name not in mine:  # not released now: its part only lists what was
                kind = get_kind(kind_name)
                view = channel_site(
                    request.settings, dict(catalogs[kind_name]), name, [],
                    released_on(name, kind), request.now, None, kind.site_id,
                )  # fmt: skip
                mine[kind_name] = _Part(kind, view)
        listed = [p for kind_name in fed for p in mine[kind_name].view.site.listed]
        ids = [publication.id for publication in listed]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ReleaseError(
                f"{', '.join(repr(i) for i in twice)} is the id of publications of two kinds on "
                f"the {name} channel; rename one of them (ids name their files and episodes)"
            )
        first = mine[fed[0]]
        if not any(part is first for part in parts):  # its kind is not released now
            at = min(i for i, part in enumerate(parts) if part.view.channel == name)
            parts.insert(at, first)
        first.view = replace(
            first.view, site=replace(first.view.site, listed=tuple(newest_first(listed)))
        )
        for part in parts:
            if part.view.channel == name and part is not first:
                part.site_pages = False
    return parts


Chunk = tuple[_Part, list[Any], dict[str, frozenset[str] | None]]
"""One part's publications in a batch, and the files of each that are kept as they are."""


def _batches(parts: Sequence[_Part], size: int) -> Iterator[list[Chunk]]:
    """(part, publications, kept files) groups, in order, of at most ``size`` publications
    to render, and at most ``KEPT_PER_BATCH`` kept as they are (whose files the platforms
    still hold from the same inputs): those cost a few receipts each, no rendered files, so
    a release that changes little publishes in a few batches instead of one per ``size``."""
    chunk: list[tuple[_Part, Any, frozenset[str] | None]] = []
    rendered = kept = 0
    for part in parts:
        for publication in part.view.ready:
            files = kept_files(part.view, publication, part.kind.ledger_key)
            full = rendered >= max(size, 1) if files is None else kept >= KEPT_PER_BATCH
            if full:
                yield _grouped(chunk)
                chunk, rendered, kept = [], 0, 0
            chunk.append((part, publication, files))
            if files is None:
                rendered += 1
            else:
                kept += 1
    if chunk:
        yield _grouped(chunk)


def _grouped(chunk: list[tuple[_Part, Any, frozenset[str] | None]]) -> list[Chunk]:
    grouped: dict[int, Chunk] = {}
    for part, publication, files in chunk:
        _, publications, known = grouped.setdefault(id(part), (part, [], {}))
        publications.append(publication)
        known[publication.id] = files
    return list(grouped.values())


def _ahead_by_one(batches: Iterator[list[Chunk]]) -> Iterator[list[Chunk]]:
    """The batches in order; before each is rendered, the next one's share images are
    started in worker processes (the first batch's too, before it), so at most two
    batches' images are in flight."""
    following = next(batches, None)
    if following is not None:
        _draw_ahead(following)
    while following is not None:
        batch, following = following, next(batches, None)
        if following is not None:
            _draw_ahead(following)
        yield batch


def _draw_ahead(batch: list[Chunk]) -> None:
    for part, chunk, known in batch:
        if part.kind.name == FINDING:  # share images show a finding's key figure
            draw_ahead(part.view, [p for p in chunk if known.get(p.id) is None],
                       part.kind.ledger_key)  # fmt: skip


def _receipts_of(part: _Part, receipts: ReceiptLog) -> Sequence[Receipt]:
    kind = part.kind
    return receipts.select(
        lambda r: (
            r.channel == part.view.channel
            and (r.finding_id == kind.site_id or kind.ledger_id(r.finding_id) is not None)
        )
    )


# -- the callers' shorthands --------------------------------------------------------------


def release(
    settings: Settings,
    ids: Sequence[str] | None,
    channels: Sequence[str] | None,
    now: datetime,
    dry_run: bool = False,
    approvals: Mapping[str, bool | None] | None = None,
) -> ReleaseReport:
    """The whole release with the plain runner (no Prefect): the flows run the same sequence."""
    request = ReleaseRequest(
        settings, now, ids, None, channels, dry_run, approvals=dict(approvals or {})
    )
    return run_release(request)


def build_preview(settings: Settings, now: datetime) -> tuple[int, list[Held]]:
    """Render every publication into the build folder for review; touches no platform or
    ledger. The release sequence over the preview runner."""
    report = run_release(ReleaseRequest(settings, now, preview=True))
    return len(report.receipts), report.held
