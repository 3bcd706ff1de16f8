"""The record of what went to whom: every publish and every send (newsletter recipients and
pitches, by recipient id, never by address) in the audit log, ``outreach log`` printing it,
the release artifact listing it, and the newsletter catch-up of subscribers who joined late.

Mail goes to a real SMTP server (aiosmtpd on loopback) or the outbox folder; messages are
read back with Python's ``email`` parser and the audit table straight from the SQLite file."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from conftest import FIXTURES, NOW, REPO, write_config
from outreach.audit import AuditLog, command_line_actor, message_ref, recipient_id
from outreach.audit_summary import audit_section
from outreach.campaign import prepare_send, send_all
from outreach.config import Settings, load_settings
from outreach.newsletter import finding_issue
from outreach.release import ReleaseRequest, load_catalog, run_release
from outreach.secrets_store import recipient_key
from outreach.sending import SendLog
from outreach.subscribers import SubscriberStore
from smtp_tools import Inbox

FINDING = "alpha-cocoa-prices"
FOOD = ["both@example.com", "food1@example.com", "food2@example.com"]
JOURNALISTS = """name,email,outlet,beats,regions,accepts_embargoes,opted_out
Ama Food,ama@example.com,Food Desk,food-agriculture,Ghana,yes,no
Priya Cotton,priya@example.com,Textile Times,apparel-textiles,India,yes,no
"""
CHANNELS = """
[channels.press]
platforms = ["static"]

[channels.newsroom]
platforms = ["static"]

