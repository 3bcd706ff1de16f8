"""The static-site platform: atomic writes, idempotent publishing, stale files removed."""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from outreach import files
from outreach.channels.base import Deliverable
from outreach.config import Settings
from outreach.files import atomic_write
from outreach.ledger import Ledger
from outreach.platforms.base import Batch
from outreach.platforms.static import StaticSite, UnsafePath
from outreach.release import build_preview

WHEN = datetime(2026, 6, 1, tzinfo=UTC)


def test_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "feed.atom"
    atomic_write(target, b"old complete feed")

    def broken_sync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fdatasync", broken_sync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new feed that never lands")
    assert target.read_bytes() == b"old complete feed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed.atom"]


def test_a_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    versions = [bytes([65 + n]) * 2_000_000 for n in range(4)]
    atomic_write(target, versions[0])
    seen: set[bytes] = set()
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.add(target.read_bytes())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round_number in range(40):
            atomic_write(target, versions[round_number % len(versions)])
    finally:
        done.set()
        thread.join()
    assert seen <= set(versions), "a reader saw a file that was neither the old nor the new one"
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_paths_outside_the_site_are_refused(tmp_path: Path) -> None:
    site = StaticSite(tmp_path / "public", "https://example.org/")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    for bad in ("../escape.html", "/etc/passwd", "blog/../../x", "", "./"):
        with pytest.raises(UnsafePath):
            site.target(bad)
        # Publishing names its files as text, not through ``target``: the same refusal.
        with pytest.raises(UnsafePath):
            site.publish(Batch("blog", "x", [Deliverable(bad, b"<p>x</p>", "x")]), ledger, WHEN)
    assert not (tmp_path / "escape.html").exists() and not (tmp_path / "x").exists()
    assert ledger.items("x", "blog", "static") == {}


def test_second_publish_changes_nothing_and_stale_files_go(tmp_path: Path) -> None:
    site = StaticSite(tmp_path / "public", "https://example.org/")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    first = Batch(
        "blog",
        "x",
        [Deliverable("blog/x/index.html", b"v1", "x"), Deliverable("blog/x/old.jpg", b"img", "x")],
    )
    assert {r.action for r in site.publish(first, ledger, WHEN)} == {"created"}
    mtime = (tmp_path / "public/blog/x/index.html").stat().st_mtime_ns

    again = site.publish(first, ledger, WHEN)
    assert {r.action for r in again} == {"unchanged"}
    assert (tmp_path / "public/blog/x/index.html").stat().st_mtime_ns == mtime

    edited = Batch(
        "blog",
        "x",
        [Deliverable("blog/x/index.html", b"v2", "x"), Deliverable("blog/x/new.jpg", b"img", "x")],
    )
    actions = {r.item: r.action for r in site.publish(edited, ledger, WHEN)}
    assert actions == {
        "blog/x/index.html": "updated",
        "blog/x/new.jpg": "created",
        "blog/x/old.jpg": "removed",
    }
    assert not (tmp_path / "public/blog/x/old.jpg").exists()
    assert set(ledger.items("x", "blog", "static")) == {"blog/x/index.html", "blog/x/new.jpg"}


def test_files_the_ledger_did_not_write_are_never_removed(tmp_path: Path) -> None:
    site = StaticSite(tmp_path / "public", "https://example.org/")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    (tmp_path / "public/blog/x").mkdir(parents=True)
    (tmp_path / "public/blog/x/hand-made.txt").write_text("keep me")
    site.publish(Batch("blog", "x", [Deliverable("blog/x/index.html", b"v1", "x")]), ledger, WHEN)
    assert (tmp_path / "public/blog/x/hand-made.txt").read_text() == "keep me"


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    site = StaticSite(tmp_path / "public", "https://example.org/")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    receipts = site.publish(
        Batch("blog", "x", [Deliverable("blog/x/index.html", b"v1", "x")]),
        ledger,
        WHEN,
        dry_run=True,
    )
    assert [r.action for r in receipts] == ["created"]
    assert not (tmp_path / "public").exists()
    assert ledger.items("x", "blog", "static") == {}


def _ledger_rows(path: Path) -> list[tuple[str, str]]:
    """What another process reading the ledger sees: committed records only."""
    with sqlite3.connect(path) as reader:
        return reader.execute("SELECT finding_id, item FROM publications ORDER BY item").fetchall()


