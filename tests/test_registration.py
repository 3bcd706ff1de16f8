"""Event registration, invites, reminders, announcements and the CalDAV calendar: over real
HTTP (uvicorn), real SMTP (aiosmtpd) and a real CalDAV server (radicale), checked with
Python's ``email``, ``icalendar`` and BeautifulSoup."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import requests
from bs4 import BeautifulSoup
from icalendar import Calendar
from web_tools import WebApp, smtp_environ

from conftest import NOW, REPO, free_port
from outreach.actions import ActionContext, run_gated
from outreach.audience import erase
from outreach.config import Settings, load_settings
from outreach.events.actions import AnnounceEvent, InviteChanges, PushToCalendar
from outreach.events.model import read_events
from outreach.events.registrations import RegistrationStore
from outreach.events.reminders import BY_LABEL, due, next_due, send_reminder
from outreach.sending import SendLog
from outreach.subscribers import SubscriberStore
from smtp_tools import Inbox

JOIN = "https://meet.example.org/j/secret-room-4821"
EVENT = """---
id: cocoa-webinar
title: "Cocoa prices: what farmers keep"
summary: An hour on farm-gate prices with the research team.
kind: webinar
starts: {starts}
ends: {ends}
timezone: Europe/London
speakers:
  - name: Ama Mensah
    role: Research lead
    organisation: Fixture Programme
topics: [food-agriculture]
registration:
  open: true
  capacity: {capacity}
join_url: {join}
---
What we found, and what comes next.
"""
STARTS = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
"""After the clocks go back in London (25 October): 14:00 GMT is 14:00 UTC, while the test
clock (1 June) is in summer time, UTC+1. An invite built with today's offset is an hour off."""


def write_event(
    project: Path,
    starts: datetime = STARTS,
    capacity: int = 1,
    join: str = JOIN,
    extra: str = "",
) -> None:
    folder = project / "events"
    folder.mkdir(exist_ok=True)
    text = EVENT.format(
        starts=starts.isoformat(),
        ends=(starts + timedelta(hours=1)).isoformat(),
        capacity=capacity,
        join=join,
    )
    if extra:
        text = text.replace("join_url:", f"{extra}\njoin_url:", 1)
    (folder / "cocoa-webinar.md").write_text(text, encoding="utf-8")


def settings_for(project: Path, **environ: str) -> Settings:
    return load_settings(project / "outreach.toml", environ=environ)


def event_of(settings: Settings):
    return read_events(settings)["cocoa-webinar"]


def messages(inbox: Inbox) -> list[tuple[list[str], EmailMessage]]:
    return [
        (rcpts, message_from_bytes(raw, policy=policy.default)) for _, rcpts, raw in inbox.accepted
    ]


def to(inbox: Inbox, address: str) -> list[EmailMessage]:
    return [m for rcpts, m in messages(inbox) if address in rcpts]


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def invite_of(message: EmailMessage) -> Calendar:
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    calendar = Calendar.from_ical(part.get_payload(decode=True))
    assert part.get_param("method") == str(calendar["METHOD"])
    return calendar


def vevent(calendar: Calendar):
    (event,) = calendar.walk("VEVENT")
    return event


def link_in(message: EmailMessage, path: str) -> str:
    return re.search(rf"https?://\S+/{path}\?token=\S+", text_of(message)).group(0)


def hidden(html: str) -> dict[str, str]:
    soup = BeautifulSoup(html, "html.parser")
    return {i["name"]: i.get("value", "") for i in soup.find_all("input", type="hidden")}


def register(client: httpx.Client, name: str, email: str) -> httpx.Response:
    form = client.get("/events/cocoa-webinar/register")
    assert form.status_code == 200
    return client.post(
        "/events/cocoa-webinar/register",
        data={"csrf": hidden(form.text)["csrf"], "name": name, "email": email},
    )


# -- registration over HTTP and SMTP ---------------------------------------------------------


