"""Signed link tokens for confirm, preferences and unsubscribe links, and for form (CSRF) tokens.

A token carries its purpose, the time it was issued and a subject (the address; a random
nonce for forms), signed with HMAC-SHA256 under the link secret (``OUTREACH_LINK_SECRET``,
or one made once in the state folder). A forged or altered token fails verification, a token
for one purpose cannot be used for another, and the token must be exactly what we wrote:
trailing junk or a second spelling of the same bytes is refused.

Confirm and form tokens expire (``MAX_AGE``), so an old confirmation link cannot undo a
later unsubscribe. Unsubscribe and preferences links in sent newsletters stay valid (people
unsubscribe from old mail), and tokens made without an issue time (links in newsletters
sent before issue times existed) are still read for those two purposes only.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from outreach.errors import OutreachError

Purpose = Literal[
    "confirm", "preferences", "unsubscribe", "form", "opt-out", "event-confirm", "event-cancel"
]
"""``opt-out``: the link in a pitch that stops pitches to that journalist (never expires).
``event-confirm`` and ``event-cancel``: an event registration's links; their subject is
``<event id>|<address>`` (``outreach.events.links``)."""

MAX_AGE: dict[str, timedelta] = {
    "confirm": timedelta(days=3),
    "form": timedelta(days=1),
    "event-confirm": timedelta(days=3),
}
"""Purposes whose tokens expire; a token of these purposes must carry its issue time."""

_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class BadToken(OutreachError, ValueError):
    """The token was not made by us, was altered, has expired, or is for another purpose."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict: only the canonical unpadded spelling decodes (no ignored characters or bits)."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadToken("malformed token") from None
    if _b64(data) != text:
        raise BadToken("malformed token")
    return data


def _signature(secret: bytes, payload: bytes) -> bytes:
    # hmac.digest: OpenSSL's one-shot HMAC, a fraction of an hmac.new object's cost (every
    # newsletter copy signs two links).
    return hmac.digest(secret, payload, "sha256")[:20]


def make_token(secret: bytes, purpose: Purpose, email: str, issued: datetime | None = None) -> str:
    """A token for ``email`` (or any subject); ``issued`` is required for expiring purposes."""
    if issued is None and purpose in MAX_AGE:
        raise ValueError(f"{purpose} tokens expire, so they need an issue time")
    stamp = "" if issued is None else f"{int(issued.timestamp())}:"
    payload = f"{purpose}:{stamp}{email}".encode()
    return f"{_b64(payload)}.{_b64(_signature(secret, payload))}"


def read_token_issued(
    secret: bytes, purpose: Purpose, token: str, now: datetime | None = None
) -> tuple[str, datetime | None]:
    """The subject a valid token was made for and when it was issued; BadToken otherwise.

    ``now`` is required to read expiring purposes (the app's clock, so tests can set it).
    """
    if not _TOKEN.fullmatch(token):
        raise BadToken("malformed token")
    payload_text, signature_text = token.split(".")
    payload, signature = _unb64(payload_text), _unb64(signature_text)
    if not hmac.compare_digest(signature, _signature(secret, payload)):
        raise BadToken("signature does not match")
    try:
        found_purpose, _, rest = payload.decode("utf-8").partition(":")
    except UnicodeDecodeError:
        raise BadToken("malformed token") from None
    if found_purpose != purpose:
        raise BadToken(f"token is for '{found_purpose}', not '{purpose}'")
    stamp, colon, subject = rest.partition(":")
    issued = None
    if colon and stamp.isascii() and stamp.isdigit():  # addresses never contain ':'
        issued = datetime.fromtimestamp(int(stamp), UTC)
    else:
        subject = rest
    if not subject:
        raise BadToken("token names no address")
    limit = MAX_AGE.get(purpose)
    if limit is not None:
        if issued is None or now is None:
            raise BadToken(f"{purpose} token has no issue time")
        if now - issued > limit:
            raise BadToken(f"{purpose} token expired")
        if issued - now > timedelta(minutes=5):
            raise BadToken(f"{purpose} token is from the future")
    return subject, issued


def read_token(secret: bytes, purpose: Purpose, token: str, now: datetime | None = None) -> str:
    """The address a valid token was made for; BadToken otherwise."""
    return read_token_issued(secret, purpose, token, now)[0]
