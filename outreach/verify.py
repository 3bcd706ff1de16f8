"""Drift between the ledger and the platforms: find it, and re-push exactly what differs.

A release trusts the ledger: an object changed in the bucket or a post deleted on WordPress
by hand goes unnoticed until its finding changes. ``verify`` compares every platform with
the ledger, under the lock a release takes to publish there (so a running release is never
mistaken for drift):

- static files by content (the file's SHA-256 against the ledger's);
- S3 objects by key and ETag, from one listing of the pipeline's prefix: the platform keeps
  the ETag S3 answered to each upload (an ETag is an MD5, or no hash of the content at all
  for multipart uploads, so it cannot be compared with the ledger's SHA-256); an object
  uploaded before ETags were kept is read back and hashed;
- WordPress posts and media items by id (fetched in pages of 100) and by what WordPress
  answered when the pipeline last wrote the item: its ``modified_gmt`` and a hash of the
  fields a release sets (``WordPress.remote_mark``, kept in ``outreach.remote_marks``).

It lists each item as missing, changed or unknown (on the platform under the pipeline's
prefix, folder or user, but not in the ledger). ``repair`` makes the ledger say what the
platform really holds for the items that differ (forgotten when missing, marked as differing
when changed; a hand-edited WordPress media item is deleted so it is uploaded afresh: the
ledger proves the pipeline made it) and runs the one release sequence as a rebuild of only the
affected publications, so the normal publishing code pushes them again. Unknown items are
reported and never touched.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from outreach import locks
from outreach.config import Settings
from outreach.errors import OutreachError
from outreach.ledger import Ledger, Publication
from outreach.platforms.base import Platform
from outreach.platforms.objectstore import ObjectStore, storage_errors
from outreach.platforms.static import StaticSite, UnsafePath
from outreach.platforms.wordpress import POST_STATUSES, WordPress, remote_mark
from outreach.platforms.wordpress_api import WordPressError
from outreach.release_steps import publishing_unit
from outreach.vocabulary import SITE_WIDE

State = Literal["missing", "changed", "unknown"]
DIFFERS = "differs-from-platform"
"""The content hash a repair records for an item the platform holds otherwise: no rendered
file hashes to it, so the release writes the item again."""
PAGE = 100
"""Ids per WordPress request (the REST API's largest page)."""
POST_FILE_SUFFIX = "/post.json"


@dataclass(frozen=True)
class Drift:
    """One item where the platform and the ledger disagree."""

    platform: str
    state: State
    item: str
    """The ledger's item (a path), or for an unknown item the platform's own name for it."""
    why: str
    record: Publication | None = None
    """The ledger's record (None for an unknown item)."""

    def line(self) -> str:
        """One line for a terminal: names from a platform (a key, a slug) may hold anything,
        so characters that are not printable are shown as '?'."""
        record = self.record
        where = f"{record.channel} {record.finding_id or '(site pages)'}: " if record else ""
        text = f"{self.state:<8} {self.platform}: {where}{self.item} ({self.why})"
        return "".join(char if char.isprintable() else "?" for char in text)


@dataclass
class Verification:
    """What ``verify`` found on every platform it checked."""

    drifts: list[Drift] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    """Platform -> ledger items compared."""
    notes: list[str] = field(default_factory=list)

    @property
    def differing(self) -> list[Drift]:
        """Missing and changed items: what a repair pushes again."""
        return [drift for drift in self.drifts if drift.state != "unknown"]

    @property
    def unknown(self) -> list[Drift]:
        return [drift for drift in self.drifts if drift.state == "unknown"]


class VerifyError(OutreachError):
    """A platform could not be read to compare it with the ledger; nothing was changed."""

    before_any_change = True


# -- comparing ----------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inspect_static(site: StaticSite, published: Sequence[Publication]) -> list[Drift]:
    """Each recorded file against the file on disk; files in the folder the ledger does not
    know (a write's temporary file excepted) are unknown."""
    drifts: list[Drift] = []
    for record in published:
        try:
            data = site.target(record.item).read_bytes()
        except (FileNotFoundError, UnsafePath):
            drifts.append(Drift(site.name, "missing", record.item, "no such file", record))
            continue
        if _sha256(data) != record.content_hash:
            drifts.append(Drift(site.name, "changed", record.item, "content differs", record))
    known = {record.item for record in published}
    if site.root.is_dir():
        for folder, _, names in os.walk(site.root):
            for name in names:
                relative = (Path(folder) / name).relative_to(site.root).as_posix()
                temporary = name.startswith(".") and name.endswith(".tmp")
                if relative not in known and not temporary:
                    drifts.append(Drift(site.name, "unknown", relative, "not in the ledger"))
    return drifts


def inspect_s3(store: ObjectStore, published: Sequence[Publication]) -> list[Drift]:
    """One listing of the prefix: presence, and the ETag against the one S3 gave the
    pipeline's upload; an object uploaded before ETags were kept is read back and hashed."""
    listed: dict[str, str] = {}
    with storage_errors(store.bucket, "list", store.prefix or "(whole bucket)"):
        pages = store.client.get_paginator("list_objects_v2").paginate(
            Bucket=store.bucket, Prefix=store.prefix
        )
        for page in pages:
            listed |= {entry["Key"]: entry.get("ETag", "") for entry in page.get("Contents", [])}
    drifts: list[Drift] = []
    for record in published:
        key = store.key(record.item)
        if key not in listed:
            drifts.append(Drift(store.name, "missing", record.item, f"no object {key}", record))
            continue
        if record.remote_id:  # the ETag of our upload: any other upload has its own
            if listed[key] != record.remote_id:
                why = f"object {key} replaced (ETag {listed[key]}, uploaded {record.remote_id})"
                drifts.append(Drift(store.name, "changed", record.item, why, record))
            continue
        # Uploaded before ETags were kept: read back and hash.
        with storage_errors(store.bucket, "read", key):
            body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
        if _sha256(body) != record.content_hash:
            drifts.append(
                Drift(store.name, "changed", record.item, f"object {key} differs", record)
            )
    known = {store.key(record.item) for record in published}
    drifts += [
        Drift(store.name, "unknown", key, "not in the ledger")
        for key in sorted(set(listed) - known)
    ]
    return drifts


def _by_id(wordpress: WordPress, route: str, ids: list[str], extra: Mapping[str, str]) -> dict:
    """The items of ``route`` with these ids, as the pipeline's user sees them (edit context)."""
    found: dict[str, dict] = {}
    for start in range(0, len(ids), PAGE):
        chunk = ids[start : start + PAGE]
        params = {"include": ",".join(chunk), "context": "edit", **extra}
        found |= {str(item["id"]): item for item in wordpress.client.get_all(route, params)}
    return found


def inspect_wordpress(
    wordpress: WordPress, published: Sequence[Publication], marks: Mapping[str, str]
) -> tuple[list[Drift], list[str]]:
    """Posts and media items by id (trashed counts as missing) and by the mark recorded when
    the pipeline wrote them; posts and media of the pipeline's user that the ledger does not
    know are unknown."""
    posts = [r for r in published if r.remote_id and r.item.endswith(POST_FILE_SUFFIX)]
    media = [r for r in published if r.remote_id and not r.item.endswith(POST_FILE_SUFFIX)]
    drifts: list[Drift] = []
    unmarked = 0
    for route, records, extra in (
        ("wp/v2/posts", posts, {"status": POST_STATUSES + ",trash"}),
        ("wp/v2/media", media, {}),
    ):
        kind = "post" if route.endswith("posts") else "media item"
        found = _by_id(wordpress, route, [str(r.remote_id) for r in records], extra)
        for record in records:
            item = found.get(str(record.remote_id))
            if item is None or item.get("status") == "trash":
                gone = "in the trash" if item else "deleted"
                why = f"{kind} {record.remote_id} {gone}"
                drifts.append(Drift(wordpress.name, "missing", record.item, why, record))
                continue
            mark = marks.get(str(record.remote_id))
            if mark is None:
                unmarked += 1
            elif remote_mark(item) != mark:
                why = f"{kind} {record.remote_id} edited on the site ({item.get('modified_gmt')})"
                drifts.append(Drift(wordpress.name, "changed", record.item, why, record))
    me = wordpress.client.get("wp/v2/users/me", {"context": "edit"})
    for route, records, extra in (
        ("wp/v2/posts", posts, {"status": POST_STATUSES}),
        ("wp/v2/media", media, {}),
    ):
        kind = "post" if route.endswith("posts") else "media item"
        known = {str(r.remote_id) for r in records}
        params = {"author": str(me["id"]), "context": "edit", **extra}
        for item in wordpress.client.get_all(route, params):
            if str(item["id"]) not in known:
                name = f"{kind} {item['id']} ({item.get('slug', '')})"
                why = f"by {me.get('slug')}, not in the ledger"
                drifts.append(Drift(wordpress.name, "unknown", name, why))
    notes = (
        [
            f"wordpress: {unmarked} item(s) published before their state was kept on writing "
            "were checked for presence only (the next change to them records one)"
        ]
        if unmarked
        else []
    )
    return drifts, notes


def inspect(
    platform: Platform, published: Sequence[Publication], ledger: Ledger
) -> tuple[list[Drift], list[str]]:
    """One platform against its ledger records."""
    if isinstance(platform, StaticSite):
        return inspect_static(platform, published), []
    if isinstance(platform, ObjectStore):
        return inspect_s3(platform, published), []
    if isinstance(platform, WordPress):
        try:
            return inspect_wordpress(platform, published, ledger.marks(platform.name))
        except WordPressError as exc:
            raise VerifyError(f"wordpress: {exc}") from None
    return [], [f"{platform.name}: this platform cannot be compared with the ledger yet"]


# -- repairing ----------------------------------------------------------------------------


def mark_for_repair(drifts: Iterable[Drift], platform: Platform, ledger: Ledger) -> None:
    """Make the ledger say what the platform really holds for the differing items, and let
    their publications be rendered again, so a release pushes them once more."""
    for drift in drifts:
        record = drift.record
        if record is None:  # unknown: never ours to touch
            continue
        media = isinstance(platform, WordPress) and not record.item.endswith(POST_FILE_SUFFIX)
        if drift.state == "changed" and media and record.remote_id:
            # Found again by its slug it would stay as edited: made afresh instead.
            platform.client.delete(f"wp/v2/media/{record.remote_id}")
        if drift.state == "missing" or media:
            ledger.forget(record.finding_id, record.channel, record.platform, record.item)
        else:
            ledger.record(
                record.finding_id, record.channel, record.platform, record.item, DIFFERS,
                record.url, datetime.fromisoformat(record.published_at),
                remote_id=record.remote_id,
            )  # fmt: skip
        keys = ledger.render_keys(record.channel)
        stale = {key: "" for key in keys if key[0] == record.finding_id}
        if stale:
            ledger.record_render_keys(record.channel, stale)


def publications_of(drifts: Iterable[Drift]) -> tuple[list[str], list[str]]:
    """(publication ledger keys, channels) a repair renders again; site pages are rendered
    for every affected channel anyway."""
    records = [drift.record for drift in drifts if drift.record is not None]
    ids = sorted({r.finding_id for r in records if r.finding_id != SITE_WIDE})
    return ids, sorted({r.channel for r in records})


# -- the whole check ----------------------------------------------------------------------


def platform_names(settings: Settings) -> list[str]:
    """Every configured platform, in first-mention order."""
    from outreach.platforms.registry import configured_platforms

    return configured_platforms(settings, list(settings.channels))


def verify(
    settings: Settings,
    platforms: Mapping[str, Platform],
    repair: bool = False,
    notice: locks.Notice | None = None,
) -> Verification:
    """Compare each platform with the ledger under its publishing lock; with ``repair``,
    prepare the ledger for re-pushing the differing items while still holding it."""
    ledger = Ledger(settings.paths.ledger)
    found = Verification()
    for name, platform in platforms.items():
        with locks.hold(settings.paths.state, publishing_unit(name), notice):
            published = ledger.platform_items(name)
            drifts, notes = inspect(platform, published, ledger)
            if repair:
                with ledger.transaction():
                    mark_for_repair([d for d in drifts if d.state != "unknown"], platform, ledger)
        found.checked[name] = len(published)
        found.drifts += drifts
        found.notes += notes
    return found


Release = Callable[[list[str], list[str]], object]
"""Runs the release sequence as a rebuild of (publication ids, channels)."""


def repair(
    settings: Settings,
    platforms: Mapping[str, Platform],
    release: Release,
    notice: locks.Notice | None = None,
) -> tuple[Verification, Verification]:
    """Verify and prepare, re-push the affected publications through the release sequence
    (which takes the same locks again, one platform at a time), then verify again."""
    before = verify(settings, platforms, repair=True, notice=notice)
    if before.differing:
        ids, channels = publications_of(before.differing)
        release(ids, channels)
    after = verify(settings, platforms, notice=notice) if before.differing else before
    return before, after
