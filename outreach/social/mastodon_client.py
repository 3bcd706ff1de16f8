"""Posting to a Mastodon instance with Mastodon.py.

The limit is the one the instance states (``configuration.statuses.max_characters``), not a
constant. Every status carries an ``Idempotency-Key`` made from the finding and the part, so
a retry after a reset or a 5xx (the server may have acted) gives back the same status. A
429 waits for the reset time the server sends (Mastodon.py's "wait" rate-limit method).
"""

from __future__ import annotations

import time
from typing import Any

from outreach.config import SocialSettings
from outreach.social.errors import SocialPostFailed, refused
from outreach.social.post import Attachment

DEFAULT_LIMIT = 500
"""Mastodon's own default, used only when the instance does not state a limit."""


class MastodonPoster:
    """One logged-in client for one release's posts (the token stays inside it)."""

    network = "mastodon"

    def __init__(self, settings: SocialSettings, token: str) -> None:
        from mastodon import Mastodon

        self._settings = settings
        self._client = Mastodon(
            access_token=token,
            api_base_url=settings.mastodon_instance,
            ratelimit_method="wait",
            request_timeout=settings.timeout_seconds,
            version_check_mode="none",
        )

    def _call(self, what: str, call: Any) -> Any:
        from mastodon.errors import (
            MastodonAPIError,
            MastodonNetworkError,
            MastodonServerError,
            MastodonUnauthorizedError,
        )

        attempts = self._settings.attempts
        for attempt in range(1, attempts + 1):
            try:
                return call()
            except MastodonUnauthorizedError as exc:
                raise refused(self.network, 401) from exc
            except (MastodonNetworkError, MastodonServerError) as exc:
                if attempt == attempts:
                    raise SocialPostFailed(
                        f"mastodon: {what} failed after {attempts} tries ({type(exc).__name__}); "
                        "release again to resume (nothing is posted twice)"
                    ) from exc
                time.sleep(min(2 ** (attempt - 1) * 0.1, 5))
            except MastodonAPIError as exc:
                status = exc.args[1] if len(exc.args) > 1 else "?"
                if status == 403:
                    raise refused(self.network, 403) from exc
                raise SocialPostFailed(f"mastodon: {what} was refused ({status})") from exc
        raise AssertionError("unreachable")

    def check(self) -> str:
        account = self._call("checking the account", self._client.account_verify_credentials)
        return f"mastodon: @{account['acct']} on {self._settings.mastodon_instance}"

    def limit(self) -> int:
        """The instance's character limit, as it states it."""
        instance = self._call("reading the instance", self._client.instance_v1)
        statuses = (instance.get("configuration") or {}).get("statuses") or {}
        return int(
            statuses.get("max_characters") or instance.get("max_toot_chars") or DEFAULT_LIMIT
        )

    def upload(self, image: bytes, mime_type: str, description: str) -> str:
        media = self._call(
            "uploading the image",
            lambda: self._client.media_post(image, mime_type=mime_type, description=description),
        )
        return str(media["id"])

    def post(
        self,
        text: str,
        key: str,
        part: int,
        parent: str | None,
        root: str | None,
        attachment: Attachment,
    ) -> tuple[str, str]:
        """The first part carries the share image with its description."""
        media = (
            [self.upload(attachment.image, attachment.mime_type, attachment.alt)]
            if part == 0
            else []
        )
        status = self._call(
            "posting",
            lambda: self._client.status_post(
                text,
                in_reply_to_id=parent,
                media_ids=media or None,
                visibility=self._settings.mastodon_visibility,
                idempotency_key=key,
            ),
        )
        return str(status["id"]), str(status.get("url") or status.get("uri") or "")
