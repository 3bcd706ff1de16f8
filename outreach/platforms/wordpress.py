"""The WordPress platform: one post per finding, created or updated by slug, never twice.

For each finding's batch (the ``wordpress`` channel's payload and share image) it makes sure
the featured image is in the media library, the topics exist as categories and the
commodities and regions as tags, and the post exists with the payload's content. Every
step looks before it creates (media by a content-derived slug, the post by the finding's
slug, terms by name), so a retry after a reset or timeout finds what the lost answer had
made. The ledger keeps the post's and image's remote ids and a hash of what was sent: an
unchanged finding costs no calls. An embargoed finding becomes a scheduled ("future") post;
the embargo-lift run sends it again as published.

WordPress serves every media item, its attachment page and its file in the uploads folder to
anyone, whatever the status of the post it illustrates. So an embargoed finding's share image
(its title and key figure, in pixels and alt text) is uploaded only at the lift: before it,
the scheduled post has no featured image.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, ClassVar, TypeVar

from outreach.config import WordPressSettings
from outreach.ledger import Ledger, Publication
from outreach.platforms.base import Batch, PlatformUnavailable, Receipt
from outreach.platforms.wordpress_api import (
    WordPressClient,
    WordPressError,
    WordPressNotFound,
    WordPressTransient,
)
from outreach.vocabulary import Change, Deliverable

REQUIRED_CAPABILITIES = (
    "publish_posts",
    "edit_published_posts",
    "upload_files",
    "manage_categories",
)
POST_STATUSES = "publish,future,draft,pending,private"
CANONICAL_META = "outreach_canonical"
T = TypeVar("T")


class WordPress:
    name: ClassVar[str] = "wordpress"
    takes_files: ClassVar[bool] = False
    """Takes posts (its own channel's payloads), not any channel's files."""

    def __init__(self, client: WordPressClient, settings: WordPressSettings):
        self.client = client
        self.settings = settings
        self._terms: dict[str, dict[str, int]] = {}
        self._canonical_supported: bool | None = None

    def check(self) -> str:
        """Who the credentials log in as, and whether that user may do what a release does."""
        try:
            me = self.client.get("wp/v2/users/me", {"context": "edit"})
        except WordPressError as exc:
            raise PlatformUnavailable(str(exc)) from None
        capabilities = me.get("capabilities", {})
        lacking = [cap for cap in REQUIRED_CAPABILITIES if not capabilities.get(cap)]
        if lacking:
            raise PlatformUnavailable(
                f"user '{me.get('slug')}' at {self.client.base_url} lacks "
                f"{', '.join(lacking)}; give the user the Editor or Administrator role"
            )
        text = (
            f"logged in to {self.client.base_url} as '{me.get('slug')}' "
            "(may publish, upload and add terms)"
        )
        if self.settings.canonical and not self.canonical_supported():
            text += (
                "; note: canonical links are off until templates/wordpress/mu-plugins/"
                "outreach-canonical.php is copied into the site's wp-content/mu-plugins/"
            )
        return text

    def publish(
        self, batch: Batch, ledger: Ledger, now: datetime, dry_run: bool = False
    ) -> list[Receipt]:
        if not batch.deliverables:  # the site-wide batch, or a finding not rendered again
            known = ledger.items(batch.finding_id, batch.channel, self.name)
            return [
                Receipt(batch.channel, self.name, batch.finding_id, item, "unchanged",
                        known[item].url)
                for item in sorted(batch.kept & set(known))
            ]  # fmt: skip
        files = {PurePosixPath(d.path).name: d for d in batch.deliverables}
        if "post.json" not in files:
            raise WordPressError(
                f"the wordpress platform publishes the wordpress channel's posts, not the "
                f'{batch.channel} channel\'s files; in outreach.toml list "wordpress" under '
                "[channels.wordpress] platforms only"
            )
        post_file = files["post.json"]
        payload = json.loads(post_file.content)
        image = files[payload["featured_image"]["file"]]
        # Files attached to the post as media items (a report's PDF), like the image only
        # after the lift: WordPress serves media to anyone.
        attachments = [(meta, files[meta["file"]]) for meta in payload.get("attachments", [])]
        status = effective_status(payload, now)
        public = is_public(payload, now)
        # Before the lift the post goes without its image: the hash says which was sent.
        image_part = (
            image.sha256 + "".join(f" {file.sha256}" for _, file in attachments)
            if public
            else "no-image-before-lift"
        )
        post_hash = hashlib.sha256(f"{post_file.sha256} {image_part} {status}".encode()).hexdigest()
        known = ledger.items(batch.finding_id, batch.channel, self.name)
        recorded_post, recorded_image = known.get(post_file.path), known.get(image.path)
        image_action: Change = _action(recorded_image, image.sha256) if public else "removed"
        post_action = _action(recorded_post, post_hash)
        post_url = recorded_post.url if recorded_post else None
        image_url = recorded_image.url if recorded_image and public else None

        if not dry_run and (post_action != "unchanged" or (public and image_action != "unchanged")):
            media = self._ensure_media(batch.finding_id, image, payload) if public else None
            post = self._ensure_post(payload, status, media["id"] if media else 0, recorded_post)
            post_url = post["link"]
            ledger.record(
                batch.finding_id, batch.channel, self.name, post_file.path, post_hash,
                post_url, now, remote_id=str(post["id"]),
            )  # fmt: skip
            _mark(ledger, self.name, post)
            old_media = recorded_image.remote_id if recorded_image else None
            if old_media and (media is None or old_media != str(media["id"])):
                self.client.delete(f"wp/v2/media/{old_media}")
            if media is not None:
                image_url = media["source_url"]
                ledger.record(
                    batch.finding_id, batch.channel, self.name, image.path, image.sha256,
                    image_url, now, remote_id=str(media["id"]),
                )  # fmt: skip
                _mark(ledger, self.name, media)
            elif recorded_image is not None:  # embargoed again: the image went with it
                ledger.forget(batch.finding_id, batch.channel, self.name, image.path)
        receipts = self._attach(
            batch, attachments, known, public, post_file.path, ledger, now, dry_run
        )
        if public or recorded_image is not None:  # before the lift there is no image to show
            receipts.append(Receipt(batch.channel, self.name, batch.finding_id, image.path,
                                    image_action, image_url))  # fmt: skip
        receipts.append(Receipt(batch.channel, self.name, batch.finding_id, post_file.path,
                                post_action, post_url))  # fmt: skip
        return receipts

    def _attach(
        self,
        batch: Batch,
        attachments: list[tuple[dict, Deliverable]],
        known: Mapping[str, Publication],
        public: bool,
        post_path: str,
        ledger: Ledger,
        now: datetime,
        dry_run: bool,
    ) -> list[Receipt]:
        """Each attached file as a media item of the post (after the lift; taken down if the
        post is embargoed again), replaced when its bytes change."""
        receipts: list[Receipt] = []
        for meta, file in attachments:
            recorded = known.get(file.path)
            action: Change = _action(recorded, file.sha256) if public else "removed"
            url = recorded.url if recorded and public else None
            if not dry_run and public and action != "unchanged":
                post = ledger.items(batch.finding_id, batch.channel, self.name).get(post_path)
                media = self._ensure_file(batch.finding_id, file, meta, post)
                if recorded and recorded.remote_id and recorded.remote_id != str(media["id"]):
                    self.client.delete(f"wp/v2/media/{recorded.remote_id}")
                url = media["source_url"]
                ledger.record(
                    batch.finding_id, batch.channel, self.name, file.path, file.sha256, url,
                    now, remote_id=str(media["id"]),
                )  # fmt: skip
                _mark(ledger, self.name, media)
            elif not dry_run and not public and recorded is not None:
                if recorded.remote_id:
                    self.client.delete(f"wp/v2/media/{recorded.remote_id}")
                ledger.forget(batch.finding_id, batch.channel, self.name, file.path)
            if public or recorded is not None:
                receipts.append(
                    Receipt(batch.channel, self.name, batch.finding_id, file.path, action, url)
                )
        return receipts

    def _ensure_file(
        self, finding_id: str, file: Deliverable, meta: dict, post: Publication | None
    ) -> dict:
        """An attached file, found by a slug made from its content hash, else uploaded as a
        media item of the post."""
        name = PurePosixPath(file.path)
        slug = f"{_media_slug(finding_id)}-{_media_slug(name.stem)}-{file.sha256[:12]}"

        def find() -> dict | None:
            found = self.client.get("wp/v2/media", {"slug": slug, "context": "edit"})
            return found[0] if found else None

        def upload() -> dict:
            params = {"slug": slug, "title": meta.get("title", name.name)}
            if post is not None and post.remote_id:
                params["post"] = post.remote_id
            return self.client.create(
                "wp/v2/media",
                None,
                params=params,
                data=file.content,
                headers={
                    "Content-Type": meta.get("type", "application/octet-stream"),
                    "Content-Disposition": f'attachment; filename="{slug}{name.suffix}"',
                },
            )

        return self._look_then_create(find, upload)

    def holds(self, marks: Mapping[str, str | None]) -> bool:
        """The ledger keeps the post's id and what was sent: posts are not read back."""
        return bool(marks)

    # -- media -----------------------------------------------------------------

    def _ensure_media(self, finding_id: str, image: Deliverable, payload: dict) -> dict:
        """The share image, found by a slug made from its content hash, else uploaded."""
        slug = f"{_media_slug(finding_id)}-share-{image.sha256[:12]}"
        alt = payload["featured_image"]["alt"]

        def find() -> dict | None:
            found = self.client.get("wp/v2/media", {"slug": slug, "context": "edit"})
            return found[0] if found else None

        def upload() -> dict:
            return self.client.create(
                "wp/v2/media",
                None,
                params={"slug": slug, "alt_text": alt, "title": payload["title"]},
                data=image.content,
                headers={
                    "Content-Type": "image/png",
                    "Content-Disposition": f'attachment; filename="{slug}.png"',
                },
            )

        return self._look_then_create(find, upload)

    # -- terms -----------------------------------------------------------------

    def _term_ids(self, taxonomy: str, terms: list[dict[str, str]]) -> list[int]:
        """Ids of the named terms, creating the missing ones (term_exists means: use it)."""
        known = self._load_terms(taxonomy)
        ids: list[int] = []
        for term in terms:
            key = _term_key(term["name"])
            if term.get("slug") in known:
                ids.append(known[term["slug"]])
                continue
            if key in known:
                ids.append(known[key])
                continue
            term_id = self._create_term(taxonomy, term)
            known[key] = term_id
            ids.append(term_id)
        return ids

    def _load_terms(self, taxonomy: str) -> dict[str, int]:
        if taxonomy not in self._terms:
            known: dict[str, int] = {}
            for term in self.client.get_all(f"wp/v2/{taxonomy}", {"context": "edit"}):
                known[term["slug"]] = term["id"]
                known[_term_key(term["name"])] = term["id"]
            self._terms[taxonomy] = known
        return self._terms[taxonomy]

    def _create_term(self, taxonomy: str, term: dict[str, str]) -> int:
        def create() -> dict:
            try:
                return self.client.create(f"wp/v2/{taxonomy}", term)
            except WordPressError as exc:
                if exc.code == "term_exists" and isinstance(exc.data, dict):
                    return {"id": int(exc.data["term_id"])}
                raise

        # Creating is its own check: a second try after a lost answer meets term_exists.
        return self._look_then_create(lambda: None, create)["id"]

    # -- the post --------------------------------------------------------------

    def _ensure_post(
        self, payload: dict, status: str, media_id: int, recorded: Publication | None
    ) -> dict:
        body: dict[str, Any] = {
            "slug": payload["slug"],
            "title": payload["title"],
            "content": payload["content"],
            "excerpt": payload["excerpt"],
            "status": status,
            "date_gmt": payload["date_gmt"],
            "categories": self._term_ids("categories", payload["categories"]),
            "tags": self._term_ids("tags", [{"name": name} for name in payload["tags"]]),
            "featured_media": media_id,
        }
        if payload.get("canonical") and self.canonical_supported():
            body["meta"] = {CANONICAL_META: payload["canonical"]}

        post_id = recorded.remote_id if recorded else None
        if post_id:
            try:
                return self.client.update(f"wp/v2/posts/{post_id}", body)
            except WordPressNotFound:
                pass  # deleted on the site: find it by slug or make it again

        def find() -> dict | None:
            found = self.client.get(
                "wp/v2/posts", {"slug": payload["slug"], "status": POST_STATUSES, "context": "edit"}
            )
            return found[0] if found else None

        existing: list[dict] = []

        def find_existing() -> dict | None:
            post = find()
            if post is not None:
                existing.append(post)
            return post

        post = self._look_then_create(
            find_existing, lambda: self.client.create("wp/v2/posts", body)
        )
        if existing:  # made by an earlier, interrupted try (or by hand): bring it up to date
            post = self.client.update(f"wp/v2/posts/{post['id']}", body)
        return post

    def canonical_supported(self) -> bool:
        """Whether the site accepts meta.outreach_canonical (the mu-plugin is installed)."""
        if self._canonical_supported is None:
            answer = self.client.request("OPTIONS", "wp/v2/posts")
            schema = self.client.json_of("OPTIONS", "wp/v2/posts", answer).get("schema", {})
            meta = schema.get("properties", {}).get("meta", {}).get("properties", {})
            self._canonical_supported = CANONICAL_META in meta
        return self._canonical_supported

    # -- retries at the level of "does it exist yet?" ----------------------------

    def _look_then_create(self, find: Callable[[], T | None], create: Callable[[], T]) -> T:
        """Look, create if missing; after a transient failure look again before creating."""
        for attempt in range(1, self.client.attempts + 1):
            found = find()
            if found is not None:
                return found
            try:
                return create()
            except WordPressTransient as exc:
                if attempt == self.client.attempts:
                    raise
                self.client.sleep(max(exc.wait, self.client.backoff * 2 ** (attempt - 1)))
        raise AssertionError("unreachable")


def is_public(payload: dict, now: datetime) -> bool:
    """Whether the finding's embargo (and publication time) has passed."""
    return now >= datetime.fromisoformat(payload["date_gmt"]).replace(tzinfo=UTC)


def effective_status(payload: dict, now: datetime) -> str:
    """What the post should be now: a draft stays a draft; before the lift, scheduled."""
    if payload["status"] != "publish":
        return payload["status"]
    return "publish" if is_public(payload, now) else "future"


def _media_slug(text: str) -> str:
    """A slug WordPress keeps as it is (a report's ledger key ``report:<id>`` has a colon)."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def _action(recorded: Publication | None, wanted_hash: str) -> Change:
    if recorded is None or not recorded.remote_id:
        return "created"
    return "unchanged" if recorded.content_hash == wanted_hash else "updated"


MARKED_FIELDS = ("title", "content", "excerpt", "slug", "featured_media", "categories", "tags",
                 "alt_text", "caption", "source_url")  # fmt: skip


def remote_mark(item: dict) -> str:
    """What a post or media item is now, as WordPress answers it (edit context): its
    modification time and a hash of the fields a release sets. A hand edit changes one or
    both (the time alone misses an edit in the same second). A scheduled post that WordPress
    published at its time counts as unchanged."""
    fields = {
        name: value.get("raw", value.get("rendered")) if isinstance(value, dict) else value
        for name, value in item.items()
        if name in MARKED_FIELDS
    }
    fields["status"] = "publish" if item.get("status") == "future" else item.get("status")
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    return f"{item.get('modified_gmt', '')} {digest}"


def _mark(ledger: Ledger, platform: str, item: dict) -> None:
    """Keep what WordPress answered for a post or media item just written, for ``outreach
    platforms verify`` to notice a later hand edit."""
    ledger.record_mark(platform, str(item["id"]), remote_mark(item))


def _term_key(name: str) -> str:
    """WordPress stores '&' in term names as '&amp;'; compare names unescaped and casefolded."""
    return "name:" + html.unescape(name).strip().casefold()


def wordpress_platform(
    settings: WordPressSettings,
    app_password: str | None,
    throttle: Callable[[], None] | None = None,
) -> WordPress:
    client = WordPressClient(
        settings.url,
        settings.username,
        app_password or "",
        timeout=settings.timeout_seconds,
        attempts=settings.attempts,
        backoff=settings.backoff_seconds,
        throttle=throttle,
    )
    return WordPress(client, settings)
