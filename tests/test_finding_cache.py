"""The finding cache: a run reads again only the findings whose file or media changed, and a
cached result never hides an edit, a broken image or a damaged cache."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg
import pytest

import outreach.finding
from conftest import AFTER_EMBARGO
from outreach import finding_cache
from outreach.audit import AuditLog
from outreach.config import Settings
from outreach.finding import FindingsInvalid
from outreach.ledger import Ledger
from outreach.release import release
from outreach.release_steps import load_catalog, load_release_catalog
from outreach.store import bind_state

FINDING = "beta-cotton-traceability"


@pytest.fixture
def settled(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A project that has released before (it has a ledger: the cache is made from then on),
    whose files count as written long ago, so the cache trusts their stat (the copies a test
    makes are seconds old: the cache would otherwise compare their bytes every time)."""
    Ledger(settings.paths.ledger)
    monkeypatch.setattr(finding_cache, "SETTLE_NS", 0)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts the finding files read and validated, by file name."""
    seen: Counter = Counter()
    original = outreach.finding.read_finding

    def counting(path: str | Path, *args, **kwargs):  # a release passes the file's name as text
        seen[Path(path).name] += 1
        return original(path, *args, **kwargs)

    monkeypatch.setattr(outreach.finding, "read_finding", counting)
    return seen


def cache_file(settings: Settings) -> Path:
    return settings.paths.state / finding_cache.CACHE_FILE


def rewrite_keeping_size(path: Path, old: str, new: str, *, keep_mtime: bool) -> None:
    """Replace ``old`` by ``new`` (same length); with ``keep_mtime`` the file keeps its
    modification time to the nanosecond, as a copy tool preserving times would leave it."""
    assert len(old) == len(new)
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert after.st_size == before.st_size
    assert (after.st_mtime_ns == before.st_mtime_ns) == keep_mtime


def test_a_second_check_reads_no_unchanged_finding(
    settings: Settings, settled: None, reads: Counter
) -> None:
    first = load_catalog(settings)
    assert sum(reads.values()) == 3
    reads.clear()
    again = load_catalog(settings)
    assert reads == Counter(), "every finding came from the cache"
    assert {i: f.model_dump() for i, f in again.items()} == {
        i: f.model_dump() for i, f in first.items()
    }
    shelved = load_release_catalog(settings)
    assert reads == Counter()
    assert shelved[FINDING].full() == first[FINDING]


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["mtime-changed", "mtime-restored"])
def test_an_edit_of_the_same_size_is_validated_again_and_its_error_reported(
    settings: Settings, settled: None, reads: Counter, keep_mtime: bool
) -> None:
    load_catalog(settings)
    path = settings.paths.findings / f"{FINDING}.md"
    # A valid topic replaced by an unknown one of the same length.
    rewrite_keeping_size(path, "[apparel-textiles", "[apparel-textile_", keep_mtime=keep_mtime)
    reads.clear()
    with pytest.raises(FindingsInvalid) as failure:
        load_catalog(settings)
    assert reads == Counter({f"{FINDING}.md": 1}), "only the edited file is read again"
    problem = failure.value.problems[0]
    assert (problem.file, problem.field) == (f"findings/{FINDING}.md", "topics[0]")
    assert "is not one of the six topics" in problem.message
    # The bad file is not remembered as good: every run refuses it until it is fixed.
    with pytest.raises(FindingsInvalid):
        load_catalog(settings)
    with pytest.raises(FindingsInvalid):
        release(settings, None, ["blog"], AFTER_EMBARGO)
    assert not (settings.paths.public / "blog").exists(), "nothing was published"


def test_a_file_rewritten_with_the_same_bytes_is_not_validated_again(
    settings: Settings, settled: None, reads: Counter
) -> None:
    load_catalog(settings)
    path = settings.paths.findings / f"{FINDING}.md"
    path.write_bytes(path.read_bytes())  # as a checkout or a copy would: new times, same bytes
    reads.clear()
    load_catalog(settings)
    assert reads == Counter()


def test_a_changed_file_the_cache_cannot_read_is_read_by_the_release_not_served_cached(
    settings: Settings, settled: None, reads: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finding whose stat changed and whose bytes the cache cannot read (made unreadable,
    replaced mid-run) is read as usual, so its own error is reported, never the cached copy.
    (The tests run as root, who reads any file: the failed read is simulated.)"""
    load_catalog(settings)
    path = settings.paths.findings / f"{FINDING}.md"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    monkeypatch.setattr(finding_cache, "_file_digest", lambda _path: None)
    reads.clear()
    load_catalog(settings)
    assert reads == Counter({f"{FINDING}.md": 1})


