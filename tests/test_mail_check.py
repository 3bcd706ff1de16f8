"""``outreach platforms check`` covers mail: a real SMTP server with AUTH (aiosmtpd on loopback)
takes the login and a NOOP, a wrong password is named as such without being shown, and the
DKIM key's printed TXT record verifies what the newsletter signs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from conftest import NOW, free_port
from outreach.config import load_settings
from outreach.newsletter import finding_issue, newsletter_message, render_issue
from outreach.release import load_catalog
from outreach.subscribers import SubscriberStore
from outreach_cli.main import app
from smtp_tools import Inbox

USER, PASSWORD = "newsletter", "right-secret-4821"


class Relay(Inbox):
    """The test SMTP server, counting the NOOPs it answers."""

    noops = 0

    async def handle_NOOP(self, server, session, envelope, arg):  # type: ignore[no-untyped-def]
        self.noops += 1
        return "250 OK"


def only_the_right_password(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@contextmanager
def relay_with_auth() -> Iterator[Relay]:
    port = free_port()
    handler = Relay("127.0.0.1", port)
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=only_the_right_password,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


def use_relay(monkeypatch: pytest.MonkeyPatch, relay: Relay, password: str) -> None:
    for name, value in {
        "OUTREACH_MAIL__PLATFORM": "smtp",
        "OUTREACH_MAIL__SMTP_HOST": relay.host,
        "OUTREACH_MAIL__SMTP_PORT": str(relay.port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
        "OUTREACH_MAIL__SMTP_USERNAME": USER,
        "OUTREACH_SMTP_PASSWORD": password,
    }.items():
        monkeypatch.setenv(name, value)


def check(project: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["platforms", "check", "--config", str(project / "outreach.toml")]
    )
    return result.exit_code, result.output


def test_platforms_check_logs_in_to_the_mail_server_and_sends_nothing(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with relay_with_auth() as relay:
        use_relay(monkeypatch, relay, PASSWORD)
        code, output = check(sample_project)
    assert code == 0, output
    assert (
        f"ok  mail (smtp): 127.0.0.1:{relay.port} (none): logged in as {USER}, NOOP 250" in output
    )
    assert relay.noops == 1 and relay.accepted == [], "a NOOP, and no message"
    assert PASSWORD not in output


def test_platforms_check_names_a_refused_mail_login_and_fails(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with relay_with_auth() as relay:
        use_relay(monkeypatch, relay, "wrong-secret-7310")
        code, output = check(sample_project)
    assert code == 1, output
    line = next(line for line in output.splitlines() if line.startswith("FAIL mail (smtp)"))
    assert f"the mail server 127.0.0.1:{relay.port} refused the login (535" in line
    assert "OUTREACH_SMTP_PASSWORD" in line, "the line names the setting to fix"
    assert "wrong-secret-7310" not in output and PASSWORD not in output
    assert "ok  static" in output, "the other platforms are still listed"


def rsa_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def test_platforms_check_prints_the_dkim_record_that_verifies_the_newsletter(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = sample_project / "dkim.pem"
    key_file.write_bytes(rsa_key_pem())
    monkeypatch.setenv("OUTREACH_NEWSLETTER__DKIM_DOMAIN", "example.org")
    monkeypatch.setenv("OUTREACH_NEWSLETTER__DKIM_SELECTOR", "news")
    monkeypatch.setenv("OUTREACH_NEWSLETTER__DKIM_KEY_FILE", str(key_file))
    code, output = check(sample_project)
    assert code == 0, output
    line = next(line for line in output.splitlines() if line.startswith("ok  dkim"))
    assert "news._domainkey.example.org" in line
    record = line.split("must read: ", 1)[1].strip()
    assert record.startswith("v=DKIM1; k=rsa; p=")
    base64.b64decode(record.split("p=", 1)[1], validate=True)
    assert "PRIVATE KEY" not in output

    # The printed record verifies a real newsletter signed with the key (DNS-less).
    settings = load_settings(sample_project / "outreach.toml")
    store = SubscriberStore(settings.paths.subscribers)
    store.sign_up("reader@example.org", "Reader", ("food-agriculture",), "test", NOW)
    finding = load_catalog(settings)["farm-gate-to-fob"]
    raw = newsletter_message(
        render_issue(finding_issue(finding), settings),
        store.get("reader@example.org"),
        settings,
        b"secret",
        NOW,
        key_file.read_bytes(),
    )
    assert message_from_bytes(raw, policy=policy.default)["DKIM-Signature"]
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record.encode())

    key_file.write_text("not a key")
    code, output = check(sample_project)
    assert code == 1
    assert "FAIL dkim: the DKIM private key cannot be read" in output
    assert "newsletter.dkim_key_file" in output


def test_platforms_check_fails_when_dkim_is_on_without_a_key(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_NEWSLETTER__DKIM_DOMAIN", "example.org")
    monkeypatch.setenv("OUTREACH_NEWSLETTER__DKIM_SELECTOR", "news")
    monkeypatch.delenv("OUTREACH_DKIM_PRIVATE_KEY", raising=False)
    code, output = check(sample_project)
    assert code == 1, output
    assert "FAIL dkim: newsletter.dkim_domain and dkim_selector are set but there is no key" in (
        output
    )
