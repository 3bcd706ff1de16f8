"""Newsletter: subscribers, tokens, the email's structure and headers, and sending over real
SMTP (aiosmtpd on loopback): topic matching, exclusions, bounces, retries, rate limit, and a
send killed mid-way that resumes with nobody mailed twice."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from bs4 import BeautifulSoup

from conftest import NOW, REPO, free_port
from outreach.campaign import link_secret, prepare_send, send_all
from outreach.channels.base import RenderError
from outreach.config import Settings, load_settings
from outreach.errors import is_retryable
from outreach.mail_errors import SenderFailure
from outreach.newsletter import digest_issue, finding_issue, newsletter_message, render_issue
from outreach.release import load_catalog
from outreach.sending import SendLog
from outreach.subscribers import SubscriberError, SubscriberStore
from outreach.tokens import BadToken, make_token, read_token
from smtp_tools import Inbox, greeting_server, refuse_every_login, smtp_server

TOPICAL = {
    "food1@example.com": ("food-agriculture",),
    "food2@example.com": ("food-agriculture", "scope-3-climate"),
    "both@example.com": ("food-agriculture", "apparel-textiles", "responsible-sourcing"),
    "cotton@example.com": ("apparel-textiles",),
    "plastic@example.com": ("plastics-packaging",),
}


def settings_for(project: Path, **environ: str) -> Settings:
    return load_settings(project / "outreach.toml", environ=environ)


def subscribe_all(
    settings: Settings, extra: dict[str, tuple[str, ...]] | None = None
) -> SubscriberStore:
    store = SubscriberStore(settings.paths.subscribers)
    for email, topics in {**TOPICAL, **(extra or {})}.items():
        store.sign_up(email, email.split("@")[0].title(), topics, "test", NOW)
        store.confirm(email, NOW)
    store.sign_up("pending@example.com", "Pending", ("food-agriculture",), "test", NOW)
    store.sign_up("left@example.com", "Left", ("food-agriculture",), "test", NOW)
    store.confirm("left@example.com", NOW)
    store.set_status("left@example.com", "unsubscribed", NOW)
    store.sign_up("gone@example.com", "Gone", ("food-agriculture",), "test", NOW)
    store.confirm("gone@example.com", NOW)
    store.set_status("gone@example.com", "bounced", NOW)
    return store


def test_store_normalises_validates_and_keeps_suppressions(tmp_path: Path) -> None:
    store = SubscriberStore(tmp_path / "s.sqlite")
    created = store.sign_up(
        "  Ama@Example.COM ", "Ama\r\nBcc: x", ["food-agriculture"], "form", NOW
    )
    assert created.email == "ama@example.com" and created.status == "pending"
    assert created.name == "Ama Bcc: x"
    with pytest.raises(SubscriberError, match="unknown topic fod"):
        store.sign_up("b@example.com", "B", ["fod"], "form", NOW)
    with pytest.raises(SubscriberError, match="is not an email address"):
        store.sign_up("not-an-email", "B", ["food-agriculture"], "form", NOW)
    assert store.confirm("Ama@example.com", NOW)
    store.set_status("Ama@example.com", "unsubscribed", NOW)
    imported = (
        "email,name,topics,status,consent_at,consent_source\n"
        "Ama@example.com,Ama,food-agriculture,confirmed,2026-01-05T10:00:00+00:00,fair sheet\n"
        "new@example.com,New,scope-3-climate,confirmed,2026-01-05T10:00:00+00:00,fair sheet\n"
    )
    assert store.import_csv(imported, "import", NOW) == 2
    assert store.get("Ama@example.com").status == "unsubscribed", (
        "an import never re-adds someone who left"
    )
    assert [s.email for s in store.recipients({"scope-3-climate"})] == ["new@example.com"]
    exported = store.export_csv().splitlines()
    assert exported[0] == "email,name,topics,status,consent_at,consent_source"
    assert len(exported) == 3
    with pytest.raises(SubscriberError, match=r"row 2: 'x' is not an email address"):
        store.import_csv("email,topics,consent_source\nx,food-agriculture,fair\n", "import", NOW)


def test_tokens_refuse_forgery_alteration_and_other_purposes() -> None:
    token = make_token(b"secret", "unsubscribe", "ama@example.com")
    assert read_token(b"secret", "unsubscribe", token) == "ama@example.com"
    with pytest.raises(BadToken):
        read_token(b"other secret", "unsubscribe", token)
    with pytest.raises(BadToken):
        read_token(b"secret", "preferences", token)
    _payload, signature = token.split(".")
    forged = (
        make_token(b"guess", "unsubscribe", "victim@example.com").split(".")[0] + "." + signature
    )
    with pytest.raises(BadToken):
        read_token(b"secret", "unsubscribe", forged)
    with pytest.raises(BadToken):
        read_token(b"secret", "unsubscribe", "garbage")


def test_email_structure_headers_and_text_part(settings: Settings) -> None:
    catalog = load_catalog(settings)
    rendered = render_issue(finding_issue(catalog["beta-cotton-traceability"]), settings)
    store = subscribe_all(settings)
    raw = newsletter_message(rendered, store.get("both@example.com"), settings, b"secret", NOW)
    message = message_from_bytes(raw, policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    for header in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        assert message[header], header
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = [
        part.strip().strip("<>") for part in str(message["List-Unsubscribe"]).split(",")
    ]
    assert https.startswith("https://findings.example.org/research/newsletter/unsubscribe?token=")
    assert mailto.startswith("mailto:unsubscribe@example.org?subject=unsubscribe")
    token = https.split("token=")[1]
    from urllib.parse import unquote

    assert read_token(b"secret", "unsubscribe", unquote(token)) == "both@example.com"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert len(html.encode()) < 102_000
    soup = BeautifulSoup(html, "html.parser")
    assert all(img.get("alt") for img in soup.find_all("img"))
    assert (
        "Food and agriculture, Apparel and textiles, Responsible sourcing and ethical trade"
        in soup.get_text()
    )
    assert (
        "Traceable cotton lots from farm to spinner (https://findings.example.org/research/blog/beta-cotton-traceability/)"
        in text
    )
    assert (
        "Unsubscribe (https://findings.example.org/research/newsletter/unsubscribe?token=" in text
    )
    assert "%%" not in html and "%%" not in text


def test_dkim_signature_covers_both_unsubscribe_headers(settings: Settings, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = settings.model_copy(
        update={
            "newsletter": settings.newsletter.model_copy(
                update={"dkim_domain": "example.org", "dkim_selector": "news"}
            )
        }
    )
    rendered = render_issue(finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings)
    store = subscribe_all(settings)
    raw = newsletter_message(
        rendered, store.get("food1@example.com"), settings, b"secret", NOW, private
    )
    signature = message_from_bytes(raw, policy=policy.default)["DKIM-Signature"]
    signed = [h.strip().lower() for h in str(signature).split(" h=")[1].split(";")[0].split(":")]
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject"} <= set(signed)
    import base64

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record)


def test_digest_gathers_findings_newest_first(settings: Settings) -> None:
    catalog = load_catalog(settings)
    rendered = render_issue(digest_issue(list(catalog.values()), "This month"), settings)
    titles = [
        a.get_text(strip=True)
        for a in BeautifulSoup(rendered.html, "html.parser").select("a[style^='color:#1b1f23']")
    ]
    assert titles == [
        "Packaging findings under embargo",
        "Traceable cotton lots from farm to spinner",
        'Cocoa prices & <script>alert("title")</script> farm incomes',
    ]
    assert "<script>" not in rendered.html


def smtp_env(inbox: Inbox, rate: float = 500, connections: int = 2) -> dict[str, str]:
    return {
        "OUTREACH_MAIL__PLATFORM": "smtp",
        "OUTREACH_MAIL__SMTP_HOST": inbox.host,
        "OUTREACH_MAIL__SMTP_PORT": str(inbox.port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
        "OUTREACH_NEWSLETTER__RATE_PER_SECOND": str(rate),
        "OUTREACH_NEWSLETTER__CONNECTIONS": str(connections),
    }


def test_each_matching_confirmed_subscriber_gets_one_email(project: Path, inbox: Inbox) -> None:
    settings = settings_for(project, **smtp_env(inbox))
    subscribe_all(settings)
    issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
    prepared = prepare_send(issue, settings, NOW)
    report = send_all(prepared, settings, NOW)
    received = sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts)
    assert received == ["both@example.com", "food1@example.com", "food2@example.com"]
    assert report.sent == 3
    for _, rcpts, raw in inbox.accepted:
        assert (
            message_from_bytes(raw, policy=policy.default)["To"].addresses[0].addr_spec == rcpts[0]
        )
    again = prepare_send(issue, settings, NOW)
    assert again.pending_count == 0 and not again.newly_frozen
    assert send_all(again, settings, NOW).sent == 0
    assert len(inbox.accepted) == 3


def test_bounces_are_suppressed_and_transient_errors_retried(project: Path, inbox: Inbox) -> None:
    settings = settings_for(project, **smtp_env(inbox))
    store = subscribe_all(settings)
    inbox.refuse["food2@example.com"] = "550 5.1.1 no such user"
    inbox.defer_once.add("food1@example.com")
    issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
    prepared = prepare_send(issue, settings, NOW)
    report = send_all(prepared, settings, NOW)
    assert report.bounced == ["food2@example.com"]
    assert sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts) == [
        "both@example.com",
        "food1@example.com",
    ]
    assert store.get("food2@example.com").status == "bounced"
    assert "food2@example.com" not in [s.email for s in store.recipients({"food-agriculture"})]
    counts = SendLog(settings.paths.ledger).counts(prepared.send_id)
    assert (counts.sent, counts.bounced, counts.pending) == (2, 1, 0)


def test_rate_limit_holds_across_connections(project: Path, inbox: Inbox) -> None:
    rate = 20.0
    extra = {f"reader{n:02d}@example.com": ("food-agriculture",) for n in range(27)}
    settings = settings_for(project, **smtp_env(inbox, rate=rate, connections=3))
    subscribe_all(settings, extra)
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    send_all(prepared, settings, NOW)
    times = sorted(t for t, _, _ in inbox.accepted)
    assert len(times) == 30
    window = 10
    for start in range(len(times) - window):
        span = times[start + window] - times[start]
        assert span >= (window - 1) / rate, f"{window + 1} messages within {span:.3f} s"


def test_a_send_reuses_its_configured_connections_for_every_message(
    project: Path, inbox: Inbox
) -> None:
    """30 messages over ``newsletter.connections`` = 3: at most three SMTP sessions, each
    carrying many messages (the transport's pool, not a connection per message)."""
    extra = {f"reader{n:02d}@example.com": ("food-agriculture",) for n in range(27)}
    settings = settings_for(project, **smtp_env(inbox, rate=1000, connections=3))
    subscribe_all(settings, extra)
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    assert send_all(prepared, settings, NOW).sent == 30
    assert len(inbox.accepted) == 30
    assert 1 <= len(set(inbox.peers)) <= 3


def test_a_send_of_many_batches_rides_one_set_of_connections(project: Path, inbox: Inbox) -> None:
    """30 messages in batches of 10 over ``newsletter.connections`` = 2: the connections
    carry the whole send (at most two SMTP sessions), not two new ones per batch."""
    extra = {f"reader{n:02d}@example.com": ("food-agriculture",) for n in range(27)}
    environ = {**smtp_env(inbox, rate=1000, connections=2), "OUTREACH_NEWSLETTER__BATCH_SIZE": "10"}
    settings = settings_for(project, **environ)
    subscribe_all(settings, extra)
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    assert send_all(prepared, settings, NOW).sent == 30
    assert len(inbox.accepted) == 30
    assert 1 <= len(set(inbox.peers)) <= 2


def test_the_smtp_password_is_never_shown_by_the_transport(project: Path) -> None:
    from outreach.mail_transport import mail_transport

    settings = settings_for(project, OUTREACH_MAIL__PLATFORM="smtp")
    with mail_transport(settings, password="pw-secret-4711") as transport:
        shown = repr(transport.target) + repr(vars(transport))
    assert transport.name == "smtp" and transport.target.password == "pw-secret-4711"
    assert "pw-secret-4711" not in shown


def test_shared_relay_limits_are_taken_only_when_an_smtp_connection_opens(
    project: Path, inbox: Inbox
) -> None:
    """A scheduler's hooks (shared connection slots, rate limit, password block) are handed
    to the transport as they are: SMTP takes its slots before its first connection and gives
    them back when it closes; the outbox never calls a hook, so no caller tests the platform."""
    import contextlib

    from outreach.mail_transport import RelayHooks, mail_transport

    calls: list[str] = []

    @contextlib.contextmanager
    def slots(count: int):
        calls.append(f"take {count} with {len(inbox.peers)} connections open")
        yield
        calls.append("give back")

    def throttle() -> None:
        calls.append("pace")

    def password() -> str:
        calls.append("password")
        return "pw-from-block"

    relay = RelayHooks(slots=slots, throttle=throttle, password=password)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.com", "Hi"
    message.set_content("Hello")

    outbox = settings_for(project)
    with mail_transport(outbox, relay=relay) as transport:
        assert transport.send(message, "b@example.com", "t:x:b@example.com").sent
    assert calls == [], "the outbox sends nothing through the relay"

    settings = settings_for(project, **smtp_env(inbox, connections=2))
    with mail_transport(settings, relay=relay, connections=2) as transport:
        assert calls == ["password"], "no slot before a connection is needed"
        assert transport.target.password == "pw-from-block"
        for _ in range(3):
            assert transport.send(message, "b@example.com", "t:x:b@example.com").sent
        assert calls[1:] == ["take 2 with 0 connections open", "pace", "pace", "pace"]
    assert calls[-1] == "give back" and len(inbox.accepted) == 3


def test_only_the_mail_transport_talks_smtp() -> None:
    """Pitches, newsletters and confirmations share one transport: no other core module
    opens an SMTP connection of its own (mail_errors only reads smtplib's exceptions)."""
    import ast

    allowed = {"mail_transport.py", "mail_errors.py"}
    talking = []
    for path in sorted((REPO / "outreach").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if "smtplib" in names and path.name not in allowed:
                talking.append(str(path.relative_to(REPO)))
    assert talking == []


SENDER_SCRIPT = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from outreach.campaign import prepare_send, send_all
    from outreach.config import load_settings
    from outreach.newsletter import finding_issue
    from outreach.release import load_catalog
    settings = load_settings(Path(sys.argv[1]))
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    prepared = prepare_send(finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, now)
    print("frozen", prepared.pending_count, flush=True)
    send_all(prepared, settings, now)
""")


def test_a_killed_send_resumes_with_no_duplicate_and_no_miss(project: Path, inbox: Inbox) -> None:
    extra = {f"reader{n:02d}@example.com": ("food-agriculture",) for n in range(20)}
    environ = smtp_env(inbox, rate=200, connections=1)
    settings = settings_for(project, **environ)
    subscribe_all(settings, extra)
    script = project / "send.py"
    script.write_text(SENDER_SCRIPT)
    env = {**os.environ, **environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(project / "outreach.toml")],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    inbox.kill_pid, inbox.kill_at = process.pid, 9
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, "the sender was killed mid-send"
    first_run = [r for _, rcpts, _ in inbox.accepted for r in rcpts]
    assert len(first_run) == 8
    log = SendLog(settings.paths.ledger)
    send_id = "newsletter:alpha-cocoa-prices"
    assert log.counts(send_id).sent == 8

    # Someone subscribes after the send started: recipients were frozen, so they are not added.
    SubscriberStore(settings.paths.subscribers).sign_up(
        "late@example.com", "Late", ("food-agriculture",), "form", NOW
    )
    SubscriberStore(settings.paths.subscribers).confirm("late@example.com", NOW)
    inbox.kill_at = None
    resumed = subprocess.run(
        [sys.executable, str(script), str(project / "outreach.toml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    everyone = sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts)
    expected = sorted([*TOPICAL_FOOD, *extra])
    assert everyone == expected, "every address exactly once"
    assert log.counts(send_id).pending == 0


TOPICAL_FOOD = [e for e, topics in TOPICAL.items() if "food-agriculture" in topics]


def test_outbox_default_sends_nothing_and_writes_files(project: Path) -> None:
    settings = settings_for(project)
    subscribe_all(settings)
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    send_all(prepared, settings, NOW)
    files = sorted(p.name for p in (settings.paths.outbox).rglob("*.eml"))
    assert files == ["both@example.com.eml", "food1@example.com.eml", "food2@example.com.eml"]
    assert link_secret(settings) == link_secret(settings)


@pytest.mark.prefect
def test_flows_send_in_batches_and_the_release_flow_sends_once(
    prefect_api: str,
    project: Path,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    flow_clock: Callable[[datetime], None],
) -> None:
    from prefect.artifacts import Artifact

    from flows.newsletter import send_newsletter
    from flows.release import release_finding

    flow_clock(NOW)
    environ = {**smtp_env(inbox), "OUTREACH_NEWSLETTER__BATCH_SIZE": "2"}
    config = project / "outreach.toml"
    config.write_text(
        config.read_text()
        + "\n[channels.newsletter]\nplatforms = []\n"
        + '\n[approval]\nnewsletter = "auto"\n'  # this test is about sending, not approving
    )
    extra = {f"reader{n}@example.com": ("apparel-textiles",) for n in range(3)}
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    settings = settings_for(project)
    subscribe_all(settings, extra)
    summary = send_newsletter(["beta-cotton-traceability"], config=str(config))
    assert (
        summary
        == "Newsletter 'beta-cotton-traceability': 5 sent, 0 bounced, 0 deferred to a later run, of 5 recipients."
    )
    assert Artifact.get() is not None
    report = release_finding("alpha-cocoa-prices", ["blog", "newsletter"], config=str(config))
    assert (
        "Newsletter 'alpha-cocoa-prices': 3 sent, 0 bounced, 0 deferred to a later run, of 3 recipients."
        in report.notes
    )
    again = release_finding("alpha-cocoa-prices", ["blog", "newsletter"], config=str(config))
    assert (
        "Newsletter 'alpha-cocoa-prices' (resumed): 0 sent, 0 bounced, 0 deferred to a later run, of 3 recipients."
        in again.notes
    )
    embargoed = release_finding(
        "gamma-embargoed-packaging",
        ["newsletter"],
        config=str(config),
        approve_pitches=False,
    )
    assert embargoed.held and not [n for n in embargoed.notes if "gamma" in n and "sent" in n]
    assert len(inbox.accepted) == 8
    monkeypatch.setenv("OUTREACH_MAIL__PLATFORM", "outbox")
    digest = send_newsletter(
        ["alpha-cocoa-prices", "beta-cotton-traceability"],
        digest_title="This month",
        config=str(config),
    )
    assert "digest-alpha-cocoa-prices-beta-cotton-traceability" in digest


def assert_nobody_touched(settings: Settings, store: SubscriberStore, send_id: str) -> None:
    """Every frozen recipient still pending and still confirmed: nobody marked bounced."""
    counts = SendLog(settings.paths.ledger).counts(send_id)
    assert (counts.sent, counts.bounced, counts.pending) == (0, 0, counts.total)
    assert counts.total == 3
    assert {store.get(e).status for e in TOPICAL_FOOD} == {"confirmed"}


def test_refused_smtp_login_stops_the_send_and_bounces_nobody(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_SMTP_PASSWORD", "wrong-secret-123")
    with smtp_server(authenticator=refuse_every_login, auth_require_tls=False) as server:
        settings = settings_for(
            project, **smtp_env(server), OUTREACH_MAIL__SMTP_USERNAME="newsletter"
        )
        store = subscribe_all(settings)
        issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
        prepared = prepare_send(issue, settings, NOW)
        with pytest.raises(SenderFailure) as raised:
            send_all(prepared, settings, NOW)
    message = str(raised.value)
    assert "refused the login (535" in message
    assert "mail.smtp_username" in message and "OUTREACH_SMTP_PASSWORD" in message
    assert "wrong-secret-123" not in message
    assert server.accepted == []
    assert_nobody_touched(settings, store, prepared.send_id)


@pytest.mark.parametrize("greeting", ["554 5.3.2 no service for you", "421 4.3.2 too busy"])
def test_server_refusing_at_greeting_stops_the_send_and_bounces_nobody(
    project: Path, greeting: str
) -> None:
    with greeting_server(greeting) as (host, port):
        inbox = Inbox(host, port)
        settings = settings_for(project, **smtp_env(inbox))
        store = subscribe_all(settings)
        issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
        prepared = prepare_send(issue, settings, NOW)
        with pytest.raises(SenderFailure, match=greeting.split()[0]) as raised:
            send_all(prepared, settings, NOW)
    assert "mail.smtp_host" in str(raised.value)
    assert is_retryable(raised.value) == greeting.startswith("4"), "a 421 may pass later"
    assert_nobody_touched(settings, store, prepared.send_id)


def test_refused_connection_stops_the_send_and_bounces_nobody(project: Path) -> None:
    inbox = Inbox("127.0.0.1", free_port())  # nothing listens there
    settings = settings_for(project, **smtp_env(inbox))
    store = subscribe_all(settings)
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    with pytest.raises(SenderFailure, match=r"cannot be reached .*mail\.smtp_host"):
        send_all(prepared, settings, NOW)
    assert_nobody_touched(settings, store, prepared.send_id)


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_refused_sender_address_stops_the_send_and_bounces_nobody(
    project: Path, inbox: Inbox, pipelining: bool
) -> None:
    """Also over a relay offering PIPELINING, where the refusal arrives with the answers to
    the recipient and DATA sent in the same write."""
    inbox.pipelining = pipelining
    inbox.refuse_sender = "553 5.7.1 sender address rejected: not owned by user"
    settings = settings_for(project, **smtp_env(inbox))
    store = subscribe_all(settings)
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    with pytest.raises(SenderFailure, match=r"refused the sender address .*553 5\.7\.1"):
        send_all(prepared, settings, NOW)
    assert inbox.accepted == []
    assert_nobody_touched(settings, store, prepared.send_id)


def test_a_relay_offering_pipelining_gets_each_envelope_in_one_write_with_every_answer_kept(
    project: Path, inbox: Inbox
) -> None:
    """Over a relay offering PIPELINING, MAIL, RCPT and DATA travel in one write (two round
    trips a message, not four); a refused recipient is still a bounce, a deferred one is
    retried, and the bytes each subscriber receives are their own complete copy."""
    inbox.pipelining = True
    settings = settings_for(project, **smtp_env(inbox))
    store = subscribe_all(settings)
    inbox.refuse["food2@example.com"] = "550 5.1.1 no such user"
    inbox.defer_once.add("food1@example.com")
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    report = send_all(prepared, settings, NOW)
    assert report.bounced == ["food2@example.com"] and report.sent == 2
    assert store.get("food2@example.com").status == "bounced"
    assert sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts) == [
        "both@example.com",
        "food1@example.com",
    ]
    for _, rcpts, raw in inbox.accepted:
        message = message_from_bytes(raw, policy=policy.default)
        assert message["To"].addresses[0].addr_spec == rcpts[0]
        assert message.get_body(("html",)).get_content().rstrip().endswith("</html>")
    assert len(inbox.envelope_reads) >= 4  # both, food1 twice (deferred once), food2
    for pending in inbox.envelope_reads:
        assert pending.startswith(b"RCPT TO:<") and pending.endswith(b"\r\nDATA\r\n"), pending
    counts = SendLog(settings.paths.ledger).counts(prepared.send_id)
    assert (counts.sent, counts.bounced, counts.pending) == (2, 1, 0)


@pytest.mark.parametrize("security", ["none", "starttls"])
def test_over_a_pipelining_relay_each_message_ends_in_the_write_that_starts_the_next(
    project: Path, request: pytest.FixtureRequest, security: str
) -> None:
    """One round trip a message: a message's content and final dot travel with the next
    message's MAIL, RCPT and DATA (RFC 2920), over each of the connections. Every recipient
    still gets exactly one complete copy of their own, and the send log marks each sent; also
    over a relay that requires STARTTLS (the one sending thread waits on the TLS sockets)."""
    inbox: Inbox = request.getfixturevalue("inbox" if security == "none" else "starttls_inbox")
    inbox.pipelining = True
    extra = {f"chain{n:02d}@example.com": ("food-agriculture",) for n in range(24)}
    environ = {
        **smtp_env(inbox, rate=1000, connections=2),
        "OUTREACH_MAIL__SMTP_SECURITY": security,
    }
    settings = settings_for(project, **environ)
    subscribe_all(settings, extra)
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    expected = sorted([*TOPICAL_FOOD, *extra])
    report = send_all(prepared, settings, NOW)
    assert report.sent == len(expected) and not report.bounced and not report.deferred
    assert sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts) == expected
    for _, rcpts, raw in inbox.accepted:
        message = message_from_bytes(raw, policy=policy.default)
        assert message["To"].addresses[0].addr_spec == rcpts[0]
        assert message.get_body(("html",)).get_content().rstrip().endswith("</html>")
    chained = [r for r in inbox.data_reads if r.startswith(b"MAIL FROM:<")]
    # All but each connection's first message (sent singly as the connection opens) and
    # its last (no next envelope to travel with).
    assert len(chained) >= len(expected) - 2 * 2, inbox.data_reads
    assert all(r.endswith(b"\r\nDATA\r\n") for r in chained)
    counts = SendLog(settings.paths.ledger).counts(prepared.send_id)
    assert (counts.sent, counts.bounced, counts.pending) == (len(expected), 0, 0)


def test_without_pipelining_the_connections_still_send_side_by_side(
    project: Path, inbox: Inbox
) -> None:
    """A relay without PIPELINING gets MAIL, RCPT, DATA and the content each after the
    previous answer, and the connections still carry messages at the same time (one thread
    drives them all, writing to whichever has answered). Unpaced (above the 1000 a second
    a file may set, as the bench does), so that the pace never holds a message back."""
    extra = {f"turn{n:02d}@example.com": ("food-agriculture",) for n in range(12)}
    settings = settings_for(project, **smtp_env(inbox, rate=1000, connections=2))
    unpaced = settings.newsletter.model_copy(update={"rate_per_second": 1_000_000.0})
    settings = settings.model_copy(update={"newsletter": unpaced})
    subscribe_all(settings, extra)
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    expected = sorted([*TOPICAL_FOOD, *extra])
    report = send_all(prepared, settings, NOW)
    assert report.sent == len(expected)
    assert sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts) == expected
    assert len(set(inbox.peers)) == 2 and inbox.most_at_once == 2
    counts = SendLog(settings.paths.ledger).counts(prepared.send_id)
    assert (counts.sent, counts.pending) == (len(expected), 0)


def test_an_acceptance_read_with_a_deferral_is_recorded_before_the_retry_waits(
    project: Path, inbox: Inbox
) -> None:
    """The 250 for one message and a 451 for the next message's recipient arrive in the same
    answers: the accepted message is in the send log before the deferred one is tried again
    (after its backoff), so a crash during that wait could not send it twice."""
    inbox.pipelining = True
    settings = settings_for(project, **smtp_env(inbox, rate=1000, connections=1))
    subscribe_all(settings, {"a1@example.com": ("food-agriculture",)})
    inbox.defer_once.add("food1@example.com")  # after a1 (sent alone) and both (chained)
    log = SendLog(settings.paths.ledger)
    pending_at_retry: list[list[str]] = []
    answer = inbox.handle_RCPT

    async def handle_RCPT(server, session, envelope, address, rcpt_options):
        if address == "food1@example.com" and "food1@example.com" not in inbox.defer_once:
            pending_at_retry.append(log.still_pending(send_id, ["both@example.com"]))
        return await answer(server, session, envelope, address, rcpt_options)

    inbox.handle_RCPT = handle_RCPT
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    send_id = prepared.send_id
    report = send_all(prepared, settings, NOW)
    assert report.sent == 4 and not report.deferred
    assert pending_at_retry == [[]], "both@ was recorded sent before food1@ was retried"
    assert sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts) == sorted(
        ["a1@example.com", *TOPICAL_FOOD]
    )


def test_a_sender_refused_mid_send_stops_it_with_every_acceptance_recorded(
    project: Path, inbox: Inbox
) -> None:
    """The relay starts refusing the sender address on one connection of a pipelined send
    while the other still owes the answer to a message it has ended: the send stops with the
    sender's failure after reading that answer, so every message the relay accepted is
    marked sent; nobody is bounced, and the rest stay pending for a re-run."""
    inbox.pipelining = True
    extra = {f"chain{n:02d}@example.com": ("food-agriculture",) for n in range(16)}
    settings = settings_for(project, **smtp_env(inbox, rate=1000, connections=2))
    store = subscribe_all(settings, extra)
    answer_data, answer_mail = inbox.handle_DATA, inbox.handle_MAIL
    held: dict = {}

    async def handle_DATA(server, session, envelope):
        if len(inbox.accepted) == 5 and not held:  # this answer waits for the other's refusal
            held.update(peer=session.peer, rcpt=envelope.rcpt_tos[0], release=asyncio.Event())
            await held["release"].wait()
        return await answer_data(server, session, envelope)

    async def handle_MAIL(server, session, envelope, address, mail_options):
        if held and session.peer != held["peer"]:
            return "553 5.7.1 sender address rejected: not owned by user"
        return await answer_mail(server, session, envelope, address, mail_options)

    async def handle_RSET(server, session, envelope):
        if held and session.peer != held["peer"]:
            held["release"].set()  # the refused connection has reset: answer the other
        return "250 OK"

    inbox.handle_DATA, inbox.handle_MAIL = handle_DATA, handle_MAIL
    inbox.handle_RSET = handle_RSET
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    with pytest.raises(SenderFailure, match=r"refused the sender address"):
        send_all(prepared, settings, NOW)
    accepted = [r for _, rcpts, _ in inbox.accepted for r in rcpts]
    assert held["rcpt"] in accepted and len(set(accepted)) == len(accepted)
    log = SendLog(settings.paths.ledger)
    counts = log.counts(prepared.send_id)
    sent = len(accepted)
    assert (counts.sent, counts.bounced, counts.pending) == (sent, 0, counts.total - sent)
    assert log.still_pending(prepared.send_id, accepted) == [], "the held answer was read"
    assert {store.get(e).status for e in [*TOPICAL_FOOD, *extra]} == {"confirmed"}


def test_a_message_refused_mid_chain_bounces_alone_and_the_next_is_sent_once(
    project: Path, inbox: Inbox
) -> None:
    """A 5xx to a message's final dot arrives with the next message's envelope already
    sent: that message is a bounce, the next one is started afresh (its open envelope is
    never ended by a stray dot), and nobody else is missed or mailed twice."""
    inbox.pipelining = True
    extra = {f"chain{n:02d}@example.com": ("food-agriculture",) for n in range(8)}
    settings = settings_for(project, **smtp_env(inbox, rate=1000, connections=1))
    store = subscribe_all(settings, extra)
    inbox.refuse_data["chain03@example.com"] = "554 5.7.1 message content refused"
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    expected = sorted(e for e in [*TOPICAL_FOOD, *extra] if e != "chain03@example.com")
    report = send_all(prepared, settings, NOW)
    assert report.bounced == ["chain03@example.com"] and report.sent == len(expected)
    assert store.get("chain03@example.com").status == "bounced"
    assert sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts) == expected
    for _, rcpts, raw in inbox.accepted:
        message = message_from_bytes(raw, policy=policy.default)
        assert message["To"].addresses[0].addr_spec == rcpts[0]
    counts = SendLog(settings.paths.ledger).counts(prepared.send_id)
    assert (counts.sent, counts.bounced, counts.pending) == (len(expected), 1, 0)


def test_a_connection_lost_mid_chain_sends_the_message_in_flight_again_and_nobody_twice(
    project: Path, inbox: Inbox
) -> None:
    """The server hangs up on a message's final dot, with the next envelope already sent:
    that message was not accepted, so it is sent again over a new connection, the next one
    starts afresh, and every recipient ends with exactly one copy, marked sent."""
    inbox.pipelining = True
    extra = {f"chain{n:02d}@example.com": ("food-agriculture",) for n in range(8)}
    settings = settings_for(project, **smtp_env(inbox, rate=1000, connections=1))
    subscribe_all(settings, extra)
    inbox.drop_once.add("chain03@example.com")
    prepared = prepare_send(
        finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings, NOW
    )
    expected = sorted([*TOPICAL_FOOD, *extra])
    report = send_all(prepared, settings, NOW)
    assert report.sent == len(expected) and not report.bounced and not report.deferred
    assert not inbox.drop_once, "the connection was dropped once"
    assert sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts) == expected
    assert len({peer for peer in inbox.peers}) == 2, "a second connection took over"
    counts = SendLog(settings.paths.ledger).counts(prepared.send_id)
    assert (counts.sent, counts.bounced, counts.pending) == (len(expected), 0, 0)


def test_a_copy_text_part_encoded_line_by_line_is_the_whole_text_encoded() -> None:
    """Each copy's text part is quoted-printable encoded only where its own values go (the
    other lines once a send); the bytes are those of encoding the whole filled text, also
    with long values wrapped by soft breaks, trailing spaces, dots, '=' and non-ASCII."""
    import binascii

    from outreach.newsletter import fill, qp_lines

    pieces = [
        "Héllo =\n\n" + "x" * 90 + " \n.\nYou chose: ",
        "TOPICS",
        ".\nChange (",
        "PREFERENCES_URL",
        ") · Unsubscribe (",
        "UNSUBSCRIBE_URL",
        ")\n\ntrailing space \n.",
    ]
    values = [
        {"TOPICS": "Food", "PREFERENCES_URL": "https://a.example/p?t=1", "UNSUBSCRIBE_URL": "u"},
        {"TOPICS": "é" * 40 + " ", "PREFERENCES_URL": "h" * 150, "UNSUBSCRIBE_URL": "=.\n. "},
        {"TOPICS": "", "PREFERENCES_URL": "", "UNSUBSCRIBE_URL": " "},
    ]

    def encode(text: str) -> bytes:  # the factory's encoding: binascii's, with CRLF
        return binascii.b2a_qp(text.encode(), istext=True).replace(b"\n", b"\r\n")

    lines = qp_lines(pieces)
    assert any(isinstance(line, bytes) for line in lines), "static lines are encoded once"
    for filled in values:
        by_line = b"".join(
            line if isinstance(line, bytes) else encode(fill(line, filled)) for line in lines
        )
        assert by_line == encode(fill(pieces, filled))


def test_the_to_line_written_directly_matches_the_wire_policy(settings: Settings) -> None:
    """Plain display names skip the email package's header folder; what it would have
    written is what goes out (names needing quotes or encoding still go through it)."""
    from email.utils import formataddr

    from outreach.newsletter import WIRE_POLICY, to_header

    names = ["Reader 0", "", "O'Brien-Smith", "Ann  Lee", "x" * 150, "  padded  ", "Doe, Jane"]
    for name in names:
        for address in ("ana@example.com", "a+b@example.org"):
            wire = WIRE_POLICY.fold_binary("To", formataddr((" ".join(name.split()), address)))
            assert to_header(name, address) == wire, name
            parsed = message_from_bytes(wire + b"\r\nbody\r\n", policy=policy.default)
            assert parsed["To"].addresses[0].addr_spec == address


def test_digest_with_another_middle_finding_or_title_is_a_new_issue(
    project: Path, inbox: Inbox
) -> None:
    settings = settings_for(project, **smtp_env(inbox))
    subscribe_all(settings)
    catalog = load_catalog(settings)
    alpha, beta, gamma = (
        catalog[i]
        for i in ("alpha-cocoa-prices", "beta-cotton-traceability", "gamma-embargoed-packaging")
    )
    first = prepare_send(digest_issue([alpha, beta, gamma], "This month"), settings, NOW)
    assert send_all(first, settings, NOW).sent == 5
    assert digest_issue([alpha, gamma], "This month").key.startswith(
        "digest-alpha-cocoa-prices-gamma-embargoed-packaging-"
    )
    assert digest_issue([alpha, beta, gamma], "Another title").key != first.send_id.split(":")[1]

    second = prepare_send(digest_issue([alpha, gamma], "This month"), settings, NOW)
    assert second.newly_frozen and second.send_id != first.send_id
    report = send_all(second, settings, NOW)
    assert report.sent == 4, "food and packaging readers get the second digest"
    subjects = [
        message_from_bytes(raw, policy=policy.default)["Subject"] for _, _, raw in inbox.accepted
    ]
    assert subjects == ["This month"] * 9


def test_newsletter_send_of_an_issue_already_sent_says_so_and_fails(project: Path) -> None:
    settings = settings_for(project)
    subscribe_all(settings)
    issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
    assert send_all(prepare_send(issue, settings, NOW), settings, NOW).sent == 3
    again = subprocess.run(
        [sys.executable, "-m", "outreach_cli", "newsletter", "send", "alpha-cocoa-prices"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 1, again.stdout + again.stderr
    assert (
        "Newsletter 'alpha-cocoa-prices' was already sent (3 sent, 0 bounced, of 3 recipients)"
        in again.stderr
    )
    assert len(list(settings.paths.outbox.rglob("*.eml"))) == 3


INTERNATIONAL = {
    "jörg@example.com": ("food-agriculture",),  # needs SMTPUTF8
    "ana@bücher.example": ("food-agriculture",),  # punycode domain: plain SMTP will do
}


def utf8_message(raw: bytes) -> EmailMessage:
    """Parse a message whose headers may be UTF-8 (RFC 6532): ``message_from_bytes`` would
    leave the non-ASCII bytes as surrogates."""
    return message_from_string(raw.decode("utf-8"), policy=policy.default)


def test_internationalised_address_goes_with_smtputf8_when_the_server_offers_it(
    project: Path,
) -> None:
    with smtp_server(enable_SMTPUTF8=True) as server:
        settings = settings_for(project, **smtp_env(server))
        subscribe_all(settings, INTERNATIONAL)
        issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
        report = send_all(prepare_send(issue, settings, NOW), settings, NOW)
    assert (report.sent, report.held) == (5, {})
    by_recipient = {rcpts[0]: raw for _, rcpts, raw in server.accepted}
    assert sorted(by_recipient) == sorted(
        [*TOPICAL_FOOD, "jörg@example.com", "ana@xn--bcher-kva.example"]
    )
    to = utf8_message(by_recipient["jörg@example.com"])["To"]
    assert to.addresses[0].addr_spec == "jörg@example.com"
    assert to.addresses[0].display_name == "Jörg"


def test_internationalised_address_is_held_and_counted_when_the_server_lacks_smtputf8(
    project: Path,
) -> None:
    with smtp_server(enable_SMTPUTF8=False) as server:
        settings = settings_for(project, **smtp_env(server), OUTREACH_NEWSLETTER__BATCH_SIZE="2")
        # Batches of 2 in address order: kim | zoe come in batches after the one held.
        later = {"kim@example.com": ("food-agriculture",), "zoe@example.com": ("food-agriculture",)}
        store = subscribe_all(settings, {**INTERNATIONAL, **later})
        issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
        prepared = prepare_send(issue, settings, NOW)
        report = send_all(prepared, settings, NOW)
    assert report.sent == 6 and not report.bounced and not report.deferred
    assert list(report.held) == ["jörg@example.com"]
    assert "SMTPUTF8" in report.held["jörg@example.com"]
    received = sorted(r for _, rcpts, _ in server.accepted for r in rcpts)
    assert received == sorted([*TOPICAL_FOOD, *later, "ana@xn--bcher-kva.example"])
    counts = SendLog(settings.paths.ledger).counts(prepared.send_id)
    assert (counts.sent, counts.pending) == (6, 1), "held for a later run, not lost"
    assert store.get("jörg@example.com").status == "confirmed"


def test_outbox_writes_one_file_per_internationalised_address(project: Path) -> None:
    settings = settings_for(project)
    subscribe_all(settings, {**INTERNATIONAL, "jürg@example.com": ("food-agriculture",)})
    issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
    assert send_all(prepare_send(issue, settings, NOW), settings, NOW).sent == 6
    files = sorted(settings.paths.outbox.rglob("*.eml"))
    assert {f.parent for f in files} == {settings.paths.outbox / "newsletter" / issue.key}
    recipients = sorted(utf8_message(f.read_bytes())["To"].addresses[0].addr_spec for f in files)
    assert recipients == sorted(
        [*TOPICAL_FOOD, "jörg@example.com", "jürg@example.com", "ana@xn--bcher-kva.example"]
    )


def test_pitch_and_confirmation_transport_tells_the_senders_failure_from_the_recipients() -> None:
    """The mail transport (pitches, confirmation emails, newsletters): a refused login is the
    sender's failure; a 5xx to RCPT or a missing SMTPUTF8 concerns that recipient only."""
    from outreach.mail import build_message, mailbox
    from outreach.mail_errors import RecipientDeferred, RecipientRefused
    from outreach.mail_transport import SmtpTarget, SmtpTransport

    def message(to: str) -> EmailMessage:
        sender = mailbox("Press", "press@example.org")
        return build_message(sender, mailbox("Reader", to), "Hello", "Text\n", f"k:{to}", NOW)

    with (
        smtp_server(authenticator=refuse_every_login, auth_require_tls=False) as server,
        pytest.raises(SenderFailure, match=r"refused the login \(535"),
        SmtpTransport(SmtpTarget(server.host, server.port, "none", "press", "pw-987")) as sender,
    ):
        sender.send(message("ana@example.com"), "ana@example.com", "k")
    with smtp_server(enable_SMTPUTF8=False) as server:
        server.refuse["gone@example.com"] = "550 5.1.1 no such user"
        with SmtpTransport(SmtpTarget(server.host, server.port, "none")) as sender:
            with pytest.raises(RecipientDeferred, match="SMTPUTF8"):
                sender.send(message("jörg@example.com"), "jörg@example.com", "k").raise_for_status()
            with pytest.raises(RecipientRefused, match=r"550 5\.1\.1"):
                sender.send(message("gone@example.com"), "gone@example.com", "k").raise_for_status()
            sender.send(message("ana@bücher.example"), "ana@bücher.example", "k")
    assert [rcpts for _, rcpts, _ in server.accepted] == [["ana@xn--bcher-kva.example"]]
    to = message_from_bytes(server.accepted[0][2], policy=policy.default)["To"]
    assert to.addresses[0].addr_spec == "ana@xn--bcher-kva.example"


def test_placeholders_in_finding_text_are_not_replaced_with_subscriber_links(
    project: Path,
) -> None:
    path = project / "findings" / "alpha-cocoa-prices.md"
    text = path.read_text()
    text = text.replace(
        "summary: A fixture finding whose text tries to inject markup into every output.",
        "summary: Click %%UNSUBSCRIBE_URL%% or %%PREFERENCES_URL%% about %%TOPICS%%",
    )
    path.write_text(text)
    settings = settings_for(project)
    store = subscribe_all(settings)
    rendered = render_issue(finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings)
    raw = newsletter_message(rendered, store.get("food1@example.com"), settings, b"secret", NOW)
    message = message_from_bytes(raw, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    text_part = message.get_body(("plain",)).get_content()
    soup = BeautifulSoup(html, "html.parser")
    assert "Click %%UNSUBSCRIBE_URL%% or %%PREFERENCES_URL%% about %%TOPICS%%" in soup.get_text()
    assert "Click %%UNSUBSCRIBE_URL%% or %%PREFERENCES_URL%% about %%TOPICS%%" in text_part
    token = make_token(b"secret", "unsubscribe", "food1@example.com")
    assert html.count(token) == 1 and text_part.count(token) == 1, "the footer link only"
    assert [a["href"] for a in soup.find_all("a") if token in a["href"]] == [
        f"https://findings.example.org/research/newsletter/unsubscribe?token={token}"
    ]
    assert "You receive this because you chose: Food and agriculture." in soup.get_text()


def test_http_unsubscribe_links_are_refused_over_smtp_and_warned_about_in_the_outbox(
    project: Path, inbox: Inbox
) -> None:
    http = {"OUTREACH_SITE__BASE_URL": "http://findings.example.org/research/"}
    settings = settings_for(project, **smtp_env(inbox), **http)
    subscribe_all(settings)
    issue = finding_issue(load_catalog(settings)["alpha-cocoa-prices"])
    with pytest.raises(SenderFailure, match=r"not https://.*set newsletter\.web_base_url"):
        prepare_send(issue, settings, NOW)
    assert SendLog(settings.paths.ledger).counts("newsletter:alpha-cocoa-prices").total == 0
    assert inbox.accepted == []

    outbox = settings_for(project, **http)
    for _ in range(2):  # the first send and its resumption both say it
        prepared = prepare_send(issue, outbox, NOW)
        assert prepared.warning and "not https://" in prepared.warning
        send_all(prepared, outbox, NOW)
    assert len(list(outbox.paths.outbox.rglob("*.eml"))) == 3


@pytest.mark.prefect
def test_newsletter_send_with_a_refused_login_exits_non_zero_naming_the_setting(
    prefect_api: str, project: Path
) -> None:
    with smtp_server(authenticator=refuse_every_login, auth_require_tls=False) as server:
        environ = {**smtp_env(server), "OUTREACH_MAIL__SMTP_USERNAME": "newsletter"}
        settings = settings_for(project, **environ)
        store = subscribe_all(settings)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "outreach_cli",
                "newsletter",
                "send",
                "alpha-cocoa-prices",
                "--approve",
            ],
            cwd=project,
            env={
                **os.environ,
                **environ,
                "OUTREACH_SMTP_PASSWORD": "wrong-secret-123",
                "PREFECT_API_URL": prefect_api,
                "OUTREACH_LIMITS": "off",
                "PYTHONPATH": str(REPO),
                "COLUMNS": "200",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "refused the login (535" in result.stderr
    assert "OUTREACH_SMTP_PASSWORD" in result.stderr
    assert "3 still pending and none of them marked bounced" in result.stderr
    assert "wrong-secret-123" not in result.stdout + result.stderr
    assert server.accepted == []
    assert_nobody_touched(settings, store, "newsletter:alpha-cocoa-prices")


def test_template_without_the_unsubscribe_slot_is_refused(project: Path) -> None:
    import shutil

    shutil.copytree(REPO / "templates", project / "templates")
    template = project / "templates" / "newsletter" / "email.mjml.j2"
    template.write_text(template.read_text().replace("{{ slots.UNSUBSCRIBE_URL }}", "#"))
    settings = settings_for(project, OUTREACH_PATHS__TEMPLATES=str(project / "templates"))
    with pytest.raises(RenderError, match=r"email\.mjml\.j2: the HTML part has no unsubscribe"):
        render_issue(finding_issue(load_catalog(settings)["alpha-cocoa-prices"]), settings)


@pytest.fixture
def starttls_inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """aiosmtpd requiring STARTTLS, with a certificate for 127.0.0.1 made here and trusted
    through SSL_CERT_FILE (the relay of most teams speaks TLS)."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2100, 1, 1, tzinfo=UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "relay.pem", tmp_path / "relay.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    with smtp_server(tls_context=context, require_starttls=True) as handler:
        yield handler
