"""Which platform a configured name means, built from settings and secrets, and checked.

Secrets (the WordPress application password) come from the mapping the caller passes (the
flow fills it from Prefect blocks) or from the environment (read by ``outreach.secrets_store``);
they are handed to the platform and never logged or shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from outreach.config import PLATFORM_NAMES, Settings
from outreach.platforms.base import Platform, PlatformUnavailable
from outreach.platforms.objectstore import ObjectStore, s3_client
from outreach.platforms.static import StaticSite
from outreach.secrets_store import PLATFORM_PASSWORD_VARIABLES, platform_password

KNOWN = PLATFORM_NAMES
WORDPRESS_PASSWORD_VARIABLE = PLATFORM_PASSWORD_VARIABLES["wordpress"]
WORDPRESS_PASSWORD_BLOCK = "outreach-wordpress-app-password"
"""The Prefect Secret block the flows read the application password from, when it exists."""
SECRET_BLOCKS = {
    "wordpress": WORDPRESS_PASSWORD_BLOCK,
    "bluesky": "outreach-bluesky-app-password",
    "mastodon": "outreach-mastodon-access-token",
}
"""Platform name -> the Prefect Secret block holding its credential (read by the flows)."""


def make_platform(
    settings: Settings,
    name: str,
    secrets: Mapping[str, str] | None = None,
    *,
    need_secrets: bool = True,
    throttle: Callable[[], None] | None = None,
) -> Platform:
    """The platform called ``name``; raises PlatformUnavailable naming the setting to fix.

    ``need_secrets=False`` builds it without credentials, for checks made before the flow has
    read its secret blocks. ``throttle`` is called before each request to a remote API
    (WordPress), for rate limits shared between workers.
    """
    if name == StaticSite.name:
        return StaticSite(settings.paths.public, settings.site.base_url)
    if name == ObjectStore.name:
        storage = settings.storage
        if not storage.bucket:
            raise PlatformUnavailable(
                "platform 's3' needs storage.bucket in outreach.toml (or OUTREACH_STORAGE__BUCKET)"
            )
        return ObjectStore(
            s3_client(storage.endpoint_url, storage.region, storage.attempts),
            storage.bucket,
            storage.prefix,
            storage.public_base_url or settings.site.base_url,
        )
    if name == "wordpress":
        from outreach.platforms.wordpress import wordpress_platform

        wordpress = settings.wordpress
        missing = [key for key in ("url", "username") if not getattr(wordpress, key)]
        if missing:
            raise PlatformUnavailable(
                "platform 'wordpress' needs "
                + " and ".join(f"wordpress.{key}" for key in missing)
                + " in outreach.toml (or "
                + ", ".join(f"OUTREACH_WORDPRESS__{key.upper()}" for key in missing)
                + ")"
            )
        password = platform_password(name, secrets)
        if not password and need_secrets:
            raise PlatformUnavailable(
                "platform 'wordpress' has no application password: set "
                f"{WORDPRESS_PASSWORD_VARIABLE} or create the Prefect Secret block "
                f"'{WORDPRESS_PASSWORD_BLOCK}' (WordPress: "
                "Users > Profile > Application Passwords)"
            )
        return wordpress_platform(wordpress, password, throttle)
    if name in ("bluesky", "mastodon"):
        from outreach.social.platform import social_platform

        return social_platform(settings, name, platform_password(name, secrets), need_secrets)
    raise PlatformUnavailable(
        f"unknown platform '{name}' in the configuration's channel platforms; "
        f"known: {', '.join(KNOWN)}"
    )


def configured_platforms(settings: Settings, channels: list[str]) -> list[str]:
    """Platform names the channels push to, in first-mention order."""
    names: dict[str, None] = {}
    for channel in channels:
        for name in settings.channel(channel).platforms:
            names[name] = None
    return list(names)


def takes_files(name: str) -> bool:
    """Whether the platform called ``name`` takes any channel's files (a file host does; a
    platform of posts takes only the channel that accepts it by name). Unknown: True, so
    ``make_platform`` names the problem."""
    if name in ("bluesky", "mastodon"):
        return False  # posts come from the social channel's actions, not files
    if name == "wordpress":
        from outreach.platforms.wordpress import WordPress

        return WordPress.takes_files
    return True
