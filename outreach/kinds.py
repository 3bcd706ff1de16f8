"""Kinds of publication the release handles: a finding is the first; reports and events add
their own kind here without touching the release sequence.

A kind brings its reader (which validates: an invalid publication of any kind stops the
release, as an invalid finding does) and its ledger keys. Channels say which kinds they feed
(``Channel.kinds``). Finding ids are recorded as they always were; every other kind's ids are
recorded as ``kind:id``, so ids never collide across kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outreach.config import Settings
from outreach.release_steps import load_release_catalog
from outreach.vocabulary import SITE_WIDE

FINDING = "finding"


@dataclass(frozen=True)
class Kind:
    """A kind of publication: its name and how to read every publication of it, validated."""

    name: str
    read: Callable[[Settings], Mapping[str, Any]]
    """Every publication of the kind by id; raises (naming file, field, fix) on any problem.
    A publication has ``id``, ``published``, ``public_from`` and ``is_public(now)``."""

    def ledger_key(self, publication_id: str) -> str:
        """The id the ledger records the publication's files under."""
        return publication_id if self.name == FINDING else f"{self.name}:{publication_id}"

    def ledger_id(self, key: str) -> str | None:
        """The publication id a ledger key names, if it is of this kind (else None)."""
        if self.name == FINDING:
            return None if ":" in key else key
        prefix = f"{self.name}:"
        return key[len(prefix) :] if key.startswith(prefix) and key != prefix else None

    @property
    def site_id(self) -> str:
        """The ledger key of the kind's site-wide files (indexes, feeds) on a channel."""
        return SITE_WIDE if self.name == FINDING else f"{self.name}:"


def _holds_publications(folder: Path) -> bool:
    """Whether ``folder`` holds a publication's file (``*.md``, a README aside). A kind's
    model is imported only then: a release of findings alone never loads the report and
    event models (2 MB it would carry to its end)."""
    return folder.is_dir() and any(p.name.lower() != "readme.md" for p in folder.glob("*.md"))


def _read_events(settings: Settings) -> Mapping[str, Any]:
    """Events (``events/<id>.md``), validated; the module is imported when there are any."""
    if not _holds_publications(settings.paths.events):
        return {}
    from outreach.events.model import read_events

    return read_events(settings)


EVENT = "event"
_KINDS: dict[str, Kind] = {
    FINDING: Kind(FINDING, load_release_catalog),
    EVENT: Kind(EVENT, _read_events),
}


def register_kind(kind: Kind) -> Kind:
    """Add a kind of publication (a later issue's reports, events); returns it."""
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind added with ``register_kind`` (the finding kind stays)."""
    if name != FINDING:
        _KINDS.pop(name, None)


def get_kind(name: str) -> Kind:
    if name not in _KINDS:
        raise KeyError(f"no publication kind '{name}'; known: {', '.join(sorted(_KINDS))}")
    return _KINDS[name]


def known_kinds() -> list[str]:
    return list(_KINDS)


def _read_reports(settings: Settings) -> Mapping[str, Any]:
    """Reports (``reports/<id>.md``), validated against the findings; the module is
    imported when there are any."""
    if not _holds_publications(settings.paths.reports):
        return {}
    from outreach.reports.model import read_reports

    return read_reports(settings)


REPORT = "report"
register_kind(Kind(REPORT, _read_reports))