def test_a_changed_image_validates_its_finding_again(
    settings: Settings, settled: None, reads: Counter
) -> None:
    catalog = load_catalog(settings)
    image = settings.paths.media / catalog[FINDING].image.file
    image.write_bytes(b"not an image at all")
    reads.clear()
    with pytest.raises(FindingsInvalid) as failure:
        load_catalog(settings)
    assert reads == Counter({f"{FINDING}.md": 1})
    problem = failure.value.problems[0]
    assert (problem.file, problem.field) == (f"findings/{FINDING}.md", "image.file")
    assert "is not a readable image" in problem.message


def test_a_damaged_cache_is_ignored_and_made_again(
    settings: Settings, settled: None, reads: Counter
) -> None:
    expected = {i: f.model_dump() for i, f in load_catalog(settings).items()}
    path = cache_file(settings)
    assert path.is_file()
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    reads.clear()
    assert {i: f.model_dump() for i, f in load_catalog(settings).items()} == expected
    assert sum(reads.values()) == 3, "every file read again"
    reads.clear()
    load_catalog(settings)
    assert reads == Counter(), "the cache was made again"

    # One damaged row: that finding is read from its file, the others come from the cache.
    with sqlite3.connect(path) as connection:
        connection.execute(
            "UPDATE findings SET kept = ?, spooled = ? WHERE name = ?",
            (b"\x80garbage", b"garbage", f"findings/{FINDING}.md"),
        )
    connection.close()
    reads.clear()
    assert {i: f.model_dump() for i, f in load_catalog(settings).items()} == expected
    assert reads == Counter({f"{FINDING}.md": 1})


def _shelved_view(settings: Settings) -> dict[str, tuple]:
    """What a release reads of each shelved finding besides its fields: topics, dates, episode
    flag and content fingerprint (kept in the shelf's arrays, by the finding's place)."""
    return {
        i: (f.model_dump(), f.topics, f.last_modified, f.has_episode, f.known_fingerprint)
        for i, f in load_release_catalog(settings).items()
    }


def test_a_damaged_row_leaves_every_other_finding_its_own_topics_and_dates(
    settings: Settings, settled: None, reads: Counter
) -> None:
    """A row whose values are of the wrong kind (SQLite takes text in a blob column) is read
    from its file, and the findings shelved after it keep their own topics, dates and
    fingerprints: none is shifted onto its neighbour's."""
    expected = _shelved_view(settings)
    path = cache_file(settings)
    with sqlite3.connect(path) as connection:
        first = connection.execute("SELECT MIN(name) FROM findings").fetchone()[0]
        connection.execute("UPDATE findings SET fingerprint = 'not bytes' WHERE name = ?", (first,))
    connection.close()
    reads.clear()
    assert _shelved_view(settings) == expected
    assert reads == Counter({Path(first).name: 1})


def test_a_removed_finding_leaves_the_cache(settings: Settings, settled: None) -> None:
    load_catalog(settings)
    (settings.paths.findings / f"{FINDING}.md").unlink()
    assert FINDING not in load_catalog(settings)
    with sqlite3.connect(cache_file(settings)) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM findings")}
    connection.close()
    assert names == {"findings/alpha-cocoa-prices.md", "findings/gamma-embargoed-packaging.md"}


