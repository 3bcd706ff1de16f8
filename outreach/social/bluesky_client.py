"""Posting to Bluesky (any AT Protocol PDS) with the ``atproto`` package.

The first post carries the link card (an external embed: title, description and the share
image uploaded as its thumbnail blob); in a thread the second carries the share image with
its alt text. Links and hashtags are facets on UTF-8 byte offsets. Each post's record key is
a TID made from the finding's lift time and the part, so a retry after a reset or a 5xx
finds the post the server may already have made instead of making a second one. A 429
waits until the reset time the server sends.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from outreach.config import SocialSettings
from outreach.social.errors import SocialPostFailed, refused
from outreach.social.post import Attachment
from outreach.social.text import facets

POST_COLLECTION = "app.bsky.feed.post"
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
MAX_RATE_WAIT_SECONDS = 900.0


def tid(micros: int, clock_id: int) -> str:
    """A record key in the TID format (53-bit microseconds, 10-bit clock id, base32-sortable)."""
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 1023)
    return "".join(TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def record_key(idempotency_key: str, part: int, base: datetime) -> str:
    """The same key for every try of one part of one finding's post."""
    clock = int(hashlib.sha256(idempotency_key.encode()).hexdigest(), 16) % 1024
    return tid(int(base.timestamp() * 1_000_000) + part, clock)


class BlueskyPoster:
    """One logged-in session for one release's posts (the app password stays inside)."""

    network = "bluesky"

    def __init__(self, settings: SocialSettings, password: str, base: datetime | None = None):
        from atproto import Client

        self._settings = settings
        self._password = password
        self._client = Client(base_url=settings.bluesky_service.rstrip("/"))
        self._logged_in = False
        self._did = self._handle = ""
        self.base = base or datetime(2020, 1, 1, tzinfo=UTC)
        """The time record keys count from (the finding's lift, set by the action)."""

    def _call(self, what: str, call: Any) -> Any:
        from atproto_client import exceptions as ex

        attempts = self._settings.attempts
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except ex.UnauthorizedError as exc:
                raise refused(self.network, 401) from exc
            except ex.RateLimitExceededError as exc:
                wait = exc.retry_after
                if wait is None and exc.reset_at is not None:
                    wait = (exc.reset_at - datetime.now(UTC)).total_seconds()
                if attempt >= attempts:
                    raise SocialPostFailed(f"bluesky: {what} rate-limited; try later") from exc
                time.sleep(min(max(wait or 1.0, 0.0), MAX_RATE_WAIT_SECONDS))
            except (ex.NetworkError, ex.RequestException, ex.BadRequestError) as exc:
                status = exc.response.status_code if exc.response is not None else None
                if status in (401, 403):
                    raise refused(self.network, status) from exc
                retryable = status is None or status >= 500 or isinstance(exc, ex.NetworkError)
                if not retryable or attempt >= attempts:
                    raise SocialPostFailed(
                        f"bluesky: {what} failed ({exc or type(exc).__name__}); release "
                        "again to resume (nothing is posted twice)"
                    ) from exc
                time.sleep(min(2 ** (attempt - 1) * 0.1, 5))

    def _login(self) -> Any:
        if not self._logged_in:
            self._call(
                "logging in",
                lambda: self._client.login(
                    self._settings.bluesky_handle, self._password, fetch_bsky_profile=False
                ),
            )
            session = self._call("reading the session", self._client.com.atproto.server.get_session)
            self._did, self._handle = session.did, session.handle
            self._logged_in = True
        return self._client

    def check(self) -> str:
        self._login()
        return f"bluesky: @{self._handle} on {self._settings.bluesky_service}"

    def limit(self) -> int:
        from outreach.social.text import BLUESKY_LIMIT

        return BLUESKY_LIMIT

    def _existing(self, rkey: str) -> Any | None:
        from atproto_client import exceptions as ex

        client = self._client
        try:
            return client.com.atproto.repo.get_record(
                {"repo": self._did, "collection": POST_COLLECTION, "rkey": rkey}
            )
        except (ex.BadRequestError, ex.RequestException):
            return None

    def post(
        self,
        text: str,
        key: str,
        part: int,
        parent: str | None,
        root: str | None,
        attachment: Attachment,
    ) -> tuple[str, str]:
        self._login()
        rkey = record_key(key, part, self.base)
        found = self._existing(rkey)
        if found is None:
            record = self._record(text, part, parent, root, attachment)
            made = self._create(rkey, record)
            uri, cid = made.uri, made.cid
        else:
            uri, cid = found.uri, found.cid
        return f"{uri} {cid}", f"https://bsky.app/profile/{self._handle}/post/{rkey}"

    def _create(self, rkey: str, record: Any) -> Any:
        """Create the record; a try after a failure first looks for it (the server may have
        made it before the connection broke)."""
        client = self._client
        tries = {"n": 0}

        def once() -> Any:
            tries["n"] += 1
            if tries["n"] > 1:
                found = self._existing(rkey)
                if found is not None:
                    return found
            return client.com.atproto.repo.create_record(
                {
                    "repo": self._did,
                    "collection": POST_COLLECTION,
                    "rkey": rkey,
                    "record": record,
                }
            )

        return self._call("posting", once)

    def _record(
        self, text: str, part: int, parent: str | None, root: str | None, attachment: Attachment
    ) -> Any:
        from atproto import models

        client = self._client
        rich = [
            models.AppBskyRichtextFacet.Main(
                index=models.AppBskyRichtextFacet.ByteSlice(byte_start=f.start, byte_end=f.end),
                features=[
                    models.AppBskyRichtextFacet.Link(uri=f.value)
                    if f.kind == "link"
                    else models.AppBskyRichtextFacet.Tag(tag=f.value)
                ],
            )
            for f in facets(text)
        ]
        embed: Any = None
        if part in (0, 1):
            blob = self._call(
                "uploading the image", lambda: client.upload_blob(attachment.image)
            ).blob
            if part == 0:
                embed = models.AppBskyEmbedExternal.Main(
                    external=models.AppBskyEmbedExternal.External(
                        uri=attachment.url,
                        title=attachment.title,
                        description=attachment.description,
                        thumb=blob,
                    )
                )
            else:
                embed = models.AppBskyEmbedImages.Main(
                    images=[models.AppBskyEmbedImages.Image(alt=attachment.alt, image=blob)]
                )
        reply = None
        if parent and root:
            parent_uri, parent_cid = parent.split(" ")
            root_uri, root_cid = root.split(" ")
            reply = models.AppBskyFeedPost.ReplyRef(
                parent=models.ComAtprotoRepoStrongRef.Main(uri=parent_uri, cid=parent_cid),
                root=models.ComAtprotoRepoStrongRef.Main(uri=root_uri, cid=root_cid),
            )
        return models.AppBskyFeedPost.Record(
            text=text,
            created_at=client.get_current_time_iso(),
            facets=rich or None,
            embed=embed,
            reply=reply,
            langs=["en"],
        )