def test_new_files_are_flushed_to_disk_before_the_ledger_records_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = StaticSite(tmp_path / "public", "https://example.org/")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    flushes: list[list[tuple[str, str]]] = []
    per_file_syncs: list[int] = []
    real_flush, real_fdatasync = files.sync_filesystem, os.fdatasync

    def flush(folder: Path) -> None:
        real_flush(folder)
        flushes.append(_ledger_rows(tmp_path / "ledger.sqlite"))

    def fdatasync(descriptor: int) -> None:
        per_file_syncs.append(descriptor)
        real_fdatasync(descriptor)

    monkeypatch.setattr(files, "sync_filesystem", flush)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    batches = [
        Batch("blog", finding, [Deliverable(f"blog/{finding}/{name}", b"v1", finding)
                                for name in ("index.html", "share.png", "photo.jpg")])
        for finding in ("a", "b")
    ]  # fmt: skip
    with ledger.transaction():  # a batch of publications, as the release publishes it
        for batch in batches:
            site.publish(batch, ledger, WHEN)
    assert flushes == [[]], "one flush for the whole batch, before anything was recorded"
    assert per_file_syncs == [], "new files are not synced one by one"
    assert len(_ledger_rows(tmp_path / "ledger.sqlite")) == 6
    assert (tmp_path / "public/blog/b/photo.jpg").read_bytes() == b"v1"


def test_a_file_replacing_a_published_one_is_synced_before_it_is_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = StaticSite(tmp_path / "public", "https://example.org/")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    site.publish(Batch("blog", "a", [Deliverable("blog/a/index.html", b"v1", "a")]), ledger, WHEN)
    target = tmp_path / "public/blog/a/index.html"
    seen_at_sync: list[bytes] = []
    real_fdatasync = os.fdatasync

    def fdatasync(descriptor: int) -> None:
        real_fdatasync(descriptor)
        seen_at_sync.append(target.read_bytes())

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    receipts = site.publish(
        Batch("blog", "a", [Deliverable("blog/a/index.html", b"v2", "a")]), ledger, WHEN
    )
    assert [r.action for r in receipts] == ["updated"]
    assert seen_at_sync == [b"v1"], "synced while the old page was still the one served"
    assert target.read_bytes() == b"v2"


def test_a_failed_flush_records_nothing_and_the_next_run_records_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = StaticSite(tmp_path / "public", "https://example.org/")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    batch = Batch("blog", "a", [Deliverable("blog/a/index.html", b"v1", "a")])

    def failing(folder: Path) -> None:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(files, "sync_filesystem", failing)
        with pytest.raises(OSError, match="Input/output"):
            site.publish(batch, ledger, WHEN)
    assert _ledger_rows(tmp_path / "ledger.sqlite") == []
    again = site.publish(batch, ledger, WHEN)
    assert [r.action for r in again] == ["unchanged"]
    assert _ledger_rows(tmp_path / "ledger.sqlite") == [("a", "blog/a/index.html")]


def test_flushing_a_filesystem_works_on_a_real_folder_and_one_removed_since(
    tmp_path: Path,
) -> None:
    files.sync_filesystem(tmp_path)
    files.sync_filesystem(tmp_path / "gone" / "deeper")


def test_outreach_build_flushes_new_files_once_per_batch_with_pages_before_indexes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``outreach build`` writes new files without a sync each and makes every batch durable
    with one flush before it goes on: the findings' pages are on disk before any index or
    feed that links to them is written, and the whole build is on disk when it returns."""
    build = settings.paths.build
    on_disk_at_flush: list[set[str]] = []
    synced_in_build: list[str] = []
    real_flush, real_fdatasync = files.sync_filesystem, os.fdatasync

    def flush(folder: Path) -> None:
        real_flush(folder)
        on_disk_at_flush.append(_files_under(build))

    def fdatasync(descriptor: int) -> None:
        path = os.readlink(f"/proc/self/fd/{descriptor}")
        if path.startswith(str(build)):
            synced_in_build.append(path)
        real_fdatasync(descriptor)

    monkeypatch.setattr(files, "sync_filesystem", flush)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    written, _ = build_preview(settings, WHEN)
    everything = _files_under(build)
    assert written > 0 and synced_in_build == [], "new files are not synced one by one"
    assert on_disk_at_flush and on_disk_at_flush[-1] == everything, "all durable at the end"
    site_pages = {"index.html", "feed.atom", "sitemap.xml"} & everything
    assert site_pages, f"the build wrote no index or feed: {sorted(everything)}"
    first_with_index = next(n for n, seen in enumerate(on_disk_at_flush) if seen & site_pages)
    assert first_with_index > 0, "an index was written before the pages were flushed"
    pages = {path for path in everything if path.startswith("blog/") and path.count("/") == 2}
    assert pages and pages <= on_disk_at_flush[first_with_index - 1], (
        "every finding's page was flushed before the first index or feed was written"
    )

    synced_in_build.clear()
    page = next(iter(sorted(pages)))
    build_preview(settings, WHEN)  # over the last build: each replaced file synced first
    # a temporary file is named ".{name}.{process}-{number}.tmp" beside the file it replaces
    replaced = {Path(p).with_name(Path(p).name[1:].rsplit(".", 2)[0]) for p in synced_in_build}
    assert build / page in replaced


def _files_under(folder: Path) -> set[str]:
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }
