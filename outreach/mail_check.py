"""The mail part of ``outreach platforms check``: the configured transport reached as a send
would reach it (SMTP: connect, TLS, login, NOOP; nothing sent), and DKIM: the private key the
newsletter signs with is there, is an RSA key, and verifies its own signature against the TXT
record made from its public key (no DNS lookup: the record to publish is printed, so the team
compares it with the one in their DNS).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from outreach.config import Settings
from outreach.errors import OutreachError
from outreach.secrets_store import DKIM_KEY_VARIABLE, dkim_key

KEY_FIX = (
    f"put the PEM private key in {DKIM_KEY_VARIABLE} or in the file newsletter.dkim_key_file "
    "(e.g. 'openssl genrsa 2048')"
)


class DkimProblem(OutreachError):
    """DKIM is configured but cannot sign: the key is missing, unreadable or not a key."""


@dataclass(frozen=True)
class DkimStatus:
    domain: str
    selector: str
    record: str
    """The TXT record to publish at ``<selector>._domainkey.<domain>``."""

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


def public_record(private_key: bytes) -> str:
    """The DKIM TXT record of the key's public half (RFC 6376)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(private_key, password=None)
    except (ValueError, TypeError) as exc:
        raise DkimProblem(f"the DKIM private key cannot be read ({exc}): {KEY_FIX}") from None
    if not isinstance(key, rsa.RSAPrivateKey):  # the newsletter signs rsa-sha256
        raise DkimProblem(f"the DKIM key is a {type(key).__name__}, not RSA: {KEY_FIX}")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def check_dkim(settings: Settings) -> DkimStatus | None:
    """None when the newsletter does not sign (no ``dkim_domain``/``dkim_selector``); else
    the record to publish, once a message signed with the key verifies against it."""
    import dkim

    from outreach.mail import dkim_sign

    config = settings.newsletter
    if not (config.dkim_domain and config.dkim_selector):
        return None
    try:
        private_key = dkim_key(settings)
    except OSError as exc:
        raise DkimProblem(
            f"newsletter.dkim_key_file cannot be read ({exc.strerror or exc}): {KEY_FIX}"
        ) from None
    if not private_key:
        raise DkimProblem(
            f"newsletter.dkim_domain and dkim_selector are set but there is no key: {KEY_FIX}"
        )
    record = public_record(private_key)
    sample = (
        f"From: {config.from_email}\r\nTo: check@example.org\r\nSubject: DKIM check\r\n"
        "\r\nA message signed only to check the key.\r\n"
    ).encode()
    signed = dkim_sign(sample, config.dkim_domain, config.dkim_selector, private_key)
    if not dkim.verify(signed, dnsfunc=lambda name, timeout=5: record.encode()):
        raise DkimProblem(f"a message signed with the DKIM key does not verify: {KEY_FIX}")
    return DkimStatus(config.dkim_domain, config.dkim_selector, record)


def mail_checks(settings: Settings) -> list[tuple[bool, str]]:
    """(works, what was found) for the mail transport and for DKIM, in the words the command
    prints; never the password."""
    from outreach.mail_transport import mail_transport

    lines: list[tuple[bool, str]] = []
    try:
        with mail_transport(settings) as transport:
            lines.append((True, f"mail ({transport.name}): {transport.check()}"))
    except OutreachError as exc:
        lines.append((False, f"mail ({settings.mail.platform}): {exc}"))
    try:
        status = check_dkim(settings)
    except DkimProblem as exc:
        lines.append((False, f"dkim: {exc}"))
    else:
        lines.append(
            (True, "dkim: not configured (newsletter.dkim_domain, dkim_selector): unsigned")
            if status is None
            else (
                True,
                f"dkim: the key signs and its signature verifies; the TXT record at "
                f"{status.name} must read: {status.record}",
            )
        )
    return lines