def test_registrant_confirms_gets_an_invite_at_the_right_hour_and_a_waiting_list_seat_moves_up(
    project: Path, inbox: Inbox, serve_web
) -> None:
    write_event(project, capacity=1)
    app: WebApp = serve_web(environ=smtp_environ(inbox.host, inbox.port))
    store = RegistrationStore(app.settings.paths.subscribers)
    with httpx.Client(base_url=app.base) as client:
        assert register(client, "Ama", "Ama@Example.com").status_code == 200
        app.drain()
        (confirm,) = to(inbox, "ama@example.com")
        assert JOIN not in text_of(confirm), "no join link before the address is confirmed"
        assert not list(confirm.iter_attachments())
        assert store.get("cocoa-webinar", "ama@example.com").state == "pending"

        # Signing up again changes nothing the owner holds.
        register(client, "Someone Else", "ama@example.com")
        app.drain()
        assert store.get("cocoa-webinar", "ama@example.com").name == "Ama"

        page = client.get(link_in(confirm, "events/confirm").replace(app.base, "/"))
        assert page.status_code == 200 and "confirmed" in page.text
        app.drain()
        invite_mail = to(inbox, "ama@example.com")[-1]
        assert JOIN in text_of(invite_mail)
        calendar = invite_of(invite_mail)
        assert str(calendar["METHOD"]) == "REQUEST"
        event = vevent(calendar)
        uid = str(event["UID"])
        assert uid and int(event["SEQUENCE"]) == 0
        assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/London"]
        assert event["DTSTART"].params["TZID"] == "Europe/London"
        assert event["DTSTART"].dt.astimezone(UTC) == STARTS, "14:00 GMT after the clocks change"
        assert "ama@example.com" in str(event["ATTENDEE"])

        # The event holds one: the next person confirmed goes on the waiting list.
        register(client, "Kofi", "kofi@example.com")
        app.drain()
        kofi_confirm = to(inbox, "kofi@example.com")[-1]
        page = client.get(link_in(kofi_confirm, "events/confirm").replace(app.base, "/"))
        assert "waiting list" in page.text
        app.drain()
        waiting = to(inbox, "kofi@example.com")[-1]
        assert JOIN not in text_of(waiting) and not list(waiting.iter_attachments())
        assert store.get("cocoa-webinar", "kofi@example.com").state == "waiting"

        # Ama cancels: the GET only asks; the POST cancels and Kofi gets the seat.
        cancel_link = link_in(invite_mail, "events/cancel").replace(app.base, "/")
        asked = client.get(cancel_link)
        assert asked.status_code == 200
        assert store.get("cocoa-webinar", "ama@example.com").state == "confirmed"
        done = client.post(cancel_link, data={"csrf": hidden(asked.text)["csrf"]})
        assert done.status_code == 200 and "cancelled" in done.text
        app.drain()
    assert store.get("cocoa-webinar", "ama@example.com").state == "cancelled"
    assert store.get("cocoa-webinar", "kofi@example.com").state == "confirmed"
    removal = invite_of(to(inbox, "ama@example.com")[-1])
    assert str(removal["METHOD"]) == "CANCEL" and str(vevent(removal)["UID"]) == uid
    promoted = to(inbox, "kofi@example.com")[-1]
    assert JOIN in text_of(promoted)
    assert str(vevent(invite_of(promoted))["UID"]) == uid


def test_a_forged_or_foreign_token_changes_no_registration(project: Path, web_app: WebApp) -> None:
    write_event(project)
    store = RegistrationStore(web_app.settings.paths.subscribers)
    store.sign_up("cocoa-webinar", "ama@example.com", "Ama", "", [], NOW)
    with httpx.Client(base_url=web_app.base) as client:
        bad = client.get("/events/confirm", params={"token": "x.y"})
        assert bad.status_code == 400
        missing = client.get("/events/not-an-event/register")
        assert missing.status_code == 404
    assert store.get("cocoa-webinar", "ama@example.com").state == "pending"


def test_suppressed_addresses_register_but_are_never_mailed(
    project: Path, inbox: Inbox, serve_web
) -> None:
    from outreach.suppression import suppressions_for

    write_event(project)
    app: WebApp = serve_web(environ=smtp_environ(inbox.host, inbox.port))
    suppressions_for(app.settings).add("gone@example.com", "opted-out", NOW)
    with httpx.Client(base_url=app.base) as client:
        answer = register(client, "Gone", "gone@example.com")
    app.drain()
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert inbox.accepted == []
    store = RegistrationStore(app.settings.paths.subscribers)
    assert store.get("cocoa-webinar", "gone@example.com") is None


# -- update and cancel invites ------------------------------------------------------------


def seated(settings: Settings, *emails: str) -> None:
    """People who confirmed on the web and got their invite then (its email settled)."""
    store = RegistrationStore(settings.paths.subscribers)
    for email in emails:
        store.sign_up("cocoa-webinar", email, email.split("@")[0].title(), "", [], NOW)
        assert store.confirm("cocoa-webinar", email, None, NOW)[1]
    for owed in store.owed("cocoa-webinar"):
        store.settle_mail(owed.mail_id)


def test_a_changed_time_sends_an_update_invite_once_with_a_higher_sequence(
    project: Path, inbox: Inbox
) -> None:
    write_event(project, capacity=10)
    settings = settings_for(project, **smtp_environ(inbox.host, inbox.port))
    seated(settings, "ama@example.com", "kofi@example.com")
    context = ActionContext(settings, NOW)
    assert InviteChanges(event_of(settings)).run(context) == [], "first release: nothing changed"
    assert inbox.accepted == []

    moved = STARTS + timedelta(days=1, hours=2)
    write_event(project, starts=moved, capacity=10, join=JOIN + "-new")
    (note,) = InviteChanges(event_of(settings)).run(context)
    assert "2 sent" in note
    for address in ("ama@example.com", "kofi@example.com"):
        (update,) = to(inbox, address)
        assert JOIN + "-new" in text_of(update)
        event = vevent(invite_of(update))
        assert int(event["SEQUENCE"]) == 1
        assert event["DTSTART"].dt.astimezone(UTC) == moved
    assert InviteChanges(event_of(settings)).run(context) == [], "released again: no resend"
    assert len(inbox.accepted) == 2

    write_event(project, starts=moved, capacity=10, join=JOIN + "-new", extra="cancelled: true")
    (note,) = InviteChanges(event_of(settings)).run(context)
    assert "Cancellations" in note and "2 sent" in note
    for address in ("ama@example.com", "kofi@example.com"):
        cancelled = invite_of(to(inbox, address)[-1])
        assert str(cancelled["METHOD"]) == "CANCEL"
        assert int(vevent(cancelled)["SEQUENCE"]) == 2
        assert str(vevent(cancelled)["UID"]) == str(vevent(invite_of(to(inbox, address)[0]))["UID"])
        assert JOIN not in cancelled.to_ical().decode()
    assert InviteChanges(event_of(settings)).run(context) == []
    assert len(inbox.accepted) == 4


