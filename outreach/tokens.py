"""Signed link tokens for confirm, preferences and unsubscribe links.

A token carries its purpose and the address, signed with HMAC-SHA256 under the link secret
(``OUTREACH_LINK_SECRET``, or one made once in the state folder). A forged or altered token
fails verification; a token for one purpose cannot be used for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

Purpose = Literal["confirm", "preferences", "unsubscribe"]


class BadToken(ValueError):
    """The token was not made by us, was altered, or is for another purpose."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: bytes, purpose: Purpose, email: str) -> str:
    payload = f"{purpose}:{email}".encode()
    signature = hmac.new(secret, payload, hashlib.sha256).digest()[:20]
    return f"{_b64(payload)}.{_b64(signature)}"


def read_token(secret: bytes, purpose: Purpose, token: str) -> str:
    """The address a valid token was made for; BadToken otherwise."""
    try:
        payload_text, signature_text = token.split(".", 1)
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except ValueError:
        raise BadToken("malformed token") from None
    expected = hmac.new(secret, payload, hashlib.sha256).digest()[:20]
    if not hmac.compare_digest(signature, expected):
        raise BadToken("signature does not match")
    found_purpose, _, email = payload.decode("utf-8", "replace").partition(":")
    if found_purpose != purpose or not email:
        raise BadToken(f"token is for '{found_purpose}', not '{purpose}'")
    return email
