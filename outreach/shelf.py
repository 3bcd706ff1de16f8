"""Findings whose Markdown body and most fields stay out of memory until something renders them.

A release validates every finding before any work, but holding every validated finding for
the whole run made memory grow with the site (about 7 KB a finding, 70 MB at 10,000). A
shelved finding keeps in memory only what the release sorts and holds by (id, dates, file);
its other fields wait, pickled, in one anonymous temporary file per release, and its body in
its own file, read back and checked against the digest taken at validation, so what is
rendered is what was validated. A few recently used findings stay unpickled, as a page
reads the same finding's fields many times in a row.
"""

from __future__ import annotations

import copy
import os
import pickle
import tempfile
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from outreach.finding import (
    Finding,
    FindingProblem,
    FindingsInvalid,
    split_front_matter,
    text_sha256,
)
from outreach.render_keys import content_fingerprint

KEPT = ("id", "published", "embargo")
"""Fields kept in memory: what ordering and embargoes read for every finding."""
SHELVED_FIELDS = frozenset(Finding.model_fields) - {"body", "topics", *KEPT}
"""Fields read back from the shelf."""
PATH, DIGEST = " path", " body digest"
"""Keys of the body's file and digest among the spooled fields (no field has a space)."""
FLUSH_BYTES = 256 * 1024
"""Placed fields wait in memory until this many bytes are pending, then go to the file."""
RECENT = 64
"""Findings kept unpickled: an index page reads a few dozen, many times each."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""What the shelf counts each finding's last-modified time from, in microseconds."""
MICROSECOND = timedelta(microseconds=1)