# -- reminders ----------------------------------------------------------------------------

REMINDER_SCRIPT = """
import sys
from datetime import datetime
from pathlib import Path
from outreach.config import load_settings
from outreach.events.model import read_events
from outreach.events.reminders import BY_LABEL, send_reminder
settings = load_settings(Path(sys.argv[1]))
event = read_events(settings)["cocoa-webinar"]
print(send_reminder(settings, event, BY_LABEL["24h"], datetime.fromisoformat(sys.argv[2])))
"""


def test_reminders_reach_each_registrant_exactly_once_after_a_killed_send(
    project: Path, inbox: Inbox
) -> None:
    write_event(project, capacity=100)
    environ = smtp_environ(inbox.host, inbox.port)
    settings = settings_for(project, **environ)
    people = [f"reader{n:02d}@example.com" for n in range(12)]
    seated(settings, *people)
    event = event_of(settings)
    early = STARTS - timedelta(hours=24, seconds=1)
    assert due(event, early) == []
    assert "not due" in send_reminder(settings, event, BY_LABEL["24h"], early)
    assert inbox.accepted == [], "never early"
    assert next_due(event, early) == (BY_LABEL["24h"], STARTS - timedelta(hours=24))

    at = STARTS - timedelta(hours=24)
    script = project / "remind.py"
    script.write_text(REMINDER_SCRIPT)
    env = {**os.environ, **environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(script), str(project / "outreach.toml"), at.isoformat()]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    inbox.kill_pid, inbox.kill_at = process.pid, 5
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, "the sender was killed mid-send"
    assert len(inbox.accepted) == 4
    inbox.kill_at = None
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    everyone = sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts)
    assert everyone == people, "each registrant exactly once"
    for _, message in messages(inbox):
        assert JOIN in text_of(message) and "in 24 hours" in message["Subject"]
    assert SendLog(settings.paths.ledger).counts("event-reminder:cocoa-webinar:24h").pending == 0


def test_only_the_latest_due_reminder_goes_out(project: Path) -> None:
    write_event(project)
    event = event_of(settings_for(project))
    assert [r.label for r in due(event, STARTS - timedelta(minutes=30))] == ["1h"]
    assert due(event, STARTS) == [], "none once the event has started"


# -- announcements ------------------------------------------------------------------------


def test_the_announcement_waits_for_the_newsletter_gate_then_reaches_matching_subscribers_once(
    project: Path, inbox: Inbox
) -> None:
    write_event(project)
    settings = settings_for(project, **smtp_environ(inbox.host, inbox.port))
    subscribers = SubscriberStore(settings.paths.subscribers)
    for email, topics in (
        ("farm@example.com", ("food-agriculture",)),
        ("cloth@example.com", ("apparel-textiles",)),
    ):
        subscribers.sign_up(email, "", topics, "test", NOW)
        subscribers.confirm(email, NOW)
    action = AnnounceEvent(event_of(settings))
    (waiting,) = run_gated(action, ActionContext(settings, NOW))
    assert "awaits" in waiting and inbox.accepted == []
    approved = ActionContext(settings, NOW, {"newsletter": True})
    run_gated(action, approved)
    run_gated(action, approved)
    (message,) = to(inbox, "farm@example.com")
    assert len(inbox.accepted) == 1
    html = BeautifulSoup(message.get_body(("html",)).get_content(), "html.parser")
    register_link = html.find("a", string="Register")["href"]
    assert register_link.endswith("events/cocoa-webinar/register")
    assert JOIN not in message.as_string(), "the join link goes to registrants only"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


# -- the team's CalDAV calendar (radicale) ------------------------------------------------