[channels.newsletter]
platforms = []
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Blog, press kit, newsroom and newsletter; two journalists, one of whom matches alpha."""
    shutil.copytree(FIXTURES / "findings", tmp_path / "findings")
    shutil.copytree(FIXTURES / "media", tmp_path / "media")
    shutil.copytree(REPO / "press", tmp_path / "press")
    (tmp_path / "press" / "journalists.csv").write_text(JOURNALISTS, encoding="utf-8")
    config = write_config(tmp_path, tmp_path / "findings", tmp_path / "media", CHANNELS)
    text = config.read_text().replace(
        f'press = "{(REPO / "press").as_posix()}"', f'press = "{(tmp_path / "press").as_posix()}"'
    )
    config.write_text(text)
    return tmp_path


def settings_for(project: Path, **environ: str) -> Settings:
    return load_settings(
        project / "outreach.toml", environ={"OUTREACH_PRESS_SECRET": "test-secret", **environ}
    )


def smtp_env(inbox: Inbox) -> dict[str, str]:
    return {
        "OUTREACH_MAIL__PLATFORM": "smtp",
        "OUTREACH_MAIL__SMTP_HOST": inbox.host,
        "OUTREACH_MAIL__SMTP_PORT": str(inbox.port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
        "OUTREACH_NEWSLETTER__RATE_PER_SECOND": "500",
        "OUTREACH_NEWSLETTER__CONNECTIONS": "1",
    }


def subscribe(settings: Settings, emails: list[str], topic: str = "food-agriculture") -> None:
    store = SubscriberStore(settings.paths.subscribers)
    for email in emails:
        store.sign_up(email, email.split("@")[0].title(), (topic,), "test", NOW)
        store.confirm(email, NOW)


def outreach(project: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "outreach_cli", *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", **environ},
        capture_output=True,
        text=True,
        timeout=300,
    )


def audit_rows(settings: Settings) -> list[tuple]:
    """Every row of the audit table, read with sqlite3 itself (not through the log's code)."""
    with sqlite3.connect(settings.paths.ledger) as connection:
        return connection.execute("SELECT * FROM audit ORDER BY seq").fetchall()


def test_log_of_a_release_lists_its_publishes_and_one_send_per_recipient_without_addresses(
    project: Path, inbox: Inbox
) -> None:
    settings = settings_for(project, **smtp_env(inbox))
    subscribe(settings, FOOD)
    inbox.refuse["food2@example.com"] = "550 5.1.1 <food2@example.com>: no such user"
    request = ReleaseRequest(
        settings, NOW, [FINDING], approvals={"pitches": True, "newsletter": True}
    )
    report = run_release(request)
    changed = {(r.channel, r.item) for r in report.changed if r.finding_id == FINDING}
    assert changed

    shown = outreach(project, "log", "--finding", FINDING, "--json")
    assert shown.returncode == 0, shown.stderr
    events = json.loads(shown.stdout)
    assert events and all(e["publication"] == FINDING for e in events)

    publishes = [e for e in events if e["event"] == "publish"]
    assert {(e["subject"], e["detail"]["item"]) for e in publishes} == changed
    assert {e["actor"] for e in publishes} == {"release"}
    blog = next(e for e in publishes if e["detail"]["item"] == f"blog/{FINDING}/index.html")
    assert blog["outcome"] == "created" and blog["detail"]["platform"] == "static"
    assert blog["detail"]["url"] == f"https://findings.example.org/research/blog/{FINDING}/"

    key = recipient_key(settings)
    sends = [e for e in events if e["event"] == "send"]
    outcomes = {e["subject"]: e["outcome"] for e in sends}
    assert len(sends) == len(outcomes), "one send per recipient"
    assert outcomes == {
        recipient_id("both@example.com", key): "sent",
        recipient_id("food1@example.com", key): "sent",
        recipient_id("food2@example.com", key): "bounced",
        recipient_id("ama@example.com", key): "sent",  # the pitch
    }
    # The message ids in the log are those of the messages the server accepted.
    accepted = {
        message_ref(message_from_bytes(raw, policy=policy.default)["Message-ID"]): rcpts[0]
        for _, rcpts, raw in inbox.accepted
    }
    assert sorted(accepted.values()) == ["ama@example.com", "both@example.com", "food1@example.com"]
    sent_refs = {e["detail"]["message_id"] for e in sends if e["outcome"] == "sent"}
    assert sent_refs == set(accepted)
    bounced = next(e for e in sends if e["outcome"] == "bounced")
    assert bounced["detail"]["reply"].startswith("550 5.1.1 <address>")

    # No address anywhere in the audit table, not even inside the server's 550 reply.
    rows = audit_rows(settings)
    assert len([row for row in rows if row[3] == FINDING]) == len(events)
    assert {row[3] for row in rows} == {FINDING, ""}  # "": the site's pages and feeds
    assert not [row for row in rows if any("@" in str(cell) for cell in row)]

    table = outreach(project, "log", "--finding", FINDING, "--event", "send")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["time", "event", "publication", "actor", "subject", "outcome",
                                "detail"]  # fmt: skip
    assert len(lines) == 1 + 4 and "@" not in table.stdout
    assert all(" send " in line and FINDING in line for line in lines[1:])


def test_log_options_are_checked_and_an_empty_log_says_so(project: Path) -> None:
    settings = settings_for(project)
    AuditLog(settings.paths.ledger).record(
        "publish", NOW, publication=FINDING, actor="release", subject="blog", outcome="created"
    )
    bad = outreach(project, "log", "--since", "last week")
    assert bad.returncode == 2
    assert "--since 'last week' is not a date: write it as 2027-02-01" in bad.stderr
    wrong = outreach(project, "log", "--event", "sends")
    assert wrong.returncode == 2 and "choose from: decision, send, publish" in wrong.stderr
    later = outreach(project, "log", "--since", "2026-06-02")
    assert later.returncode == 0 and "No audit events for since 2026-06-02" in later.stdout
    same_day = outreach(project, "log", "--since", "2026-06-01", "--json")
    assert [e["outcome"] for e in json.loads(same_day.stdout)] == ["created"]


def test_the_release_artifacts_audit_section_is_bounded_and_points_to_the_log(
    tmp_path: Path,
) -> None:
    log = AuditLog(tmp_path / "ledger.sqlite")
    log.record("decision", NOW, publication=FINDING, actor="ana", subject="newsletter",
               outcome="approved")  # fmt: skip
    log.record_many(
        [
            ("send", NOW, {"publication": FINDING, "subject": f"r-{n}", "outcome": "sent"})
            for n in range(30)
        ]
        + [("publish", NOW, {"publication": "", "subject": "blog", "outcome": "updated"})]
    )
    log.record("send", NOW.replace(year=2025), publication=FINDING, subject="r-old",
               outcome="sent")  # fmt: skip
    from outreach.audit_summary import release_events

    lines = audit_section(release_events(log, {FINDING, ""}, NOW), {FINDING, ""}, limit=20)
    text = "\n".join(lines)
    assert "- decision: 1 approved" in text and "- send: 30 sent" in text
    assert "- publish: 1 updated" in text and "r-old" not in text
    assert sum(1 for line in lines if line.startswith("| 20")) == 20
    assert "11 more decisions and sends are not listed here." in text
    assert f"`outreach log --finding {FINDING}`" in text


def late_subscriber_files(settings: Settings, email: str) -> list[Path]:
    return list(settings.paths.outbox.rglob(f"{email}.eml"))


@pytest.mark.prefect
def test_catch_up_reaches_a_late_subscriber_exactly_once_and_says_why_when_nobody_is_due(
    prefect_api: str, project: Path, flow_clock: Callable[[datetime], None]
) -> None:
    from prefect.artifacts import Artifact

    from flows.release import release_finding

    flow_clock(NOW)
    settings = settings_for(project)
    subscribe(settings, FOOD)
    config = str(project / "outreach.toml")
    release_finding(
        FINDING,
        ["blog", "newsletter"],
        config=config,
        approve_pitches=False,
        approve_newsletter=True,
    )
    assert len(list(settings.paths.outbox.rglob("*.eml"))) == 3
    artifact = Artifact.get(f"release-{FINDING}")
    assert "## Audit log" in artifact.data and "- send: 3 sent" in artifact.data
    assert f"`outreach log --finding {FINDING}`" in artifact.data and "@" not in artifact.data

    subscribe(settings, ["late@example.com"])
    environ = {"PREFECT_API_URL": prefect_api, "OUTREACH_PRESS_SECRET": "test-secret"}
    plain = outreach(project, "newsletter", "send", FINDING, **environ)
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert (
        f"Newsletter '{FINDING}' was already sent (3 sent, 0 bounced, of 3 recipients): nothing "
        "was sent; all 3 recipients were already sent. 1 matching subscriber joined since: run "
        "the command again with --new-subscribers" in plain.stderr
    )
    assert late_subscriber_files(settings, "late@example.com") == []

    caught_up = outreach(project, "newsletter", "send", FINDING, "--new-subscribers", **environ)
    assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr
    assert "(catch-up: 1 new subscriber added): 1 sent, 0 bounced" in caught_up.stdout
    [late] = late_subscriber_files(settings, "late@example.com")
    message = message_from_bytes(late.read_bytes(), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == "late@example.com"
    assert len(list(settings.paths.outbox.rglob("*.eml"))) == 4, "nobody else mailed again"
    late_id = recipient_id("late@example.com", recipient_key(settings))
    [event] = [e for e in AuditLog(settings.paths.ledger).entries(event="send")
               if e.subject == late_id]  # fmt: skip
    assert (event.publication, event.actor, event.outcome) == (
        FINDING, command_line_actor(), "sent"
    )  # fmt: skip
    assert event.detail["message_id"] == message_ref(message["Message-ID"])

    again = outreach(project, "newsletter", "send", FINDING, "--new-subscribers", **environ)
    assert again.returncode == 1, again.stdout + again.stderr
    assert (
        f"Newsletter '{FINDING}' (new subscribers): nothing was sent: all 4 recipients were "
        "already sent, and no matching confirmed subscriber joined since." in again.stderr
    )
    assert len(list(settings.paths.outbox.rglob("*.eml"))) == 4

    never = outreach(project, "newsletter", "send", "beta-cotton-traceability",
                     "--new-subscribers", **environ)  # fmt: skip
    assert never.returncode == 1
    assert "was not sent yet, so it has no new subscribers to catch up: run the command " \
        "without --new-subscribers" in never.stderr  # fmt: skip
    nobody = outreach(project, "newsletter", "send", "beta-cotton-traceability", **environ)
    assert nobody.returncode == 1
    assert (
        "Newsletter 'beta-cotton-traceability' was not sent: no confirmed subscriber matches "
        "its topics (apparel-textiles, responsible-sourcing)" in nobody.stderr
    )
    assert not SendLog(settings.paths.ledger).is_frozen("newsletter:beta-cotton-traceability")


def test_two_catch_ups_at_once_mail_each_late_subscriber_once(project: Path, inbox: Inbox) -> None:
    settings = settings_for(project, **smtp_env(inbox))
    subscribe(settings, FOOD)
    issue = finding_issue(load_catalog(settings)[FINDING])
    assert send_all(prepare_send(issue, settings, NOW), settings, NOW).sent == 3
    late = [f"late{n}@example.com" for n in range(6)]
    subscribe(settings, late)
    start = threading.Barrier(2)
    added: list[int] = []
    failures: list[BaseException] = []

    def catch_up() -> None:
        try:
            start.wait()
            moment = datetime(2026, 6, 2, tzinfo=UTC)
            prepared = prepare_send(issue, settings, moment, new_subscribers=True)
            added.append(prepared.added)
            send_all(prepared, settings, moment)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=catch_up) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert sorted(added) == [0, 6]
    received = Counter(r for _, rcpts, _ in inbox.accepted for r in rcpts)
    assert received == Counter(FOOD + late), "everyone exactly once"
    sends = Counter(e.subject for e in AuditLog(settings.paths.ledger).entries(event="send"))
    assert sorted(sends.values()) == [1] * 9