class Shelf:
    """One release's spooled finding fields: an unlinked temporary file, gone when closed."""

    def __init__(self, media: Path | None = None) -> None:
        """``media``: the media folder, for each finding's content fingerprint (taken when it
        is shelved, so render keys need not read the finding back); None: not taken."""
        self.media = media
        # Open as long as the release holds the shelf; the file is unlinked from the start.
        self._file = tempfile.TemporaryFile(prefix="outreach-shelf-")  # noqa: SIM115
        self._end = 0
        self._pending = bytearray()
        """Fields placed since the last write to the file (one write per FLUSH_BYTES, not
        one per finding: a release places every finding of the site)."""
        self._written = 0
        """Where the pending bytes go in the file."""
        # Where each shelved finding's fields lie, by its number on the shelf: 16 bytes a
        # finding, where a tuple of two ints per finding took about 120.
        self._offsets = array("q")
        self._lengths = array("q")
        self._splits = array("q")
        """Where each finding's plain fields end and its models begin (see ``spool``)."""
        self._recent: OrderedDict[tuple[int, int], dict[str, Any]] = OrderedDict()
        self._field_sets: dict[frozenset[str], set[str]] = {}
        self._zones: dict[tuple[object, str | None], timezone] = {}
        # What every release reads of every finding, a few bytes each: its content fingerprint
        # (32 bytes; zeros: not taken), whether it has an episode, and its list of topics (an
        # index into the lists shelved so far, which repeat).
        self._fingerprints = bytearray()
        self._episodes = bytearray()
        self._topics = array("H")
        # Each finding's ``last_modified`` (the sitemap and the feed list it for every one),
        # 10 bytes a finding: microseconds since 1970 and its zone (an index into the zones
        # seen; a datetime object each would take 56).
        self._modified = array("q")
        self._modified_zones = array("H")
        self._zone_list: list[tzinfo | None] = []
        self._zone_index: dict[object, int] = {}
        self._last_zone: object = ...
        """The zone object of the last date recorded, and its index (most dates share one)."""
        self._last_zone_index = 0
        self._topic_lists: dict[tuple[str, ...], int] = {}
        self._lists: list[list[str]] = []
        self._lock = threading.Lock()

    def shelve(self, finding: Finding, path: str | Path) -> ShelvedFinding:
        """``finding`` (read from ``path``) with only its ``KEPT`` fields in memory."""
        return self.place(spool(finding, path, self.media))

    def place(self, spooled: Spooled) -> ShelvedFinding:
        """The finding ``spool`` made ``spooled`` of, its pickled fields written to this
        shelf."""
        return self.place_values(
            spooled.kept, spooled.fields_set, spooled.data, spooled.fingerprint,
            spooled.episode, spooled.topics, spooled.split, spooled.last_modified,
        )  # fmt: skip

    def place_values(
        self,
        kept: dict[str, Any],
        given: frozenset[str],
        data: bytes,
        fingerprint: bytes | None,
        episode: bool,
        topics: list[str],
        split: int,
        last_modified: datetime,
    ) -> ShelvedFinding:
        """``place`` with a ``Spooled``'s values one by one (the finding cache keeps them
        so: a release that changes nothing places every finding of the site from it).

        Every value is checked before the shelf changes (TypeError: a value of another kind,
        as a damaged cache row may hold): a finding half placed would shift every later one's
        topics, dates and fingerprint onto its neighbour's."""
        fingerprint = fingerprint or bytes(32)
        if not (
            type(data) is bytes
            and type(fingerprint) is bytes
            and len(fingerprint) == 32
            and type(split) is int
            and 0 <= split <= len(data)
            and isinstance(last_modified, datetime)
            and isinstance(kept, dict)
            and isinstance(topics, list | tuple)
        ):
            raise TypeError("not the values of a shelved finding")
        with self._lock:
            offset = self._end
            self._pending += data
            self._end += len(data)
            if len(self._pending) >= FLUSH_BYTES:
                self._flush()
            number = len(self._offsets)
            self._offsets.append(offset)
            self._lengths.append(len(data))
            self._splits.append(split)
            self._fingerprints += fingerprint
            self._episodes.append(bool(episode))
            listed = tuple(topics)
            index = self._topic_lists.get(listed)
            if index is None:
                index = self._topic_lists[listed] = len(self._lists)
                self._lists.append(list(topics))
            self._topics.append(index)
            self._keep_modified(last_modified)
        # One shared set per distinct set of given fields (they repeat across findings).
        fields_set = self._field_sets.get(given)
        if fields_set is None:
            fields_set = self._field_sets[given] = set(given)
        shared = self._shared_zone
        kept = {
            name: value if value is None or type(value) is str else shared(value)
            for name, value in kept.items()
        }
        # Only the kept fields (not the defaults model_construct fills in) and the shelf's
        # reference, in one dict of five entries (184 bytes): no private-attribute dict of its
        # own (another 184 bytes a finding). Pydantic skips names with "_" when it iterates.
        shelved = ShelvedFinding.__new__(ShelvedFinding)
        object.__setattr__(shelved, "__pydantic_fields_set__", fields_set)
        object.__setattr__(shelved, "__pydantic_extra__", None)
        object.__setattr__(shelved, "__pydantic_private__", None)
        object.__setattr__(shelved, "__dict__", {**kept, "_shelf": self, "_place": number})
        return shelved

    def _flush(self) -> None:
        """Write the pending fields to the file (the caller holds the lock)."""
        if self._pending:
            view = memoryview(self._pending)
            while view:
                done = os.pwrite(self._file.fileno(), view, self._written)
                self._written += done
                view = view[done:]
            view.release()
            self._pending = bytearray()

    def _shared_zone(self, value: Any) -> Any:
        """A date with one shared fixed-offset zone object per offset and name (YAML makes a
        new one for every date it reads: about 120 bytes a finding)."""
        if (
            not isinstance(value, datetime)
            or value.tzinfo is UTC  # one object already
            or type(value.tzinfo) is not timezone
        ):
            return value
        key = (value.utcoffset(), value.tzname())
        zone = self._zones.setdefault(key, value.tzinfo)
        return value if zone is value.tzinfo else value.replace(tzinfo=zone)

    def fingerprint(self, number: int) -> bytes | None:
        """The content fingerprint of the finding shelved ``number``-th (None: not taken)."""
        found = bytes(self._fingerprints[number * 32 : number * 32 + 32])
        return found if any(found) else None

    def has_episode(self, number: int) -> bool:
        return bool(self._episodes[number])

    def topics(self, number: int) -> list[str]:
        return self._lists[self._topics[number]]

    def last_modified(self, number: int) -> datetime:
        zone = self._zone_list[self._modified_zones[number]]
        moment = EPOCH + timedelta(microseconds=self._modified[number])
        return moment.replace(tzinfo=None) if zone is None else moment.astimezone(zone)

    def _keep_modified(self, value: datetime) -> None:
        """Record ``value`` for ``last_modified`` (the caller holds the lock)."""
        zone = value.tzinfo
        if zone is self._last_zone:  # most often the one before (UTC: one object)
            index = self._last_zone_index
        else:
            # A fixed offset is known by its type, offset and name (parsers make a new zone
            # object for every date); any other zone (a region's rules) by itself.
            fixed = zone is not None and zone.utcoffset(None) is not None
            key = (type(zone), value.utcoffset(), value.tzname()) if fixed else zone
            index = self._zone_index.get(key)
            if index is None:
                index = self._zone_index[key] = len(self._zone_list)
                self._zone_list.append(zone)
            self._last_zone, self._last_zone_index = zone, index
        moment = value if zone is not None else value.replace(tzinfo=UTC)
        self._modified.append((moment - EPOCH) // MICROSECOND)
        self._modified_zones.append(index)

    def field(self, number: int, name: str) -> Any:
        """One spooled field of the finding shelved ``number``-th: its plain fields are read
        back alone (a page listing findings reads their titles, summaries and dates), its
        models (stats, quotes, image, episode) only when one of them is asked for."""
        plain = self._part(number, 0)
        return plain[name] if name in plain else self._part(number, 1)[name]

    def fields(self, number: int) -> dict[str, Any]:
        """The spooled fields of the finding shelved ``number``-th."""
        return {**self._part(number, 0), **self._part(number, 1)}

    def _part(self, number: int, which: int) -> dict[str, Any]:
        """The plain fields (0) or the models (1) of the finding shelved ``number``-th."""
        with self._lock:
            found = self._recent.get((number, which))
            if found is not None:
                self._recent.move_to_end((number, which))
                return found
            offset, length = self._offsets[number], self._lengths[number]
            if offset + length > self._written:
                self._flush()
            split = self._splits[number]
            start, size = (offset, split) if which == 0 else (offset + split, length - split)
            found = pickle.loads(os.pread(self._file.fileno(), size, start))
            self._recent[(number, which)] = found
            if len(self._recent) > 2 * RECENT:
                self._recent.popitem(last=False)
            return found


@dataclass(frozen=True)
class Spooled:
    """What a shelf keeps of a finding: the fields kept in memory, the names of the fields its
    file gave, the rest pickled (with the body's file and digest), and what every release reads
    of it, kept compactly: its content fingerprint, whether it has an episode, its topics."""

    kept: dict[str, Any]
    fields_set: frozenset[str]
    data: bytes
    fingerprint: bytes | None
    """``render_keys.content_fingerprint`` (None: not taken)."""
    episode: bool
    topics: list[str]
    split: int
    """Where in ``data`` the plain fields' pickle ends and the models' begins."""
    last_modified: datetime


def spool(finding: Finding, path: str | Path, media: Path | None = None) -> Spooled:
    """``finding`` (read from ``path``) made ready for a shelf; its content fingerprint is taken
    when ``media`` (the media folder) is given."""
    # A retraction is kept in memory too (few findings have one), so asking every finding
    # whether it is retracted reads nothing back from the shelf.
    names = KEPT if finding.retraction is None else (*KEPT, "retraction")
    spooled = {
        name: value
        for name, value in finding.__dict__.items()
        if name not in names and name != "body"
    }
    # The body's file and digest wait on the shelf too (read when the body is).
    spooled[PATH], spooled[DIGEST] = str(path), finding.body_sha256
    # Two pickles: the plain values first (text, numbers, dates, lists of text), read back
    # quickly; then the models, whose unpickling costs most and which fewer pages read.
    plain = {name: value for name, value in spooled.items() if _plain(value)}
    first = pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)
    models = {name: value for name, value in spooled.items() if name not in plain}
    data = first + pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)
    kept = {name: finding.__dict__[name] for name in names}
    fingerprint = None if media is None else content_fingerprint(finding, media)
    return Spooled(
        kept, frozenset(finding.model_fields_set), data, fingerprint,
        finding.episode is not None, list(finding.topics), len(first), finding.last_modified,
    )  # fmt: skip


