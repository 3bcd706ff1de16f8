"""What keeps a large release fast: the ledger's log is synced into its file once per release,
not at every connection close."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from outreach.ledger import Ledger

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
