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
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from outreach.finding import (
    Finding,
    FindingProblem,
    FindingsInvalid,
    split_front_matter,
    text_sha256,
)

KEPT = ("id", "published", "embargo")
"""Fields kept in memory: what ordering and embargoes read for every finding."""
SHELVED_FIELDS = frozenset(Finding.model_fields) - {"body", *KEPT}
"""Fields read back from the shelf."""
PATH, DIGEST = " path", " body digest"
"""Keys of the body's file and digest among the spooled fields (no field has a space)."""
RECENT = 64
"""Findings kept unpickled: an index page reads a few dozen, many times each."""


class Shelf:
    """One release's spooled finding fields: an unlinked temporary file, gone when closed."""

    def __init__(self) -> None:
        # Open as long as the release holds the shelf; the file is unlinked from the start.
        self._file = tempfile.TemporaryFile(prefix="outreach-shelf-")  # noqa: SIM115
        self._end = 0
        # Where each shelved finding's fields lie, by its number on the shelf: 16 bytes a
        # finding, where a tuple of two ints per finding took about 120.
        self._offsets = array("q")
        self._lengths = array("q")
        self._recent: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._field_sets: dict[frozenset[str], set[str]] = {}
        self._zones: dict[tuple[object, str | None], timezone] = {}
        self._lock = threading.Lock()

    def shelve(self, finding: Finding, path: Path) -> ShelvedFinding:
        """``finding`` (read from ``path``) with only its ``KEPT`` fields in memory."""
        # A retraction is kept in memory too (few findings have one), so asking every
        # finding whether it is retracted reads nothing back from the shelf.
        names = KEPT if finding.retraction is None else (*KEPT, "retraction")
        spooled = {
            name: value
            for name, value in finding.__dict__.items()
            if name not in names and name != "body"
        }
        # The body's file and digest wait on the shelf too (read when the body is).
        spooled[PATH], spooled[DIGEST] = str(path), finding.body_sha256
        data = pickle.dumps(spooled, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            offset = self._end
            os.pwrite(self._file.fileno(), data, offset)
            self._end += len(data)
            number = len(self._offsets)
            self._offsets.append(offset)
            self._lengths.append(len(data))
        # One shared set per distinct set of given fields (they repeat across findings).
        fields_set = self._field_sets.setdefault(
            frozenset(finding.model_fields_set), set(finding.model_fields_set)
        )
        kept = {name: self._shared_zone(finding.__dict__[name]) for name in names}
        shelved = ShelvedFinding.model_construct(fields_set, **kept)
        # Only the kept fields (not the defaults model_construct filled in) and the shelf's
        # reference, in one dict of five entries (184 bytes): no private-attribute dict of its
        # own (another 184 bytes a finding). Pydantic skips names with "_" when it iterates.
        object.__setattr__(shelved, "__dict__", {**kept, "_shelf": self, "_place": number})
        return shelved

    def _shared_zone(self, value: Any) -> Any:
        """A date with one shared fixed-offset zone object per offset and name (YAML makes a
        new one for every date it reads: about 120 bytes a finding)."""
        if not isinstance(value, datetime) or type(value.tzinfo) is not timezone:
            return value
        key = (value.utcoffset(), value.tzname())
        zone = self._zones.setdefault(key, value.tzinfo)
        return value if zone is value.tzinfo else value.replace(tzinfo=zone)

    def fields(self, number: int) -> dict[str, Any]:
        """The spooled fields of the finding shelved ``number``-th."""
        with self._lock:
            found = self._recent.get(number)
            if found is not None:
                self._recent.move_to_end(number)
                return found
            offset, length = self._offsets[number], self._lengths[number]
            found = pickle.loads(os.pread(self._file.fileno(), length, offset))
            self._recent[number] = found
            if len(self._recent) > RECENT:
                self._recent.popitem(last=False)
            return found


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
        if name in SHELVED_FIELDS:
            return self._shelf.fields(self._place)[name]
        return super().__getattr__(name)

    @property
    def body_sha256(self) -> str:
        return self._shelf.fields(self._place)[DIGEST]

    def full(self) -> Finding:
        """The finding with its body, as read at validation."""
        return self._whole(with_body=True)

    def _whole(self, with_body: bool) -> Finding:
        values = {**self.__dict__, **self._shelf.fields(self._place)}  # fields picked below
        if with_body:
            values["body"] = self._read_body()
        ordered = {name: values[name] for name in Finding.model_fields if name in values}
        return Finding.model_construct(self.model_fields_set, **ordered)

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
        spooled = self._shelf.fields(self._place)
        path, digest = Path(spooled[PATH]), spooled[DIGEST]
        try:
            parts = split_front_matter(path.read_text(encoding="utf-8"))
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
