"""Newsletter: subscribers, tokens, the email's structure and headers, and sending over real
SMTP (aiosmtpd on loopback): topic matching, exclusions, bounces, retries, rate limit, and a
send killed mid-way that resumes with nobody mailed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import pytest
from bs4 import BeautifulSoup

from conftest import NOW, REPO
from outreach.campaign import link_secret, prepare_send, send_all
from outreach.config import Settings, load_settings
from outreach.newsletter import digest_issue, finding_issue, newsletter_message, render_issue
from outreach.release import load_catalog
from outreach.sending import SendLog
from outreach.subscribers import SubscriberError, SubscriberStore
from outreach.tokens import BadToken, make_token, read_token
from smtp_tools import Inbox

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
    imported = "email,name,topics,status\nAma@example.com,Ama,food-agriculture,confirmed\nnew@example.com,New,scope-3-climate,confirmed\n"
    assert store.import_csv(imported, "import", NOW) == 2
    assert store.get("Ama@example.com").status == "unsubscribed", (
        "an import never re-adds someone who left"
    )
    assert [s.email for s in store.recipients({"scope-3-climate"})] == ["new@example.com"]
    exported = store.export_csv().splitlines()
    assert exported[0] == "email,name,topics,status,consent_at,consent_source"
    assert len(exported) == 3
    with pytest.raises(SubscriberError, match=r"row 2: 'x' is not an email address"):
        store.import_csv("email,topics\nx,food-agriculture\n", "import", NOW)


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
    config.write_text(config.read_text() + "\n[channels.newsletter]\nplatforms = []\n")
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
