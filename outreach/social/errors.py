"""The social networks' failures, as the one error family the CLI reports."""

from __future__ import annotations

from outreach.errors import PlatformError, PlatformUnavailable


class SocialRefused(PlatformUnavailable):
    """The network refused the credentials (401/403): nothing more is posted until the
    named setting is fixed."""


class SocialPostFailed(PlatformError):
    """A post failed after its tries (the network kept failing); a re-run resumes: what was
    posted is in the ledger and each post carries a key that makes a repeat the same post."""


CREDENTIAL_HINTS = {
    "bluesky": (
        "set social.bluesky_handle in outreach.toml and an app password in "
        "OUTREACH_BLUESKY_APP_PASSWORD (or the Prefect Secret block "
        "'outreach-bluesky-app-password'; Bluesky: Settings > Privacy and security > App passwords)"
    ),
    "mastodon": (
        "set social.mastodon_instance in outreach.toml and an access token with the "
        "write:statuses and write:media scopes in OUTREACH_MASTODON_ACCESS_TOKEN (or the Prefect "
        "Secret block 'outreach-mastodon-access-token'; Mastodon: Preferences > Development)"
    ),
}


def refused(network: str, status: int | str) -> SocialRefused:
    return SocialRefused(
        f"{network} refused the credentials ({status}): {CREDENTIAL_HINTS[network]}"
    )
