"""The one place the core reads secrets: the environment first, then the state folder or the
file the configuration names.

Rendering never calls this module: the release reads what it needs before rendering and
passes it in, and the flows resolve Prefect Secret blocks and pass those values in too
(``given``), so a block wins over the environment. Signing keys (the press kits' and the
links') are made once when unset, in the state folder (mode 0600, git-ignored with it), so
embedded defaults run with no setup while production sets the variable.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from outreach.config import Settings
from outreach.errors import OutreachError
from outreach.files import private_folder

PRESS_SECRET_VARIABLE = "OUTREACH_PRESS_SECRET"
LINK_SECRET_VARIABLE = "OUTREACH_LINK_SECRET"
RECIPIENT_KEY_VARIABLE = "OUTREACH_RECIPIENT_KEY"
DKIM_KEY_VARIABLE = "OUTREACH_DKIM_PRIVATE_KEY"
SMTP_PASSWORD_VARIABLE = "OUTREACH_SMTP_PASSWORD"
REPORTS_TOKEN_VARIABLE = "OUTREACH_REPORTS_TOKEN"
PLATFORM_PASSWORD_VARIABLES = {
    "wordpress": "OUTREACH_WORDPRESS_APP_PASSWORD",
    "bluesky": "OUTREACH_BLUESKY_APP_PASSWORD",
    "mastodon": "OUTREACH_MASTODON_ACCESS_TOKEN",
}
"""Platform name -> the variable holding its credential."""


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def press_secret(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes:
    """The key of the press kits' unguessable addresses."""
    return stable_secret(
        settings.paths.state,
        "press-secret",
        PRESS_SECRET_VARIABLE,
        environ,
        shared=settings.state.stateless,
    )


def link_secret(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes:
    """The key that signs confirm, preferences, unsubscribe and form tokens."""
    return stable_secret(
        settings.paths.state,
        "link-secret",
        LINK_SECRET_VARIABLE,
        environ,
        shared=settings.state.stateless,
    )


def recipient_key(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes:
    """The key of recipients' opaque ids in the audit log and the suppression list."""
    return stable_secret(
        settings.paths.state,
        "recipient-key",
        RECIPIENT_KEY_VARIABLE,
        environ,
        shared=settings.state.stateless,
    )


def dkim_key(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The DKIM private key from OUTREACH_DKIM_PRIVATE_KEY or newsletter.dkim_key_file."""
    environ = _environ(environ)
    if environ.get(DKIM_KEY_VARIABLE):
        return environ[DKIM_KEY_VARIABLE].encode()
    path = settings.newsletter.dkim_key_file
    return path.read_bytes() if path else None


def reports_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The token a mail service sends to post bounce and complaint reports to the web app
    (the webhook is off without it)."""
    return _environ(environ).get(REPORTS_TOKEN_VARIABLE) or None


def smtp_password(given: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The relay's password: the one given (a Prefect block), else OUTREACH_SMTP_PASSWORD."""
    return given if given is not None else _environ(environ).get(SMTP_PASSWORD_VARIABLE)


def platform_password(
    platform: str,
    given: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """A platform's credential: the one given (a Prefect block), else its variable."""
    variable = PLATFORM_PASSWORD_VARIABLES.get(platform)
    found = (given or {}).get(platform)
    return found or (_environ(environ).get(variable) if variable else None)


def stable_secret(
    state: Path,
    name: str,
    variable: str,
    environ: Mapping[str, str] | None = None,
    shared: bool = False,
) -> bytes:
    """``variable``'s value, else the one kept in ``state/name``, made there on first use.

    ``shared`` (state in PostgreSQL, workers on several machines): the variable is required,
    since a key made on one worker's disk is unknown to the others (their links would not
    verify, their recipient ids would not match the suppression list)."""
    environ = _environ(environ)
    if environ.get(variable):
        return environ[variable].encode()
    if shared:
        raise SecretMissing(
            f"{variable} is not set: with [state] url (workers on several machines) it must be "
            "set to the same value on every worker, since a key made on one worker's disk is "
            f"unknown to the others. Generate one (e.g. 'openssl rand -hex 32') and set "
            f"{variable} everywhere; a single-machine team can copy {state / name}."
        )
    path = state / name
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        private_folder(path.parent)
        value = secrets.token_hex(32).encode()
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_bytes().strip()
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(value)
        return value


STATE_PASSWORD_VARIABLE = "OUTREACH_STATE_PASSWORD"


class SecretMissing(OutreachError):
    """A secret every worker must share is not configured; the message names the variable."""


def state_password(
    given: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The state database's password: the one given (a Prefect Secret block), else
    OUTREACH_STATE_PASSWORD; None lets libpq use ~/.pgpass or trust."""
    return given if given is not None else _environ(environ).get(STATE_PASSWORD_VARIABLE)