def _plain(value: Any) -> bool:
    """Text, a number, a date or None, or a list of them (read back at little cost)."""
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value) and not any(
            isinstance(item, list | tuple) for item in value
        )
    return value is None or isinstance(value, str | int | float | date)


class ShelvedFinding(Finding):
    """A validated finding whose ``body`` is read from its file on each use (not kept) and
    whose other fields, but for ``KEPT``, are read back from its release's shelf."""

    if TYPE_CHECKING:  # in the instance's __dict__ (see Shelf.shelve), not pydantic's
        _shelf: Shelf
        _place: int

    def __getattr__(self, name: str) -> Any:
        # Called for every shelved field a page reads (a topic page reads thousands).
        if name == "body":
            return self._read_body()
        if name == "retraction":  # a retracted finding keeps its retraction in memory
            return None
        if name == "topics":
            return self._shelf.topics(self._place)
        if name in SHELVED_FIELDS:
            return self._shelf.field(self._place, name)
        return super().__getattr__(name)

    @property
    def known_fingerprint(self) -> bytes | None:
        """The content fingerprint taken when it was shelved (None: not taken)."""
        return self._shelf.fingerprint(self._place)

    @property
    def has_episode(self) -> bool:
        return self._shelf.has_episode(self._place)

    @property
    def last_modified(self) -> datetime:
        return self._shelf.last_modified(self._place)

    @property
    def body_sha256(self) -> str:
        return self._shelf.field(self._place, DIGEST)

    def full(self) -> Finding:
        """The finding with its body, as read at validation."""
        return self._whole(with_body=True)

    def _whole(self, with_body: bool) -> Finding:
        values = {**self.__dict__, **self._shelf.fields(self._place)}  # fields picked below
        if with_body:
            values["body"] = self._read_body()
        ordered = {name: values[name] for name in Finding.model_fields if name in values}
        return Finding.model_construct(self.model_fields_set, **ordered)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Finding:
        """A changed copy is a whole finding (its fingerprint is taken again)."""
        return self.full().model_copy(update=update, deep=deep)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return self._whole("body" not in (kwargs.get("exclude") or ())).model_dump(**kwargs)

    def model_dump_json(self, **kwargs: Any) -> str:
        return self._whole("body" not in (kwargs.get("exclude") or ())).model_dump_json(**kwargs)

    def __reduce_ex__(self, protocol: Any) -> Any:
        """A copy or pickle (a Prefect task's input) is the whole finding: a shelf stays in
        the process that made it."""
        return (_as_finding, (self.full(),))

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Finding:
        return copy.deepcopy(self.full(), memo)

    def _read_body(self) -> str:
        shelf, place = self._shelf, self._place
        path, digest = shelf.field(place, PATH), shelf.field(place, DIGEST)
        try:  # opened by its name: a Path would intern the file's name (files.atomic_write)
            with open(path, encoding="utf-8") as file:
                parts = split_front_matter(file.read())
        except (OSError, UnicodeDecodeError):
            parts = None
        body = parts[1].strip() if parts is not None else None
        if body is None or text_sha256(body) != digest:
            raise FindingsInvalid(
                [
                    FindingProblem(
                        self.source_path or str(path),
                        "body",
                        "changed or went missing while the release ran; "
                        "run the release again to publish the current file",
                    )
                ]
            )
        return body


def _as_finding(finding: Finding) -> Finding:
    return finding


def shelve(finding: Finding, path: Path) -> ShelvedFinding:
    """``finding`` (read from ``path``) on a shelf of its own (a release shelves its whole
    catalog on one: ``Shelf().shelve``)."""
    return Shelf().shelve(finding, path)
