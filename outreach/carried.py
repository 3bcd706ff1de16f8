"""Rendered fragments a channel carries from one release to the next.

An edit of one finding changes one entry of the blog's feed, yet the feed rendered all of its
newest findings' bodies from Markdown again: most of an edit's time at 1,000 findings. A
channel puts the fragments it wants back next time in ``site.memo`` under ``CARRY`` keys that
name their content (a digest of everything that made them, so a key found is a fragment still
right); once its site pages are published, the release keeps them, in place of what it kept
before, and the next release's rendering reads them as ``site.carried``.

Rendering still only reads: the file is read (on first use, so a release that renders no
such page reads nothing) and written by the release after publishing. It is a cache: a
missing or damaged file just means the fragments are rendered again. It lives in the state
folder's ``cache`` (a local file also when the state is in PostgreSQL), owner-only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from outreach.channels.base import CARRY
from outreach.files import PRIVATE_FILE, atomic_write

FOLDER = Path("cache") / "carried"
"""Under the state folder: one JSON file per channel."""


def carried_path(state: Path, channel: str) -> Path:
    return state / FOLDER / f"{channel}.json"


class Carried(Mapping[str, str]):
    """What a channel carried from its last release, read from ``path`` on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fragments: dict[str, str] | None = None

    def _loaded(self) -> dict[str, str]:
        if self._fragments is None:
            try:
                found = json.loads(self.path.read_bytes())
            except (OSError, ValueError):
                found = {}
            self._fragments = (
                {k: v for k, v in found.items() if isinstance(v, str)}
                if isinstance(found, dict)
                else {}
            )
        return self._fragments

    def __getitem__(self, key: str) -> str:
        return self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def carried_for(state: Path, channel: str) -> Carried:
    return Carried(carried_path(state, channel))


def remember_carried(state: Path, channel: str, memo: Mapping[str, object]) -> None:
    """Keep the ``CARRY`` fragments the channel rendered in this release for the next one
    (nothing changes when it rendered none: the pages that make them were kept as they were).
    Not synced: a file lost in a power cut is a cache miss."""
    fragments = {
        key: value
        for key, value in memo.items()
        if key.startswith(CARRY) and isinstance(value, str)
    }
    if fragments:
        data = json.dumps(fragments, sort_keys=True, ensure_ascii=False).encode("utf-8")
        atomic_write(carried_path(state, channel), data, PRIVATE_FILE, sync=False)
