"""A new kind of publication and a new channel with an after-publish hook, added from test code
alone: the release sequence runs them without being edited."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from conftest import NOW
from outreach.actions import ActionContext, HookContext
from outreach.channels import register_channel, unregister_channel
from outreach.channels.base import BaseChannel, Deliverable, Site
from outreach.config import ChannelSettings, Settings
from outreach.kinds import Kind, register_kind, unregister_kind
from outreach.release import ReleaseError, ReleaseRequest, run_release


@dataclass(frozen=True)
class Note:
    id: str
    text: str
    published: datetime
    public_from: datetime

    def is_public(self, now: datetime) -> bool:
        return now >= self.public_from


SENT: list[str] = []
NOTES = {
    # The same id as a sample finding: kinds keep their ids apart in the ledger.
    "alpha-cocoa-prices": Note("alpha-cocoa-prices", "a note", NOW, NOW),
    "later": Note("later", "not yet", NOW, datetime(2030, 1, 1, tzinfo=UTC)),
}


@dataclass(frozen=True)
class Announce:
    """A throwaway after-publish action: records what it was asked to announce."""

    ids: tuple[str, ...]
    gate: ClassVar[str | None] = None

    def awaiting(self) -> str:
        return ""

    def run(self, context: ActionContext) -> list[str]:
        SENT.extend(self.ids)
        return [f"announced {', '.join(self.ids)}"]


class NotesChannel(BaseChannel):
    name: ClassVar[str] = "notes"
    public: ClassVar[bool] = True
    kinds: ClassVar[frozenset[str]] = frozenset({"note"})

    def render_finding(self, finding: Note, site: Site) -> list[Deliverable]:
        return [Deliverable(f"notes/{finding.id}.txt", finding.text.encode(), finding.id)]

    def render_site(self, site: Site) -> list[Deliverable]:
        listing = "\n".join(note.id for note in site.listed) + "\n"
        return [Deliverable("notes/index.txt", listing.encode())]

    def after_publish(self, context: HookContext) -> list[Announce]:
        return [Announce(tuple(note.id for note in context.released))]


@pytest.fixture
def notes_settings(settings: Settings) -> Iterator[Settings]:
    register_kind(Kind("note", lambda _: NOTES))
    register_channel(NotesChannel())
    SENT.clear()
    channels = {**settings.channels, "notes": ChannelSettings(platforms=["static"])}
    try:
        yield settings.model_copy(update={"channels": channels})
    finally:
        unregister_channel("notes")
        unregister_kind("note")


def test_a_new_kind_and_channel_release_without_editing_the_engine(
    notes_settings: Settings,
) -> None:
    report = run_release(ReleaseRequest(notes_settings, NOW, channels=["notes", "blog"]))
    public = notes_settings.paths.public
    assert (public / "notes/alpha-cocoa-prices.txt").read_text() == "a note"
    assert not (public / "notes/later.txt").exists(), "held until its date, like a finding"
    assert (public / "notes/index.txt").read_text() == "alpha-cocoa-prices\n"
    assert (public / "blog/alpha-cocoa-prices/index.html").is_file(), "findings still released"
    # Held under its ledger key, so the run scheduled for its date releases the note.
    assert [h.finding_id for h in report.held if h.channel == "notes"] == ["note:later"]
    assert SENT == ["alpha-cocoa-prices"]
    assert "announced alpha-cocoa-prices" in report.notes
    with sqlite3.connect(notes_settings.paths.ledger) as ledger:
        keys = {row[0] for row in ledger.execute("SELECT finding_id FROM publications")}
    assert {"note:alpha-cocoa-prices", "alpha-cocoa-prices"} <= keys, "no collision across kinds"


def test_a_release_names_another_kinds_publication_by_kind_and_id(
    notes_settings: Settings,
) -> None:
    run_release(ReleaseRequest(notes_settings, NOW, ids=["note:alpha-cocoa-prices"]))
    public = notes_settings.paths.public
    assert (public / "notes/alpha-cocoa-prices.txt").is_file()
    assert not (public / "blog/alpha-cocoa-prices/index.html").exists(), "only the note"
    with pytest.raises(ReleaseError, match="no note with id 'missing'"):
        run_release(ReleaseRequest(notes_settings, NOW, ids=["note:missing"]))


def test_an_invalid_publication_of_any_kind_stops_the_release(settings: Settings) -> None:
    def broken(_: Settings) -> dict[str, Note]:
        raise ReleaseError("notes/bad.md: field 'published' is missing; add a date")

    register_kind(Kind("note", broken))
    try:
        with pytest.raises(ReleaseError, match=r"notes/bad\.md: field 'published'"):
            run_release(ReleaseRequest(settings, NOW, channels=["blog"]))
    finally:
        unregister_kind("note")
    assert not (settings.paths.public / "blog").exists()
