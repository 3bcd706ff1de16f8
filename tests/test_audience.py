"""Audience data: erase on request, suppression, consent on import, journalist opt-out,
bounce and complaint reports. Real stores, the real CLI, the app served by uvicorn, a real
SMTP server; reports as real MTAs and mailbox providers write them."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest
from web_tools import served, smtp_environ

from conftest import FIXTURES, NOW, REPO, write_config
from outreach.audit import AuditLog, recipient_id
from outreach.campaign import prepare_send, send_all
from outreach.config import Settings, load_settings
from outreach.ledger import Ledger
from outreach.newsletter import digest_issue, finding_issue
from outreach.press.pitch import PITCH_CHANNEL, pitch_plan_for
from outreach.release import load_catalog
from outreach.secrets_store import recipient_key
from outreach.subscribers import SubscriberStore
from outreach.suppression import suppressions_for
from smtp_tools import Inbox

JOURNALISTS = """name,email,outlet,beats,regions,accepts_embargoes,opted_out
Ama Food,ama@example.com,Food Desk,food-agriculture,Ghana,yes,no
Priya Cotton,priya@example.com,Textile Times,apparel-textiles,India,yes,no
"""
ALPHA_TOPIC = "food-agriculture"
ERASED = "erase.me@example.com"
KEY_ENV = {"OUTREACH_RECIPIENT_KEY": "test-recipient-key", "OUTREACH_LINK_SECRET": "test-link"}


@pytest.fixture
def audience_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fixture findings, a two-journalist list, fixed keys (the CLI's subprocess too)."""
    shutil.copytree(FIXTURES / "findings", tmp_path / "findings")
    shutil.copytree(FIXTURES / "media", tmp_path / "media")
    shutil.copytree(REPO / "press", tmp_path / "press")
    (tmp_path / "press" / "journalists.csv").write_text(JOURNALISTS, encoding="utf-8")
    config = write_config(tmp_path, tmp_path / "findings", tmp_path / "media")
    config.write_text(
        config.read_text().replace(
            f'press = "{(REPO / "press").as_posix()}"',
            f'press = "{(tmp_path / "press").as_posix()}"',
        )
    )
    for name, value in KEY_ENV.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def settings_of(project: Path, **environ: str) -> Settings:
    return load_settings(project / "outreach.toml", environ={**KEY_ENV, **environ})


