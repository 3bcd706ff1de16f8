"""The networks as platforms: a release checks the credentials before anything is pushed;
the posts themselves are the social channel's after-publish actions (no files)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

from outreach.config import Settings
from outreach.errors import PlatformUnavailable
from outreach.ledger import Ledger
from outreach.secrets_store import PLATFORM_PASSWORD_VARIABLES, platform_password
from outreach.social.errors import CREDENTIAL_HINTS
from outreach.social.post import Poster
from outreach.vocabulary import Batch, Receipt

SETTINGS_NEEDED = {"bluesky": "bluesky_handle", "mastodon": "mastodon_instance"}


def poster_for(settings: Settings, network: str, secret: str | None = None) -> Poster:
    """A logged-in client for ``network``; raises PlatformUnavailable naming what to set."""
    setting = SETTINGS_NEEDED[network]
    credential = secret or platform_password(network)
    if not getattr(settings.social, setting) or not credential:
        missing = (
            f"social.{setting}"
            if not getattr(settings.social, setting)
            else (PLATFORM_PASSWORD_VARIABLES[network])
        )
        raise PlatformUnavailable(
            f"platform '{network}' needs {missing}: {CREDENTIAL_HINTS[network]}"
        )
    if network == "mastodon":
        from outreach.social.mastodon_client import MastodonPoster

        return MastodonPoster(settings.social, credential)
    from outreach.social.bluesky_client import BlueskyPoster

    return BlueskyPoster(settings.social, credential)


class SocialNetwork:
    """A network as a platform: no files; ``check`` logs in (the credential stays inside)."""

    takes_files: ClassVar[bool] = False

    def __init__(self, settings: Settings, name: str, secret: str | None) -> None:
        self.name = name  # type: ignore[misc]
        self._settings = settings
        self._secret = secret

    def __repr__(self) -> str:
        return f"SocialNetwork({self.name!r})"

    def publish(
        self, batch: Batch, ledger: Ledger, now: datetime, dry_run: bool = False
    ) -> list[Receipt]:
        return []

    def check(self) -> str:
        return poster_for(self._settings, self.name, self._secret).check()

    def holds(self, marks: Mapping[str, str | None]) -> bool:
        return True


def social_platform(
    settings: Settings, name: str, secret: str | None, need_secrets: bool
) -> SocialNetwork:
    setting = SETTINGS_NEEDED[name]
    if not getattr(settings.social, setting):
        raise PlatformUnavailable(
            f"platform '{name}' needs social.{setting} in outreach.toml: {CREDENTIAL_HINTS[name]}"
        )
    if need_secrets and not secret:
        raise PlatformUnavailable(f"platform '{name}' has no credential: {CREDENTIAL_HINTS[name]}")
    return SocialNetwork(settings, name, secret)