TEAM = ("team", "")


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real CalDAV server (radicale) on loopback; any password is taken (auth type none),
    and each user may write only their own collections (its default rights)."""
    folder = tmp_path_factory.mktemp("radicale")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(folder / "collections"),
            "--auth-type",
            "none",
            "--logging-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:  # wait for the port to answer, not for a fixed time
        try:
            requests.get(base, timeout=1)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(process.stderr.read().decode()) from None
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_calendar_platform_creates_updates_and_deletes_the_event_by_uid(
    project: Path, radicale: str
) -> None:
    collection = f"{radicale}team/events-{free_port()}/"
    made = requests.request("MKCALENDAR", collection, auth=TEAM, timeout=10)
    assert made.status_code == 201, made.text
    write_event(project, capacity=10)
    settings = settings_for(
        project, OUTREACH_CALENDAR__URL=collection, OUTREACH_CALENDAR__USERNAME="team"
    )
    context = ActionContext(settings, NOW)

    def stored() -> list:
        answer = requests.request(
            "PROPFIND", collection, headers={"Depth": "1"}, auth=TEAM, timeout=10
        )
        hrefs = re.findall(r"<[^>]*href>([^<]+\.ics)</", answer.text)
        return [
            vevent(
                Calendar.from_ical(
                    requests.get(radicale.rstrip("/") + h, auth=TEAM, timeout=10).content
                )
            )
            for h in hrefs
        ]

    InviteChanges(event_of(settings)).run(context)
    (note,) = PushToCalendar(event_of(settings)).run(context)
    assert "created" in note
    (entry,) = stored()
    uid = str(entry["UID"])
    assert int(entry["SEQUENCE"]) == 0
    assert entry["DTSTART"].dt.astimezone(UTC) == STARTS

    moved = STARTS + timedelta(hours=3)
    write_event(project, starts=moved, capacity=10)
    InviteChanges(event_of(settings)).run(context)
    (note,) = PushToCalendar(event_of(settings)).run(context)
    assert "updated" in note
    (entry,) = stored()
    assert str(entry["UID"]) == uid, "one entry, updated in place"
    assert int(entry["SEQUENCE"]) == 1 and entry["DTSTART"].dt.astimezone(UTC) == moved
    assert JOIN not in entry.to_ical().decode(), "the team's calendar copy has no join link"

    write_event(project, starts=moved, capacity=10, extra="cancelled: true")
    InviteChanges(event_of(settings)).run(context)
    (note,) = PushToCalendar(event_of(settings)).run(context)
    assert "deleted" in note
    assert stored() == []


# -- erase and export ---------------------------------------------------------------------


def test_erase_removes_a_persons_registrations(project: Path) -> None:
    write_event(project)
    settings = settings_for(project)
    seated(settings, "ama@example.com", "kofi@example.com")
    done = erase(settings, "ama@example.com", NOW, "tester")
    assert done.removed["event registrations"] == 1
    store = RegistrationStore(settings.paths.subscribers)
    assert store.get("cocoa-webinar", "ama@example.com") is None
    assert store.get("cocoa-webinar", "kofi@example.com").state == "confirmed"
    raw = settings.paths.subscribers.read_bytes()
    assert b"ama@example.com" not in raw


def test_the_registrations_export_is_csv_a_spreadsheet_shows_as_text(project: Path) -> None:
    from typer.testing import CliRunner

    from outreach_cli.main import app

    write_event(project)
    settings = settings_for(project)
    store = RegistrationStore(settings.paths.subscribers)
    store.sign_up("cocoa-webinar", "ama@example.com", "=HYPERLINK(1)", "+Org", [], NOW)
    result = CliRunner().invoke(
        app,
        ["registrations", "export", "cocoa-webinar", "--config", str(project / "outreach.toml")],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["email"] == "ama@example.com"
    assert rows[0]["name"] == "'=HYPERLINK(1)" and rows[0]["organisation"] == "'+Org"


def test_release_event_on_the_command_line_sends_an_update_invite_after_a_change(
    project: Path,
) -> None:
    from typer.testing import CliRunner

    from outreach_cli.main import app

    with (project / "outreach.toml").open("a", encoding="utf-8") as config:
        config.write('\n[channels.events]\nplatforms = ["static"]\n')
    write_event(project, capacity=10)
    settings = settings_for(project)
    seated(settings, "ama@example.com")
    command = ["release", "--event", "cocoa-webinar", "--config", str(project / "outreach.toml")]
    first = CliRunner().invoke(app, command)
    assert first.exit_code == 0, first.output
    assert not list(settings.paths.outbox.rglob("*.eml")), "nothing changed yet: no mail"
    published = [p for p in settings.paths.public.rglob("*") if p.is_file()]
    assert any(p.name == "cocoa-webinar.ics" for p in published), "the event's pages went out"
    assert not [p for p in published if JOIN.encode() in p.read_bytes()], "no join link public"

    write_event(project, starts=STARTS + timedelta(hours=1), capacity=10)
    second = CliRunner().invoke(app, command)
    assert second.exit_code == 0, second.output
    assert "Update invites (SEQUENCE 1)" in second.output
    (mail,) = settings.paths.outbox.rglob("*.eml")
    update = message_from_bytes(mail.read_bytes(), policy=policy.default)
    assert int(vevent(invite_of(update))["SEQUENCE"]) == 1
    unknown = CliRunner().invoke(
        app, ["release", "--event", "nope", "--config", str(project / "outreach.toml")]
    )
    assert unknown.exit_code != 0 and "no event named 'nope'" in unknown.output


def test_the_form_never_changes_a_known_registration(project: Path) -> None:
    settings = settings_for(project)
    store = RegistrationStore(settings.paths.subscribers)
    store.sign_up("cocoa-webinar", "ama@example.com", "Ama", "Coop", ["food-agriculture"], NOW)
    assert store.confirm("cocoa-webinar", "ama@example.com", 5, NOW)[1]
    again = store.sign_up("cocoa-webinar", "AMA@example.com", "Mallory", "Other", [], NOW)
    assert (again.state, again.name, again.organisation) == ("confirmed", "Ama", "Coop")
    store.cancel("cocoa-webinar", "ama@example.com", 5, NOW)
    back = store.sign_up("cocoa-webinar", "ama@example.com", "Mallory", "", [], NOW)
    assert (back.state, back.name, back.topics) == ("pending", "Ama", ("food-agriculture",))
    assert store.confirm("cocoa-webinar", "ama@example.com", 5, NOW)[1]
    assert not store.confirm("cocoa-webinar", "ama@example.com", 5, NOW)[1], "a second click"


# -- a release of everything --------------------------------------------------------------

FUTURE = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)
"""Ahead of the machine's clock, which the command line uses: registration is open."""


