"""Who can read what the pipeline writes: state and outbox for the owner only (0600 files in
0700 folders), the site for everyone (0644 files in 0755 folders), whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from outreach.campaign import prepare_send, send_all
from outreach.config import Settings, load_settings
from outreach.ledger import Ledger
from outreach.newsletter import finding_issue
from outreach.press.pitch import pitch_plan_for, send_pitches
from outreach.release import load_catalog, release
from outreach.sending import SendLog
from outreach.subscribers import SubscriberStore

NOW = datetime(2026, 11, 29, tzinfo=UTC)
FINDING = "farm-gate-to-fob"
"""Has an episode: the press kit's clip masters it into the audio cache."""


@pytest.fixture(params=[0o022, 0o077], ids=["umask-022", "umask-077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    """Every folder and file below ``root`` (and root itself) with its permission bits."""
    found = {".": mode(root)}
    for path in root.rglob("*"):
        found[path.relative_to(root).as_posix()] = mode(path)
    return found


def wrong(found: dict[str, int], file_mode: int, folder_mode: int, root: Path) -> list[str]:
    return [
        f"{name}: {oct(bits)}"
        for name, bits in found.items()
        if bits != (folder_mode if (root / name).is_dir() else file_mode)
    ]


def test_state_and_outbox_are_owner_only_and_the_site_stays_readable(
    umask: int, sample_project: Path
) -> None:
    settings = load_settings(sample_project / "outreach.toml", environ={})
    release(settings, [FINDING], ["blog", "press"], NOW)
    finding = load_catalog(settings)[FINDING]
    store = SubscriberStore(settings.paths.subscribers)
    store.sign_up("reader@example.com", "Reader", finding.topics[:1], "test", NOW)
    store.confirm("reader@example.com", NOW)
    send_all(prepare_send(finding_issue(finding), settings, NOW), settings, NOW)
    ledger = Ledger(settings.paths.ledger)
    plan, _, _ = pitch_plan_for(finding, settings, ledger, NOW)
    assert plan.pitches, "the sample finding has journalists to pitch"
    send_pitches(plan, settings, ledger, NOW)

    state, outbox, public = settings.paths.state, settings.paths.outbox, settings.paths.public
    # SQLite's companion files exist while a connection is open: hold one on each database.
    with (
        ledger.transaction(),
        SendLog(settings.paths.ledger).connect(),
        sqlite3.connect(settings.paths.subscribers) as subscribers,
    ):
        ledger.record("x", "x", "x", "x", "x", None, NOW)
        subscribers.execute("PRAGMA journal_mode=WAL")
        subscribers.execute("CREATE TABLE IF NOT EXISTS touched (x)")
        found = modes_under(state)
    expected = {
        "ledger.sqlite",
        "ledger.sqlite-wal",
        "ledger.sqlite-shm",
        "subscribers.sqlite",
        "subscribers.sqlite-wal",
        "subscribers.sqlite-shm",
        "press-secret",
        "link-secret",
        "cache/audio",
    }
    assert expected <= set(found), sorted(found)
    assert any(name.endswith(".mp3") for name in found), "the mastered episode is cached"
    assert wrong(found, 0o600, 0o700, state) == []

    outbox_modes = modes_under(outbox)
    assert sum(name.endswith(".eml") for name in outbox_modes) == 1 + len(plan.pitches)
    assert wrong(outbox_modes, 0o600, 0o700, outbox) == []

    public_modes = modes_under(public)
    assert f"blog/{FINDING}/index.html" in public_modes
    assert wrong(public_modes, 0o644, 0o755, public) == []


def test_files_an_older_version_left_readable_are_tightened_when_opened(
    settings: Settings,
) -> None:
    state = settings.paths.state
    previous = os.umask(0o022)
    try:
        state.mkdir()
        for path in (settings.paths.ledger, settings.paths.subscribers):
            with sqlite3.connect(path) as connection:  # 0644, as before the fix
                connection.execute("CREATE TABLE t (x)")
            for suffix in ("-wal", "-shm", "-journal"):
                path.with_name(path.name + suffix).write_bytes(b"")
        (settings.paths.outbox / "newsletter").mkdir(parents=True)
        (settings.paths.outbox / "newsletter" / "old.eml").write_bytes(b"old")
    finally:
        os.umask(previous)
    assert mode(settings.paths.ledger) == 0o644 and mode(state) == 0o755

    Ledger(settings.paths.ledger)
    SubscriberStore(settings.paths.subscribers)
    assert wrong(modes_under(state), 0o600, 0o700, state) == []

    from outreach.mail_transport import OutboxTransport

    OutboxTransport(settings.paths.outbox).send(b"new", "reader@example.com", "newsletter:x:r")
    assert mode(settings.paths.outbox) == 0o700, "older messages are closed off by their folder"
    assert mode(settings.paths.outbox / "newsletter" / "x" / "reader@example.com.eml") == 0o600
