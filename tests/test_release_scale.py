"""What keeps a large release fast: the ledger's log is synced into its file once per release,
not at every connection close, and a batch is committed once (records and render keys)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from outreach.channels.base import Deliverable
from outreach.config import Settings
from outreach.ledger import Ledger
from outreach.platforms.base import Batch
from outreach.platforms.static import StaticSite
from outreach.release import run_release
from outreach.release_steps import ChannelPlan, publish_stage
from outreach.request import ReleaseRequest

WHEN = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_ledger_log_is_kept_while_held_open_and_folded_in_once_at_the_end(
    tmp_path: Path,
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    log = tmp_path / "ledger.sqlite-wal"
    with ledger.transaction():
        ledger.record("a", "blog", "static", "blog/a/index.html", "h1", None, WHEN)
    assert not log.exists(), "without a connection left open, closing folds the log in"
    with ledger.held_open():
        for number in range(3):
            with ledger.transaction():
                ledger.record("a", "blog", "static", f"blog/a/{number}.html", "h", None, WHEN)
            assert log.exists() and log.stat().st_size > 0, "closed without a checkpoint"
        assert set(Ledger(tmp_path / "ledger.sqlite").items("a", "blog", "static")) == {
            "blog/a/index.html", "blog/a/0.html", "blog/a/1.html", "blog/a/2.html"
        }  # fmt: skip
    assert not log.exists(), "folded into the ledger file when the release lets go"
    assert len(Ledger(tmp_path / "ledger.sqlite").items("a", "blog", "static")) == 4


def test_a_batchs_render_keys_are_committed_with_its_records(settings: Settings) -> None:
    """One commit per batch: the keys join the records' transaction (each commit is a disk
    flush), and a rerun keeps every page (the keys describe what is out there)."""
    inside: list[bool] = []
    original = Ledger.record_render_keys

    def spy(self: Ledger, channel: str, keys: dict) -> None:
        inside.append(self._shared is not None)
        original(self, channel, keys)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Ledger, "record_render_keys", spy)
        run_release(ReleaseRequest(settings, WHEN, channels=["blog"], batch_size=1))
    assert len(inside) >= 3 and all(inside), "recorded in the publishing transaction"
    again = run_release(ReleaseRequest(settings, WHEN, channels=["blog"], batch_size=1))
    assert again.receipts and not again.changed


def test_render_keys_wait_until_the_last_of_a_channels_platforms_took_the_files(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Mirror(StaticSite):
        name = "s3"  # a second platform of the channel, writing to another folder

    blog = settings.channel("blog").model_copy(update={"platforms": ["static", "s3"]})
    monkeypatch.setattr(type(settings), "channel", lambda self, name: blog)
    ledger = Ledger(settings.paths.ledger)
    plan = ChannelPlan("blog", site_wide=False)
    plan.batches.append(Batch("blog", "a", [Deliverable("blog/a/index.html", b"a", "a")]))
    plan.render_keys[("a", "")] = "key-a"
    first = StaticSite(tmp_path / "one", "https://example.org/")
    publish_stage(settings, [plan], first, ledger, WHEN, site_wide=False)
    assert ledger.render_keys("blog") == {}, "not before every platform has the files"
    publish_stage(settings, [plan], Mirror(tmp_path / "two", "https://example.org/"), ledger,
                  WHEN, site_wide=False)  # fmt: skip
    assert ledger.render_keys("blog") == {("a", ""): "key-a"}


def test_each_body_is_rendered_once_for_its_page_and_its_feed_entry(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import feedparser

    from outreach.channels import blog
    from outreach.markdown import render_markdown

    rendered: list[str] = []

    def counting(text: str) -> str:
        rendered.append(text)
        return render_markdown.__wrapped__(text)

    monkeypatch.setattr(blog, "render_markdown", counting)
    run_release(ReleaseRequest(settings, WHEN, channels=["blog"], batch_size=1))
    feed = feedparser.parse((settings.paths.public / "feed.atom").read_bytes())
    assert len(feed.entries) >= 2 and all(entry.content[0].value for entry in feed.entries)
    assert len(rendered) == len(set(rendered)) == len(feed.entries), "each body once"