def outreach(project: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a team member runs it."""
    return subprocess.run(
        [sys.executable, "-m", "outreach_cli", *args, "--config", str(project / "outreach.toml")],
        cwd=project,
        env={**os.environ, **KEY_ENV, **environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def confirmed(store: SubscriberStore, email: str, topic: str = ALPHA_TOPIC) -> None:
    store.sign_up(email, "Reader", (topic,), "web form", NOW)
    assert store.confirm(email, NOW)


def places_holding(folder: Path, text: str) -> list[str]:
    """Every (file, table, column) of every SQLite file under ``folder`` whose text holds
    ``text`` (case-insensitive), and every such file whose bytes on disk still do."""
    found: list[str] = []
    needle = text.lower()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.read_bytes()[:16] != b"SQLite format 3\x00":
            continue
        connection = sqlite3.connect(path)
        try:
            tables = [
                r[0]
                for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                columns = [r[1] for r in connection.execute(f'PRAGMA table_info("{table}")')]
                for column in columns:
                    hits = connection.execute(
                        f'SELECT COUNT(*) FROM "{table}" WHERE lower(CAST("{column}" AS TEXT)) LIKE ?',
                        (f"%{needle}%",),
                    ).fetchone()[0]
                    if hits:
                        found.append(f"{path.name}:{table}.{column}")
        finally:
            connection.close()
        for disk in (path, path.with_name(path.name + "-wal")):
            if disk.exists() and needle.encode() in disk.read_bytes().lower():
                found.append(f"{disk.name}: bytes on disk")
    return found


def test_erase_leaves_no_personal_data_in_any_store_and_the_address_is_never_mailed_again(
    audience_project: Path,
) -> None:
    settings = settings_of(audience_project)
    store = SubscriberStore(settings.paths.subscribers)
    confirmed(store, ERASED)
    confirmed(store, "keep@example.com")
    store.sign_up_and_claim(ERASED, "Reader", (ALPHA_TOPIC,), "web form", NOW, None)
    alpha = load_catalog(settings)["alpha-cocoa-prices"]
    assert send_all(prepare_send(finding_issue(alpha), settings, NOW), settings, NOW).sent == 2
    # Ama, a journalist, was pitched alpha; she then asks to be erased too.
    Ledger(settings.paths.ledger).record(
        alpha.id, PITCH_CHANNEL, "outbox", "pitch:ama@example.com", "<id@x>", None, NOW
    )

    shown = outreach(audience_project, "subscribers", "show", ERASED)
    assert shown.returncode == 0, shown.stderr
    assert "Status: confirmed" in shown.stdout and "Consent: web form at" in shown.stdout
    assert "newsletter:alpha-cocoa-prices" in shown.stdout and "sent" in shown.stdout
    found = outreach(audience_project, "subscribers", "find", "erase.me")
    assert ERASED in found.stdout and "keep@example.com" not in found.stdout

    for address in (ERASED, "ama@example.com"):
        erased = outreach(audience_project, "subscribers", "erase", address, "--yes")
        assert erased.returncode == 0, erased.stderr
    assert "journalists.csv still lists this address" in erased.stdout

    for address in (ERASED, "ama@example.com"):
        assert places_holding(settings.paths.state, address) == [], address
        assert places_holding(settings.paths.state, address.split("@")[0]) == [], address
    key = recipient_key(settings)
    rid = recipient_id(ERASED, key)
    erase_events = list(AuditLog(settings.paths.ledger).entries(event="erase"))
    assert [e.subject for e in erase_events] == [rid, recipient_id("ama@example.com", key)]
    assert store.get("keep@example.com") is not None, "nobody else is touched"
    counts = prepare_send(finding_issue(alpha), settings, NOW)
    assert counts.pending_count == 0, "the send log still counts the erased person's message"

    # Never mailed again: an import skips the address, a later issue does not reach it,
    # and Ama is not pitched a second time.
    imported = audience_project / "back.csv"
    imported.write_text(
        "email,name,topics,status,consent_at,consent_source\n"
        f"{ERASED},Back,{ALPHA_TOPIC},confirmed,2026-05-01T00:00:00+00:00,fair\n"
    )
    result = outreach(audience_project, "subscribers", "import", str(imported))
    assert result.returncode == 0, result.stderr
    assert "Skipped 1 on the suppression list" in result.stdout
    assert store.get(ERASED) is None
    later = prepare_send(digest_issue([alpha], "Later"), settings, NOW)
    assert send_all(later, settings, NOW).sent == 1
    plan, _, _ = pitch_plan_for(alpha, settings, Ledger(settings.paths.ledger), NOW)
    assert plan.pitches == [] and plan.already_pitched == ["ama@example.com"]
    shown = outreach(audience_project, "subscribers", "show", ERASED)
    assert "Subscriber: none" in shown.stdout and "Suppressed: erased" in shown.stdout


def test_a_suppressed_address_signing_up_gets_the_same_answer_and_no_email(
    audience_project: Path,
) -> None:
    settings = settings_of(audience_project)
    suppressions_for(settings).add(ERASED, "erased", NOW)
    with served(audience_project, environ=KEY_ENV) as app, httpx.Client(base_url=app.base) as web:
        answers = []
        for address in (ERASED, "stranger@example.com"):
            form = web.get("/newsletter/")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
            posted = web.post(
                "/newsletter/subscribe",
                data={"csrf": csrf, "email": address, "topics": ALPHA_TOPIC, "name": "X"},
            )
            answers.append((posted.status_code, posted.text.replace(csrf, "")))
        app.drain()
    assert answers[0] == answers[1], "the form tells nobody an address was erased"
    store = SubscriberStore(settings.paths.subscribers)
    assert store.get(ERASED) is None and store.get("stranger@example.com") is not None
    sent = [p.read_bytes() for p in settings.paths.outbox.rglob("*.eml")]
    assert len(sent) == 1 and b"stranger@example.com" in sent[0]


def test_import_without_consent_source_fails_naming_the_file_and_the_column(
    audience_project: Path,
) -> None:
    path = audience_project / "list.csv"
    path.write_text(f"email,name,topics,status\nnew@example.com,New,{ALPHA_TOPIC},confirmed\n")
    result = outreach(audience_project, "subscribers", "import", str(path))
    assert result.returncode != 0
    assert "Nothing was imported" in result.stderr and str(path) in result.stderr
    assert "consent_source" in result.stderr and "Traceback" not in result.stderr
    settings = settings_of(audience_project)
    assert SubscriberStore(settings.paths.subscribers).all() == []


def test_unproven_imported_rows_are_pending_and_get_a_confirmation_email_not_the_newsletter(
    audience_project: Path, inbox: Inbox
) -> None:
    path = audience_project / "list.csv"
    path.write_text(
        "email,name,topics,status,consent_at,consent_source\n"
        f"proven@example.com,P,{ALPHA_TOPIC},confirmed,2026-03-01T10:00:00+00:00,fair sheet\n"
        f"no-time@example.com,N,{ALPHA_TOPIC},confirmed,,fair sheet\n"
        f"unknown@example.com,U,{ALPHA_TOPIC},confirmed,unknown,old list\n"
        f"no-source@example.com,S,{ALPHA_TOPIC},confirmed,2026-03-01T10:00:00+00:00,\n"
    )
    smtp = smtp_environ(inbox.host, inbox.port)
    result = outreach(audience_project, "subscribers", "import", str(path), **smtp)
    assert result.returncode == 0, result.stderr
    assert "3 confirmation emails sent" in result.stdout
    settings = settings_of(audience_project, **smtp)
    store = SubscriberStore(settings.paths.subscribers)
    statuses = {s.email: s.status for s in store.all()}
    assert statuses == {
        "proven@example.com": "confirmed",
        "no-time@example.com": "pending",
        "unknown@example.com": "pending",
        "no-source@example.com": "pending",
    }
    assert store.get("proven@example.com").consent_source == "fair sheet"
    mailed = {}
    for _, recipients, raw in inbox.accepted:
        message = message_from_bytes(raw, policy=policy.default)
        mailed[recipients[0]] = message
    assert set(mailed) == {"no-time@example.com", "unknown@example.com", "no-source@example.com"}
    for message in mailed.values():
        assert str(message["Subject"]).startswith("Please confirm")
        assert "/newsletter/confirm?token=" in message.get_content()

    inbox.accepted.clear()
    alpha = load_catalog(settings)["alpha-cocoa-prices"]
    send_all(prepare_send(finding_issue(alpha), settings, NOW), settings, NOW)
    assert [r for _, r, _ in inbox.accepted] == [["proven@example.com"]]


def test_a_journalists_opt_out_is_recorded_and_honoured_by_the_next_pitches(
    audience_project: Path,
) -> None:
    with served(audience_project, environ=KEY_ENV) as app:
        settings = app.settings
        alpha = load_catalog(settings)["alpha-cocoa-prices"]
        ledger = Ledger(settings.paths.ledger)
        plan, _, _ = pitch_plan_for(alpha, settings, ledger, NOW)
        (pitch,) = plan.pitches
        assert pitch.journalist.email == "ama@example.com"
        link = re.search(r"One click and we stop: (\S+)", pitch.text).group(1)
        parsed = message_from_bytes(pitch.message.as_bytes(), policy=policy.default)
        assert str(parsed["List-Unsubscribe"]) == f"<{link}>"
        assert str(parsed["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        assert link.startswith(app.base + "press/opt-out?token=")
        with httpx.Client() as web:
            assert web.get(link).status_code == 200
            assert pitch_plan_for(alpha, settings, ledger, NOW)[0].pitches, "a GET changes nothing"
            forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
            assert web.post(forged, data={"List-Unsubscribe": "One-Click"}).status_code == 400
            done = web.post(link, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "no more pitches" in done.text

        again, _, _ = pitch_plan_for(alpha, settings, ledger, NOW)
        assert again.pitches == []
        assert ("ama@example.com", "opted out") in again.skipped
        (event,) = AuditLog(settings.paths.ledger).entries(event="opt-out")
        assert event.subject == recipient_id("ama@example.com", recipient_key(settings))
        assert "ama@" not in repr(event)


DSN = """\
Return-Path: <>
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: newsletter@example.org
Subject: Undelivered Mail Returned to Sender
Date: Mon, 1 Jun 2026 10:00:00 +0000
Message-Id: <20260601100000.AB12C@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="B12C.1780300800/mx.example.net"
Auto-Submitted: auto-replied

This is a MIME-encapsulated message.

--B12C.1780300800/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{address}>: host mail.example.com[192.0.2.5] said: {status_text}

--B12C.1780300800/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: AB12C
Arrival-Date: Mon, 1 Jun 2026 09:59:58 +0000

Final-Recipient: rfc822; {address}
Original-Recipient: rfc822;{address}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.com
Diagnostic-Code: smtp; {status_text}

--B12C.1780300800/mx.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: Durable Supply Chains <newsletter@example.org>
To: {address}
Subject: Cocoa prices
Message-ID: <abc@example.org>

--B12C.1780300800/mx.example.net--
"""

ARF = """\
From: staff@hotmail.example
To: complaints@example.org
Subject: complaint about message from 192.0.2.1
Date: Mon, 1 Jun 2026 11:00:00 +0000
Message-ID: <feedback-1@hotmail.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Mon, 1 Jun 2026 10:30:00 +0000.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <newsletter@example.org>
Original-Rcpt-To: <{address}>
Arrival-Date: Mon, 1 Jun 2026 10:30:00 +0000
Reported-Domain: example.org
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: <newsletter@example.org>
To: <{address}>
Subject: Cocoa prices
Date: Mon, 1 Jun 2026 10:29:00 +0000

Newsletter text.

--part1_13d.2e68ed54_boundary--
"""


def dsn(address: str, status: str) -> bytes:
    permanent = status.startswith("5")
    text = (
        f"550 {status} <{address}>: Recipient address rejected: User unknown"
        if permanent
        else f"451 {status} mailbox busy, try later"
    )
    report = DSN.format(
        address=address,
        status=status,
        status_text=text,
        action="failed" if permanent else "delayed",
    )
    parsed = message_from_bytes(report.encode(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/report", "a well-formed report"
    return report.replace("\n", "\r\n").encode()


def test_a_dsn_and_an_arf_posted_to_the_app_mark_their_addresses(
    audience_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_REPORTS_TOKEN", "report-token")
    settings = settings_of(audience_project)
    store = SubscriberStore(settings.paths.subscribers)
    for address in ("gone@example.com", "angry@example.com", "busy@example.com"):
        confirmed(store, address)
    with served(audience_project, environ=KEY_ENV) as app, httpx.Client(base_url=app.base) as web:
        refused = web.post(
            "/mail/reports",
            content=dsn("gone@example.com", "5.1.1"),
            headers={"Authorization": "Bearer wrong"},
        )
        assert refused.status_code == 401
        assert store.get("gone@example.com").status == "confirmed"
        bearer = {"Authorization": "Bearer report-token", "Content-Type": "message/rfc822"}
        bounced = web.post(
            "/mail/reports", content=dsn("gone@example.com", "5.1.1"), headers=bearer
        )
        delayed = web.post(
            "/mail/reports", content=dsn("busy@example.com", "4.2.1"), headers=bearer
        )
        arf = ARF.format(address="angry@example.com").replace("\n", "\r\n").encode()
        complained = web.post("/mail/reports", content=arf, headers=bearer)
    assert (bounced.status_code, bounced.text) == (200, "bounced 1, complained 0\n")
    assert (delayed.status_code, delayed.text) == (200, "bounced 0, complained 0\n")
    assert (complained.status_code, complained.text) == (200, "bounced 0, complained 1\n")
    statuses = {s.email: s.status for s in store.all()}
    assert statuses == {
        "gone@example.com": "bounced",
        "angry@example.com": "complained",
        "busy@example.com": "confirmed",
    }
    suppressions = suppressions_for(settings)
    assert suppressions.reason("gone@example.com") == "bounced"
    assert suppressions.reason("angry@example.com") == "complained"
    assert not suppressions.is_suppressed("busy@example.com")
    key = recipient_key(settings)
    events = [(e.subject, e.outcome, e.detail) for e in AuditLog(settings.paths.ledger).entries()]
    assert events == [
        (recipient_id("gone@example.com", key), "bounced", {"status": "5.1.1"}),
        (recipient_id("angry@example.com", key), "complained", {"status": "abuse"}),
    ]
    alpha = load_catalog(settings)["alpha-cocoa-prices"]
    send_all(prepare_send(finding_issue(alpha), settings, NOW), settings, NOW)
    mailed = [p.read_bytes() for p in settings.paths.outbox.rglob("*.eml")]
    assert len(mailed) == 1 and b"busy@example.com" in mailed[0]


def test_a_newsletter_send_skips_a_suppressed_address_even_if_its_row_says_confirmed(
    audience_project: Path,
) -> None:
    """A journalist who opted out of pitches and also subscribed: the suppression list wins."""
    settings = settings_of(audience_project)
    store = SubscriberStore(settings.paths.subscribers)
    confirmed(store, "ama@example.com")
    confirmed(store, "keep@example.com")
    suppressions_for(settings).add("ama@example.com", "opted-out", NOW)
    alpha = load_catalog(settings)["alpha-cocoa-prices"]
    report = send_all(prepare_send(finding_issue(alpha), settings, NOW), settings, NOW)
    assert report.sent == 1
    mailed = [p.read_bytes() for p in settings.paths.outbox.rglob("*.eml")]
    assert len(mailed) == 1 and b"keep@example.com" in mailed[0]
    with sqlite3.connect(settings.paths.ledger) as connection:
        row = connection.execute(
            "SELECT state, detail FROM send_recipients WHERE email = 'ama@example.com'"
        ).fetchone()
    assert row == ("skipped", "suppressed")