def test_release_all_sends_each_changed_events_invites_calendar_and_announcement_once(
    project: Path, inbox: Inbox, radicale: str
) -> None:
    from typer.testing import CliRunner

    from outreach_cli.main import app

    collection = f"{radicale}team/events-{free_port()}/"
    assert requests.request("MKCALENDAR", collection, auth=TEAM, timeout=10).status_code == 201
    with (project / "outreach.toml").open("a", encoding="utf-8") as config:
        config.write('\n[channels.events]\nplatforms = ["static"]\n')
    environ = {
        **smtp_environ(inbox.host, inbox.port),
        "OUTREACH_CALENDAR__URL": collection,
        "OUTREACH_CALENDAR__USERNAME": "team",
    }
    write_event(project, starts=FUTURE, capacity=10)
    settings = settings_for(project, **environ)
    seated(settings, "ama@example.com")
    subscribers = SubscriberStore(settings.paths.subscribers)
    subscribers.sign_up("farm@example.com", "", ("food-agriculture",), "test", NOW)
    subscribers.confirm("farm@example.com", NOW)
    toml = str(project / "outreach.toml")

    def release_all(*extra: str) -> str:
        result = CliRunner().invoke(
            app, ["release", "--all", *extra, "--config", toml], env=environ
        )
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    first = release_all()
    assert (settings.paths.public / "events" / "cocoa-webinar.ics").is_file()
    assert "calendar: created 'cocoa-webinar'" in first
    assert "awaits the newsletter's approval" in first and inbox.accepted == []

    approved = release_all("--approve")
    (announcement,) = to(inbox, "farm@example.com")
    assert announcement["Subject"] == "Cocoa prices: what farmers keep"
    assert "calendar:" not in approved, "an unchanged event is not pushed again"
    again = release_all("--approve")
    assert "Announcement" not in again and "calendar:" not in again
    assert len(inbox.accepted) == 1, "a re-run reaches nobody again"

    moved = FUTURE + timedelta(hours=2)
    write_event(project, starts=moved, capacity=10)
    dry = release_all("--dry-run")
    assert "Would send an update invite of 'cocoa-webinar' to 1 registrant(s)." in dry
    assert len(inbox.accepted) == 1, "a dry run mails nobody"
    assert "Update invites (SEQUENCE 1)" in release_all()
    (update,) = to(inbox, "ama@example.com")
    assert int(vevent(invite_of(update))["SEQUENCE"]) == 1
    assert vevent(invite_of(update))["DTSTART"].dt.astimezone(UTC) == moved
    assert JOIN in text_of(update)
    assert "Update invites" not in release_all(), "released again: nothing resent"
    assert len(to(inbox, "ama@example.com")) == 1

    write_event(project, starts=moved, capacity=10, extra="cancelled: true")
    cancelled = release_all()
    assert "Cancellations for 'cocoa-webinar'" in cancelled
    assert "calendar: deleted 'cocoa-webinar'" in cancelled
    removal = invite_of(to(inbox, "ama@example.com")[-1])
    assert str(removal["METHOD"]) == "CANCEL" and int(vevent(removal)["SEQUENCE"]) == 2
    release_all()
    assert len(to(inbox, "ama@example.com")) == 2 and len(inbox.accepted) == 3


# -- capacity raised: the waiting list moves up ------------------------------------------


def confirm_on_the_web(client: httpx.Client, app: WebApp, inbox: Inbox, name: str, email: str):
    """Sign up and click the confirmation link, as the person would; returns the page."""
    app.clock.advance(minutes=5)
    register(client, name, email)
    app.drain()
    page = client.get(link_in(to(inbox, email)[-1], "events/confirm").replace(app.base, "/"))
    app.drain()
    return page


def release_event(settings: Settings, now: datetime = NOW) -> list[str]:
    from outreach.release import ReleaseRequest, run_release

    return run_release(ReleaseRequest(settings, now, ["event:cocoa-webinar"])).notes


def test_a_raised_capacity_seats_the_waiting_list_in_order_and_a_lowered_one_unseats_nobody(
    project: Path, inbox: Inbox, serve_web
) -> None:
    with (project / "outreach.toml").open("a", encoding="utf-8") as config:
        config.write('\n[channels.events]\nplatforms = ["static"]\n')
    write_event(project, capacity=1)
    app: WebApp = serve_web(environ=smtp_environ(inbox.host, inbox.port))
    store = RegistrationStore(app.settings.paths.subscribers)
    people = ["ama@example.com", "kofi@example.com", "efua@example.com", "yaw@example.com"]
    with httpx.Client(base_url=app.base) as client:
        for email in people[:3]:
            confirm_on_the_web(client, app, inbox, email.split("@")[0].title(), email)
        assert [store.get("cocoa-webinar", e).state for e in people[:3]] == [
            "confirmed",
            "waiting",
            "waiting",
        ]
        before = {e: len(to(inbox, e)) for e in people[:3]}

        write_event(project, capacity=2)
        notes = release_event(app.settings)
        assert "Seated 1 from the waiting list of 'cocoa-webinar' (capacity 2)." in notes
        assert store.get("cocoa-webinar", "kofi@example.com").state == "confirmed", "first waiting"
        assert store.get("cocoa-webinar", "efua@example.com").state == "waiting"
        (invite,) = to(inbox, "kofi@example.com")[before["kofi@example.com"] :]
        assert "A place came free" in text_of(invite) and JOIN in text_of(invite)
        assert str(invite_of(invite)["METHOD"]) == "REQUEST"
        assert len(to(inbox, "efua@example.com")) == before["efua@example.com"]
        release_event(app.settings)
        assert len(to(inbox, "kofi@example.com")) == before["kofi@example.com"] + 1, "once"

        # Raised in the file but not released yet: a newcomer confirming now does not jump
        # the queue; the person waiting longest takes the seat.
        write_event(project, capacity=3)
        page = confirm_on_the_web(client, app, inbox, "Yaw", "yaw@example.com")
        assert "waiting list" in page.text
        assert store.get("cocoa-webinar", "efua@example.com").state == "confirmed"
        assert store.get("cocoa-webinar", "yaw@example.com").state == "waiting"
        efua = to(inbox, "efua@example.com")[-1]
        assert "A place came free" in text_of(efua) and JOIN in text_of(efua)
        mails = len(inbox.accepted)

        write_event(project, capacity=1)
        assert not [n for n in release_event(app.settings) if "Seated" in n]
        assert [store.get("cocoa-webinar", e).state for e in people] == [
            "confirmed",
            "confirmed",
            "confirmed",
            "waiting",
        ], "a lowered capacity never removes a confirmed seat"
        assert len(inbox.accepted) == mails, "and mails nobody"


# -- registrant emails survive a crash of the web app ------------------------------------


def test_an_invite_cut_off_by_a_crashed_web_app_arrives_once_after_a_restart(
    project: Path, inbox: Inbox, serve_web
) -> None:
    from outreach.events.links import registration_link
    from outreach.secrets_store import link_secret

    write_event(project, starts=FUTURE, capacity=5)
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    environ = {**smtp_environ(inbox.host, inbox.port), "OUTREACH_NEWSLETTER__WEB_BASE_URL": base}
    settings = settings_for(project, **environ)
    (settings.paths.public).mkdir(parents=True, exist_ok=True)
    (settings.paths.public / "index.html").write_text("<h1>site</h1>")
    RegistrationStore(settings.paths.subscribers).sign_up(
        "cocoa-webinar", "ama@example.com", "Ama", "", [], NOW
    )
    link = registration_link(
        settings,
        link_secret(settings),
        "event-confirm",
        "cocoa-webinar",
        "ama@example.com",
        datetime.now(UTC),
    )
    command = [sys.executable, "-m", "outreach_cli", "serve", "--port", str(port)]
    command += ["--config", str(project / "outreach.toml")]
    server = subprocess.Popen(
        command, env={**os.environ, **environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for the port to answer, not for a fixed time
            try:
                requests.get(base, timeout=1)
                break
            except requests.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(server.stderr.read().decode()) from None
        inbox.kill_pid, inbox.kill_at = server.pid, inbox.seen + 1
        # The seat is taken, then the app dies while the server takes the invite (the
        # answer may not have left before the crash).
        with contextlib.suppress(requests.ConnectionError):
            requests.get(link, timeout=30)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == -signal.SIGKILL, "the web app was killed mid-send"
    inbox.kill_at = None
    store = RegistrationStore(settings.paths.subscribers)
    assert store.get("cocoa-webinar", "ama@example.com").state == "confirmed"
    assert inbox.accepted == [], "the invite was not accepted before the crash"

    restarted: WebApp = serve_web(environ=smtp_environ(inbox.host, inbox.port))
    restarted.drain()  # a start sends what the crash left owed
    (invite,) = to(inbox, "ama@example.com")
    assert JOIN in text_of(invite) and str(invite_of(invite)["METHOD"]) == "REQUEST"
    serve_web(environ=smtp_environ(inbox.host, inbox.port)).drain()
    assert release_event_owed(settings) == [], "nothing owed any more"
    assert len(inbox.accepted) == 1, "restarts and releases mail nobody twice"


def release_event_owed(settings: Settings) -> list[str]:
    from outreach.events.outbox import send_owed

    return send_owed(settings, dict(read_events(settings)))


# -- topic consent: past registrants hear of new events on their topics -------------------


def write_other_event(project: Path, event_id: str, title: str) -> None:
    """Another event on the same topic (food-agriculture), open for registration."""
    text = (project / "events" / "cocoa-webinar.md").read_text(encoding="utf-8")
    text = text.replace("id: cocoa-webinar", f"id: {event_id}").replace(
        'title: "Cocoa prices: what farmers keep"', f'title: "{title}"'
    )
    (project / "events" / f"{event_id}.md").write_text(text, encoding="utf-8")


def sign_up_on_the_web(
    client: httpx.Client, app: WebApp, inbox: Inbox, email: str, topics: list[str], confirm: bool
) -> None:
    form = client.get("/events/cocoa-webinar/register")
    answer = client.post(
        "/events/cocoa-webinar/register",
        data={
            "csrf": hidden(form.text)["csrf"],
            "name": "Reader",
            "email": email,
            "topics": topics,
        },
    )
    assert answer.status_code == 200
    app.drain()
    if confirm:
        client.get(link_in(to(inbox, email)[-1], "events/confirm").replace(app.base, "/"))
        app.drain()


def test_an_announcement_reaches_consenting_past_registrants_and_subscribers_once_each(
    project: Path, inbox: Inbox, serve_web
) -> None:
    from outreach.release import ReleaseRequest, run_release
    from outreach.suppression import suppressions_for

    with (project / "outreach.toml").open("a", encoding="utf-8") as config:
        config.write('\n[channels.events]\nplatforms = ["static"]\n')
    write_event(project, capacity=100)
    app: WebApp = serve_web(environ=smtp_environ(inbox.host, inbox.port))
    settings = app.settings
    food, cloth = ["food-agriculture"], ["apparel-textiles"]
    with httpx.Client(base_url=app.base) as client:
        for email, topics, confirm in (
            ("both@example.com", food, True),
            ("consent@example.com", food, True),
            ("declined@example.com", [], True),
            ("other@example.com", cloth, True),
            ("unsub@example.com", food, True),
            ("suppressed@example.com", food, True),
            ("erased@example.com", food, True),
            ("unconfirmed@example.com", food, False),
        ):
            sign_up_on_the_web(client, app, inbox, email, topics, confirm)
    subscribers = SubscriberStore(settings.paths.subscribers)
    for email in ("both@example.com", "unsub@example.com", "reader@example.com"):
        subscribers.sign_up(email, "", ("food-agriculture",), "test", NOW)
        subscribers.confirm(email, NOW)
    subscribers.set_status("unsub@example.com", "unsubscribed", NOW)
    suppressions_for(settings).add("suppressed@example.com", "bounced", NOW)
    erase(settings, "erased@example.com", NOW, "tester")

    def announced(event_id: str, title: str) -> list[str]:
        write_other_event(project, event_id, title)
        before = len(inbox.accepted)
        request = ReleaseRequest(
            settings, NOW, [f"event:{event_id}"], approvals={"newsletter": True}
        )
        run_release(request)
        run_release(request)  # released again: nobody mailed twice
        got = [(rcpts, m) for rcpts, m in messages(inbox)[before:]]
        assert all(m["Subject"] == title for _, m in got)
        return sorted(r for rcpts, _ in got for r in rcpts)

    reached = announced("cocoa-follow-up", "Cocoa prices: the follow-up")
    assert reached == ["both@example.com", "consent@example.com", "reader@example.com"], (
        "one email per address; never to those who declined, chose other topics, "
        "unsubscribed, were suppressed or erased, or never confirmed"
    )

    # The one-click unsubscribe in the announcement stops the next one for a registrant too.
    (mail,) = [m for m in to(inbox, "consent@example.com") if "follow-up" in m["Subject"]]
    link = re.search(r"<(https?://[^>]+)>", mail["List-Unsubscribe"]).group(1)
    done = httpx.post(link, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    again = announced("cocoa-third", "Cocoa prices: a third look")
    assert again == ["both@example.com", "reader@example.com"]


@pytest.mark.prefect
def test_the_release_of_everything_flow_sends_a_changed_events_update_invite_once(
    prefect_api: str, project: Path, inbox: Inbox, flow_clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.release import release_findings

    flow_clock(NOW)
    for name, value in smtp_environ(inbox.host, inbox.port).items():
        monkeypatch.setenv(name, value)
    with (project / "outreach.toml").open("a", encoding="utf-8") as config:
        config.write('\n[channels.events]\nplatforms = ["static"]\n')
    write_event(project, capacity=10)
    settings = settings_for(project)
    seated(settings, "ama@example.com")
    toml = str(project / "outreach.toml")
    release_findings(config=toml)  # every kind: the findings and the event
    assert (settings.paths.public / "events" / "cocoa-webinar.ics").is_file()
    assert inbox.accepted == [], "nothing changed yet"

    write_event(project, starts=STARTS + timedelta(hours=1), capacity=10)
    report = release_findings(config=toml)
    assert "Update invites (SEQUENCE 1) for 'cocoa-webinar': 1 sent now, 1 of 1 in all." in (
        report.notes
    )
    (update,) = to(inbox, "ama@example.com")
    assert int(vevent(invite_of(update))["SEQUENCE"]) == 1
    release_findings(config=toml)
    assert len(inbox.accepted) == 1, "a re-run sends nothing again"


@pytest.mark.prefect
def test_a_release_of_everything_schedules_each_reminder_once_at_its_time(
    prefect_api: str, project: Path, flow_clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a server every release that publishes the event's page (not only release-event)
    schedules its 24h and 1h reminders as event-reminders runs at their time; a re-run
    reuses them (idempotency keys); a moved event gets runs at its new times."""
    from prefect.client.orchestration import get_client

    from flows.events import event_reminders
    from flows.release import release_findings

    flow_clock(NOW)
    monkeypatch.setenv("OUTREACH_LIMITS", "off")
    with (project / "outreach.toml").open("a", encoding="utf-8") as config:
        config.write('\n[channels.events]\nplatforms = ["static"]\n')
    write_event(project, capacity=10)
    toml = str(project / "outreach.toml")
    event_reminders.to_deployment(name="event-reminders").apply()

    def scheduled(notes: list[str]) -> dict[str, str]:
        found = {}
        for note in notes:
            if match := re.match(r"Scheduled the (\w+) reminder of 'cocoa-webinar' .*\(run (.+)\)\.", note):  # fmt: skip
                found[match[1]] = match[2]
        return found

    first = scheduled(release_findings(config=toml).notes)
    assert set(first) == {"24h", "1h"}
    again = scheduled(release_findings(config=toml).notes)
    assert again == first, "a release run twice schedules each reminder once"
    with get_client(sync_client=True) as client:
        for label, before in (("24h", timedelta(hours=24)), ("1h", timedelta(hours=1))):
            run = client.read_flow_run(first[label])
            assert run.state.is_scheduled()
            assert run.expected_start_time == STARTS - before
            assert run.parameters == {
                "event_id": "cocoa-webinar",
                "reminder": label,
                "config": toml,
            }

    write_event(project, starts=STARTS + timedelta(hours=2), capacity=10)
    moved = scheduled(release_findings(config=toml).notes)
    assert set(moved) == {"24h", "1h"} and not set(moved.values()) & set(first.values())
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(moved["1h"]).expected_start_time == STARTS + timedelta(hours=1)


def test_without_a_server_a_release_says_when_to_send_each_reminder(project: Path) -> None:
    from outreach.release import ReleaseRequest, run_release
    from outreach.runner import PlainRunner

    with (project / "outreach.toml").open("a", encoding="utf-8") as config:
        config.write('\n[channels.events]\nplatforms = ["static"]\n')
    write_event(project, capacity=10)
    settings = settings_for(project)
    report = run_release(ReleaseRequest(settings, NOW, ["event:cocoa-webinar"]), PlainRunner())
    due_24h = (STARTS - timedelta(hours=24)).isoformat()
    assert (
        f"The 24h reminder of 'cocoa-webinar' is due at {due_24h}: run 'outreach events "
        "remind cocoa-webinar' then (a server schedules it)." in report.notes
    )


@pytest.mark.parametrize("cancelled", [False, True], ids=["on", "called-off"])
def test_an_invite_still_owed_when_the_event_is_called_off_is_never_sent(
    project: Path, inbox: Inbox, cancelled: bool
) -> None:
    """A web app that crashed before sending an invite leaves it owed; if the team then
    cancels the event, the release sends the CANCEL only: the old invite would put the
    called-off event back in the person's calendar."""
    from outreach.events.actions import FillSeats

    write_event(project, capacity=5, extra="cancelled: true" if cancelled else "")
    settings = settings_for(project, **smtp_environ(inbox.host, inbox.port))
    store = RegistrationStore(settings.paths.subscribers)
    store.sign_up("cocoa-webinar", "ama@example.com", "Ama", "", [], NOW)
    assert store.confirm("cocoa-webinar", "ama@example.com", None, NOW)[1]
    assert [o.kind for o in store.owed("cocoa-webinar")] == ["invite"], "the crash left it owed"

    FillSeats(event_of(settings)).run(ActionContext(settings, NOW))
    sent = [str(m["Subject"]) for _, m in messages(inbox)]
    assert store.owed("cocoa-webinar") == [], "settled either way"
    if cancelled:
        assert sent == []
    else:
        assert len(sent) == 1 and "Cocoa prices" in sent[0]


def test_a_confirmation_email_sent_days_late_carries_a_link_that_still_works(
    project: Path, inbox: Inbox
) -> None:
    """A crash left the confirmation owed; it goes out ten days later (the link's validity is
    shorter than that): its link is signed when it is sent, so the person can still confirm."""
    from urllib.parse import parse_qs, urlsplit

    from outreach.events.links import read_registration_token
    from outreach.events.outbox import send_owed
    from outreach.secrets_store import link_secret
    from outreach.tokens import MAX_AGE

    write_event(project, starts=FUTURE, capacity=5)
    settings = settings_for(project, **smtp_environ(inbox.host, inbox.port))
    store = RegistrationStore(settings.paths.subscribers)
    store.sign_up("cocoa-webinar", "ama@example.com", "Ama", "", [], NOW)
    store.owe_mail("cocoa-webinar", "ama@example.com", "confirm", NOW)
    late = NOW + timedelta(days=10)
    assert MAX_AGE["event-confirm"] < late - NOW, "late enough for a link signed when owed"
    send_owed(settings, dict(read_events(settings)), now=late)
    (email,) = to(inbox, "ama@example.com")
    token = parse_qs(urlsplit(link_in(email, "events/confirm")).query)["token"][0]
    secret = link_secret(settings)
    at_click = late + timedelta(hours=2)
    assert read_registration_token(secret, "event-confirm", token, at_click)[:2] == (
        "cocoa-webinar",
        "ama@example.com",
    )
