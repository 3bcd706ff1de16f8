"""A user upgrading the pipeline keeps their state: the ledger and the subscriber store made by
the previous release (tests/fixtures/state-v1, see tests/make_state_v1.py) are upgraded in place
by the new code, every row kept, and releasing again re-publishes, re-pitches and re-sends
nothing."""

from __future__ import annotations

import shutil
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

from make_state_v1 import SEND_ID, fixture_project, fixture_settings

from conftest import FIXTURES, NOW
from outreach.campaign import prepare_send, send_all
from outreach.ledger import Ledger
from outreach.newsletter import finding_issue
from outreach.press.pitch import pitch_plan_for, send_pitches
from outreach.release import load_catalog, release
from outreach.sending import SendLog
from outreach.subscribers import SubscriberStore

STATE_V1 = FIXTURES / "state-v1"
TABLES = {
    "ledger.sqlite": ("publications", "renders", "sends", "send_recipients"),
    "subscribers.sqlite": ("subscribers", "web_mail"),
}


def every_row(path: Path, tables: tuple[str, ...], *, immutable: bool = False) -> dict:
    """Each table's rows, sorted; ``immutable`` reads a file without touching it or its folder."""
    uri = f"file:{path}?mode=ro" + ("&immutable=1" if immutable else "")
    with sqlite3.connect(uri, uri=True) as connection:
        found = {
            table: sorted(connection.execute(f"SELECT * FROM {table}").fetchall())
            for table in tables
        }
    connection.close()
    return found


def test_state_from_the_previous_release_is_upgraded_in_place_with_nothing_lost(
    tmp_path: Path,
) -> None:
    settings = fixture_settings(fixture_project(tmp_path / "project"))
    state = settings.paths.state
    before = {}
    for name, tables in TABLES.items():
        before[name] = every_row(STATE_V1 / name, tables, immutable=True)
        assert all(before[name].values()), f"every table of {name} has rows to keep"
        shutil.copyfile(STATE_V1 / name, state / name)

    ledger = Ledger(settings.paths.ledger)
    log = SendLog(settings.paths.ledger)
    subscribers = SubscriberStore(settings.paths.subscribers)

    for name, tables in TABLES.items():
        assert every_row(state / name, tables) == before[name], f"{name} lost or changed rows"
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600
    # The audit log lives in the ledger file: opening it there adds its (empty) store,
    # and so do the platforms' remote marks (outreach.remote_marks).
    assert _versions(settings.paths.ledger) == {
        ("audit", 1),
        ("audit", 2),
        ("ledger", 1),
        ("remote_marks", 1),
        ("sends", 1),
    }
    assert _versions(settings.paths.subscribers) == {("subscribers", 1), ("subscribers", 2)}

    # Subscribers: every status and consent record as it was, and the store still works.
    assert [s.email for s in subscribers.recipients(("food-agriculture",))] == [
        "both@example.com",
        "food1@example.com",
        "food2@example.com",
    ]
    imported = subscribers.get("imported@example.com")
    assert imported is not None and imported.status == "confirmed"
    assert (imported.consent_at, imported.consent_source) == (
        "2025-03-04T10:00:00+00:00",
        "conference list",
    )
    assert {e: subscribers.get(e).status for e in ("left@example.com", "bounced@example.com")} == {
        "left@example.com": "unsubscribed",
        "bounced@example.com": "bounced",
    }
    _, claimed = subscribers.sign_up_and_claim(
        "pending@example.com",
        "P",
        ("food-agriculture",),
        "form",
        NOW + timedelta(minutes=10),
        (timedelta(hours=1)),
    )
    assert not claimed, "the sign-up mail sent before the upgrade still counts"
    subscribers.sign_up("new@example.com", "New", ("food-agriculture",), "form", NOW)
    assert subscribers.confirm("new@example.com", NOW)

    # Releasing again: the site's files as the previous release left them (rendered in a
    # second copy of the project: output is deterministic), then nothing is published again.
    scratch = fixture_settings(fixture_project(tmp_path / "scratch"))
    release(scratch, None, None, NOW)
    shutil.copytree(scratch.paths.public, settings.paths.public)
    again = release(settings, None, None, NOW)
    assert again.receipts and again.changed == [], again.summary()
    assert ledger.released("blog") == {"alpha-cocoa-prices", "beta-cotton-traceability"}

    catalog = load_catalog(settings)
    already = {}
    for finding_id in sorted(catalog):
        plan, _, _ = pitch_plan_for(catalog[finding_id], settings, ledger, NOW)
        assert plan.pitches == [], f"{finding_id} would be pitched again"
        assert send_pitches(plan, settings, ledger, NOW).sent == []
        already[finding_id] = plan.already_pitched
    assert already == {
        "alpha-cocoa-prices": ["ama@example.com"],
        "beta-cotton-traceability": ["priya@example.com"],
        "gamma-embargoed-packaging": ["lena@example.com"],
    }

    prepared = prepare_send(finding_issue(catalog["alpha-cocoa-prices"]), settings, NOW)
    assert (prepared.send_id, prepared.newly_frozen, prepared.pending_count) == (SEND_ID, False, 0)
    assert send_all(prepared, settings, NOW).sent == 0
    counts = log.counts(SEND_ID)
    assert (counts.total, counts.sent, counts.pending) == (4, 3, 0)
    assert not settings.paths.outbox.exists(), "no pitch or newsletter written again"


def _versions(path: Path) -> set[tuple[str, int]]:
    with sqlite3.connect(path) as connection:
        found = set(connection.execute("SELECT store, version FROM schema_migrations"))
    connection.close()
    return found