def test_findings_recorded_under_other_code_are_validated_again_and_their_rows_replaced(
    settings: Settings, settled: None, reads: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A code change (another context) validates every finding again; the rows recorded
    under the old code go, also that of a file removed meanwhile."""
    load_catalog(settings)
    (settings.paths.findings / f"{FINDING}.md").unlink()
    monkeypatch.setattr(finding_cache, "_code_signature", lambda: "an upgraded pipeline")
    reads.clear()
    assert FINDING not in load_catalog(settings)
    assert set(reads) == {"alpha-cocoa-prices.md", "gamma-embargoed-packaging.md"}
    now = finding_cache.cache_context(
        settings.paths.findings, settings.paths.media, settings.root, settings.paths.audio_cache
    )
    with sqlite3.connect(cache_file(settings)) as connection:
        rows = sorted(connection.execute("SELECT name, context = ? FROM findings", (now,)))
    connection.close()
    assert rows == [
        ("findings/alpha-cocoa-prices.md", 1),
        ("findings/gamma-embargoed-packaging.md", 1),
    ]
    reads.clear()
    load_catalog(settings)
    assert reads == Counter()


def test_a_no_change_release_reads_no_finding_and_publishes_nothing(
    settings: Settings, settled: None, reads: Counter
) -> None:
    first = release(settings, None, None, AFTER_EMBARGO)
    assert first.changed
    public = settings.paths.public
    stamps = {path: path.stat().st_mtime_ns for path in public.rglob("*") if path.is_file()}
    events = len(list(AuditLog(settings.paths.ledger).entries(event="publish")))
    reads.clear()

    again = release(settings, None, None, AFTER_EMBARGO)

    assert reads == Counter(), "no finding file was read again"
    assert again.changed == [] and len(again.receipts) == len(first.receipts)
    assert again.summary().startswith("Nothing changed")
    assert {p: p.stat().st_mtime_ns for p in public.rglob("*") if p.is_file()} == stamps
    assert len(list(AuditLog(settings.paths.ledger).entries(event="publish"))) == events


def test_check_refuses_a_finding_edited_after_a_good_check(sample_project: Path) -> None:
    """The command people run: ``outreach check`` passes, the file is edited (same size, its
    modification time put back), and the next check names the file and the field."""

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "outreach_cli", "check"],
            cwd=sample_project,
            env={**os.environ, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert check().returncode == 0
    assert not (sample_project / "state").exists(), "a first check makes no state folder"
    Ledger(sample_project / "state" / "ledger.sqlite")  # as the project's first release would
    assert check().returncode == 0
    assert (sample_project / "state" / finding_cache.CACHE_FILE).is_file()
    path = sample_project / "findings" / "farm-gate-to-fob.md"
    rewrite_keeping_size(path, "id: farm-gate-to-fob", "id: Farm-gate-to-fob", keep_mtime=True)
    checked = check()
    assert checked.returncode == 1
    assert "findings/farm-gate-to-fob.md: id" in " ".join(checked.stderr.split())


def test_the_cache_stays_a_local_file_when_the_state_is_in_postgresql(
    settings: Settings, settled: None, reads: Counter, state_database: str
) -> None:
    bind_state(settings.paths.state, state_database)
    try:
        load_catalog(settings)
        reads.clear()
        load_catalog(settings)
        assert reads == Counter(), "the second run found every finding in the cache"
        assert cache_file(settings).is_file()
        with psycopg.connect(state_database) as connection:
            found = connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name = 'findings'"
            ).fetchall()
        assert found == [], "nothing of the cache went to the team's database"
    finally:
        bind_state(settings.paths.state, None)


def test_a_run_reads_its_rows_in_name_order_without_sorting_them(
    settings: Settings, settled: None
) -> None:
    """The rows (each a validated finding, a few KB) come in the order of the folder's sorted
    files from the index, not sorted anew on every run."""
    load_catalog(settings)
    with sqlite3.connect(cache_file(settings)) as connection:
        plan = " ".join(
            row[-1]
            for row in connection.execute(
                "EXPLAIN QUERY PLAN SELECT name, stat, sha256, media, kept, spooled, fingerprint "
                "FROM findings WHERE context = ? ORDER BY name",
                ("any",),
            )
        )
    connection.close()
    assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan
