"""Validated findings remembered between runs, so a run reads again only what changed.

Reading and validating every finding (YAML, the model, the media checks) was most of a release
that changed nothing: about a second at 1,000 findings. The cache keeps each finding that
passed, pickled, beside what it was validated from: the SHA-256 of the file's bytes, the file's
stat (size, modification and change times, inode), and the stat of every media file it names.
A file whose stat is unchanged is not read at all; when the stat differs the file is read and
hashed, and the same bytes still count as unchanged (a checkout that rewrote the file). A media
file is compared by its stat only (recordings are large): any change validates the finding again.

Never trusted:
- a stat taken moments after the file was written: a second write within the file system's
  timestamp step can keep the same stat, so such a file is recorded without one and its bytes
  are compared next time (git's "racily clean" files); a media file that recent is not recorded;
- a file that did not validate, or a draft: never recorded, so read again every time;
- anything recorded under other code, libraries or folders (``context``): validated again;
- a damaged cache file: dropped and made again (the run reads every file, as without a cache).

The cache is a local SQLite file, ``<state>/cache/findings.sqlite``, also when the state lives
in PostgreSQL (``[state] url``): stats describe this checkout's files, not another machine's.
It is made once the project has released (its ledger exists): a first check, a preview, or a
release refused before anything was published adds nothing to the state folder.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import PIL
import pydantic
import yaml

import outreach
from outreach.errors import OutreachError, StoreBusy
from outreach.files import SQLITE_COMPANIONS
from outreach.finding import Finding
from outreach.render_keys import media_names
from outreach.shelf import Shelf, ShelvedFinding, spool
from outreach.store import Migration, Schema, Store, has_state

CACHE_FILE = Path("cache") / "findings.sqlite"
"""Where the cache lives, under the state folder."""
SETTLE_NS = 2_000_000_000
"""A file changed less than this long before it was recorded may change again unseen."""
ROWS_AT_ONCE = 64
"""Rows read from SQLite per call (each holds a finding's pickled fields: a few KB)."""
FORMAT = "3"
"""Bumped when what a row holds changes meaning."""

SCHEMA = Schema(
    "finding_cache",
    (
        Migration(
            1,
            "validated findings by file",
            (
                """CREATE TABLE findings (
                    name    TEXT PRIMARY KEY,
                    context TEXT NOT NULL,
                    stat    TEXT,
                    sha256  TEXT NOT NULL,
                    media   TEXT NOT NULL,
                    kept    BLOB NOT NULL,
                    spooled BLOB NOT NULL,
                    fingerprint BLOB NOT NULL
                )""",
            ),
        ),
        Migration(
            2,
            "rows by context",
            # Every run removes the rows recorded under another context (other code): with
            # this index that is two short range scans, not a pass over every row.
            ("CREATE INDEX findings_by_context ON findings (context)",),
        ),
        Migration(
            3,
            "rows by context, in name order",
            # A run reads its context's rows in name order: with the names in the index
            # they come in that order, instead of being sorted (blobs and all) on each run.
            (
                "CREATE INDEX findings_by_context_name ON findings (context, name)",
                "DROP INDEX findings_by_context",
            ),
        ),
    ),
)

_CODE = Path(outreach.__file__).resolve().parent


@dataclass(frozen=True)
class Seen:
    """A file as found before it was validated: what to record if it passes."""

    name: str
    stat: str | None
    """None: changed too recently to trust its stat next time."""
    sha256: str


def _signature(stat: os.stat_result) -> str:
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}:{stat.st_dev}"


def _settled(stat: os.stat_result, now: int) -> bool:
    """Whether the file was last changed long enough before ``now`` (ns) to trust its stat."""
    return now - max(stat.st_mtime_ns, stat.st_ctime_ns) > SETTLE_NS


@functools.cache
def _code_signature() -> str:
    """The pipeline's own code, by each module's size and modification time (an upgrade or an
    edit of the code changes them). Taken once a process: the code a process runs is the code
    it imported (a worker that outlives an upgrade still validates as the old code did)."""
    parts = []
    for folder, dirs, files in os.walk(_CODE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(folder, name))
                parts.append(f"{folder}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts)


def cache_context(findings: Path, media: Path, root: Path, audio_cache: Path) -> str:
    """What a recorded result holds under: code, libraries and folders."""
    parts = [
        FORMAT,
        sys.version,
        pydantic.VERSION,
        yaml.__version__,
        PIL.__version__,
        str(findings),
        os.path.realpath(findings),
        os.path.realpath(media),
        str(root),
        os.path.realpath(audio_cache),
        os.environ.get("OUTREACH_FFMPEG", ""),  # another ffmpeg checks media anew
        _code_signature(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class FindingCache:
    """One run's use of the cache: look up each file, record what passed, commit at the end."""

    def __init__(self, path: Path, context: str, media: Path) -> None:
        self.path, self.context, self.media = path, context, media
        self._started = time.time_ns()
        """The clock when the run began, for ``_settled``: earlier than any stat it takes, so
        a file changed moments before it was looked at is never taken as settled."""
        self._gone: set[str] = set()
        """Recorded names the folder's sorted files passed by: files no longer there."""
        self._remembered: set[str] = set()
        """Names recorded in this run (a name looked up out of order may be among the gone)."""
        self.shelf = Shelf(media)
        """Where found findings' fields wait until read (``outreach.shelf``)."""
        self._broken = False
        """Stop using the cache for the rest of the run (it failed, or another run holds it)."""
        self._damaged = False
        """Drop the file at the end: SQLite found it damaged."""
        self._connection = self._open()
        # Rows are read on their own connection, in one pass, while the other one writes.
        self._reader = self._store.open()
        self._rows: sqlite3.Cursor | None = None
        self._next: tuple | None = None
        self._field_sets: dict[int | tuple[str, ...], frozenset[str]] = {}
        """A recorded set of given fields -> one frozenset for every finding that has it
        (most findings give the same fields)."""
        self._media_seen: dict[str, bool] = {}
        """A recorded media list (as stored) -> whether every file in it is unchanged: many
        findings name the same few images, each stat taken once a run."""

    def _open(self) -> sqlite3.Connection:
        for attempt in (1, 2):
            try:
                # A short wait: another run writing the cache means this one just records less.
                store = Store(self.path, SCHEMA, synchronous="NORMAL", timeout=1.0, local=True)
                connection = store.open()
                self._store = store
                connection.execute("SELECT COUNT(*) FROM findings WHERE name = ''").fetchone()
                return connection
            except StoreBusy:
                raise  # another run is upgrading or writing it: not damaged
            except (OutreachError, sqlite3.Error):
                if attempt == 2:
                    raise
                drop(self.path)  # damaged (or not a database): made again from nothing
        raise AssertionError("unreachable")

    def lookup(self, name: str, path: str) -> tuple[ShelvedFinding | None, Seen | None]:
        """The finding recorded for ``path`` (shown as ``name``) when neither the file nor its
        media changed since, shelved; else None and what to ``remember`` once it validates."""
        try:
            stat = os.stat(path)
        except OSError:
            return None, None
        row = self._row(name)
        signature = _signature(stat)
        if row is not None and row[0] == signature and self._media_unchanged(row[2]):
            # Recorded with this very stat (taken once the file had settled): unchanged.
            finding = self._placed(row[3], row[4], row[5])
            if finding is not None:
                return finding, None
        if not _settled(stat, self._started):
            signature = None
        digest = None
        if row is not None:
            recorded, recorded_digest, media, kept, data, fingerprint = row
            if recorded is None or recorded != signature:
                digest = _file_digest(path)
                if digest is None:  # changed and unreadable: reading it says why
                    return None, None
            if (digest is None or digest == recorded_digest) and self._media_unchanged(media):
                finding = self._placed(kept, data, fingerprint)
                if finding is not None:
                    if recorded != signature:
                        self._write(
                            "UPDATE findings SET stat = ? WHERE name = ?", (signature, name)
                        )
                    return finding, None
        if digest is None:
            digest = _file_digest(path)
        return None, (None if digest is None else Seen(name, signature, digest))

    def _row(self, name: str) -> tuple | None:
        """The row recorded for ``name`` under this context: the rows are read in one pass,
        in name order, as the folder's sorted files ask for them (a name asked for out of
        order finds nothing: its file is read)."""
        if self._broken:
            return None
        try:
            self._start()
            while self._next is not None and self._next[0] < name:
                self._gone.add(self._next[0])
                self._advance()
            if self._next is None or self._next[0] != name:
                return None
            row = self._next
            self._advance()
            return row[1:]
        except (sqlite3.Error, StoreBusy) as exc:
            self._failed(exc)
            return None

    def _start(self) -> None:
        if self._rows is None:
            self._rows = self._reader.execute(
                "SELECT name, stat, sha256, media, kept, spooled, fingerprint FROM findings "
                "WHERE context = ? ORDER BY name",
                (self.context,),
            )
            self._fetched: list[tuple] = []
            self._at = 0
            self._advance()

    def _advance(self) -> None:
        """The next row into ``_next`` (None after the last), fetched ``ROWS_AT_ONCE`` at a
        time: one call into SQLite per few dozen findings, not one each."""
        if self._at == len(self._fetched):
            self._fetched, self._at = self._rows.fetchmany(ROWS_AT_ONCE), 0
            if not self._fetched:
                self._next = None
                return
        self._next = self._fetched[self._at]
        self._at += 1

    def _placed(self, kept: bytes, data: bytes, fingerprint: bytes) -> ShelvedFinding | None:
        """The recorded finding on this run's shelf (None: the row cannot be read back)."""
        try:
            values, fields, episode, topics, split, modified = pickle.loads(kept)
            fields_set = self._field_sets.get(fields)
            if fields_set is None:
                fields_set = self._field_sets[fields] = _unmasked(fields)
            return self.shelf.place_values(
                values, fields_set, data, fingerprint, episode, topics, split, modified
            )
        except Exception:  # a damaged row can raise almost anything: read the file instead
            return None

    def remember(self, seen: Seen, finding: Finding, path: str) -> None:
        """Record a finding (read from ``path`` as ``seen``) that passed validation and the
        media checks."""
        media = []
        for name in media_names(finding):
            try:
                stat = os.stat(os.path.join(self.media, name))
            except OSError:
                return
            if not _settled(stat, self._started):
                return  # it may change again unseen: validated again next time
            media.append([name, _signature(stat)])
        spooled = spool(finding, path, self.media)
        kept = pickle.dumps(
            (
                spooled.kept,
                _masked(spooled.fields_set),
                spooled.episode,
                spooled.topics,
                spooled.split,
                spooled.last_modified,
            ),
            pickle.HIGHEST_PROTOCOL,
        )
        if seen.name in self._gone:
            self._remembered.add(seen.name)
        self._write(
            "INSERT OR REPLACE INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seen.name, self.context, seen.stat, seen.sha256, json.dumps(media), kept,
             spooled.data, spooled.fingerprint),
        )  # fmt: skip

    def _media_unchanged(self, recorded: str) -> bool:
        unchanged = self._media_seen.get(recorded)
        if unchanged is None:
            unchanged = self._media_seen[recorded] = self._media_stats_match(recorded)
        return unchanged

    def _media_stats_match(self, recorded: str) -> bool:
        try:
            media = json.loads(recorded)
            for name, signature in media:
                if _signature(os.stat(os.path.join(self.media, name))) != signature:
                    return False
        except (OSError, ValueError, TypeError):
            return False
        return True

    def _write(self, statement: str, values: tuple) -> None:
        if self._broken:
            return
        try:
            self._connection.execute(statement, values)
        except (sqlite3.Error, StoreBusy) as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self._broken = True
        # OperationalError: locked, busy, read-only, I/O; other DatabaseErrors: a damaged file.
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            self._damaged = True

    def _prune(self) -> None:
        """Remove the rows of files that are gone (passed by, or after the last file) and
        those recorded under another context (other code: they would never be used)."""
        self._start()
        while self._next is not None:
            self._gone.add(self._next[0])
            self._advance()
        self._gone -= self._remembered
        self._connection.executemany(
            "DELETE FROM findings WHERE name = ?", [(name,) for name in self._gone]
        )
        self._connection.execute(
            "DELETE FROM findings WHERE context < ? OR context > ?", (self.context, self.context)
        )

    def close(self, complete: bool) -> None:
        """Commit what was recorded; ``complete``: every file of the folder was looked up, so
        rows of files that are gone are removed. A cache that failed is dropped (made again)."""
        try:
            if complete and not self._broken:
                self._prune()
            if not self._broken:
                self._connection.commit()
        except (sqlite3.Error, StoreBusy) as exc:
            self._failed(exc)
        finally:
            self._reader.close()
            self._connection.close()
        if self._damaged:
            drop(self.path)


_FIELDS = tuple(Finding.model_fields)
"""The finding's fields, by number: a set of them is recorded as one integer (a bit each)."""
_FIELD_BITS = {name: 1 << number for number, name in enumerate(_FIELDS)}


def _masked(fields: frozenset[str]) -> int | tuple[str, ...]:
    """``fields`` as bits of one integer (read back at once, where a list of names is a dozen
    strings to unpickle for every finding); the sorted names if one is not a field."""
    if not fields <= _FIELD_BITS.keys():
        return tuple(sorted(fields))
    return sum(_FIELD_BITS[name] for name in fields)


def _unmasked(fields: int | tuple[str, ...] | list[str]) -> frozenset[str]:
    if isinstance(fields, int):
        return frozenset(name for name, bit in _FIELD_BITS.items() if fields & bit)
    return frozenset(fields)


def _file_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return None


def drop(path: Path) -> None:
    """Remove the cache file and SQLite's companions."""
    for suffix in ("", *SQLITE_COMPANIONS):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


@contextlib.contextmanager
def finding_cache(
    state: Path, ledger: Path, findings: Path, media: Path, root: Path, audio_cache: Path
) -> Iterator[FindingCache | None]:
    """The cache for one reading of the findings folder; None (the run reads every file) when
    it cannot be opened, or before the project's first release (no ``ledger`` yet): a check, a
    preview or a release that may yet be refused adds nothing to the state folder."""
    if not has_state(ledger):
        yield None
        return
    try:
        cache = FindingCache(
            state / CACHE_FILE, cache_context(findings, media, root, audio_cache), media
        )
    except (OutreachError, sqlite3.Error, OSError):
        cache = None
    if cache is None:
        yield None
        return
    try:
        yield cache
    except BaseException:
        cache.close(complete=False)
        raise
    cache.close(complete=True)
