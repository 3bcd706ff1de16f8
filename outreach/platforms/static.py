"""The static-site platform: writes deliverables under the public folder, atomically.

Each file is written to a temporary name in the same folder and renamed over the old one, so
a reader (a web server, a podcast app) sees the old file or the new one, never half of either.
A file replacing another is flushed to disk first; new files are flushed together, once per
batch of publications, before the ledger commits their records (``files.DeferredSync``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import weakref
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from outreach.errors import OutreachError
from outreach.files import DeferredSync
from outreach.ledger import Ledger
from outreach.platforms.base import Batch, PlatformUnavailable, Receipt, keep_batch, sync_batch


class UnsafePath(OutreachError, ValueError):
    """A deliverable path that would land outside the site folder."""


def stat_token(path: str | Path) -> str:
    """Size and modification time of a file the platform wrote, to notice later changes."""
    stat = os.stat(path)
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _file_hash(path: str | Path) -> str | None:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()
    except FileNotFoundError:
        return None


class StaticSite:
    name: ClassVar[str] = "static"

    def __init__(self, root: Path, base_url: str):
        self.root = root
        self._root_text = str(root)
        self.base_url = base_url
        self._writes = DeferredSync()
        self._settle = self._writes.settle
        """One bound method for every batch (``Ledger.settle_before_commit`` keeps it once)."""
        self._descriptor: int | None = None

    def target(self, item: str) -> Path:
        """The file an item is written to (UnsafePath: outside the site folder)."""
        return Path(self._file(item))

    def _file(self, item: str) -> str:
        """``target`` as text, for the files a release writes: pathlib interns every part of
        every path it makes, and a site's 30,000 file paths (a folder named after each
        finding) would grow the interpreter's table of interned strings, which never shrinks
        (about 1 MB at 10,000 findings). The one check of what may be written."""
        parts = [part for part in item.split("/") if part and part != "."]
        if item.startswith("/") or ".." in parts or not parts:
            raise UnsafePath(f"refusing to write '{item}': not a path inside the site folder")
        return os.path.join(self._root_text, *parts)

    def url(self, item: str) -> str:
        return self.base_url + item.removesuffix("index.html")

    def check(self) -> str:
        """The folder, or the nearest folder above it that exists, is writable (creates nothing)."""
        existing = self.root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise PlatformUnavailable(f"cannot write into {existing} (for {self.root})")
        return f"writes into {self.root}, served at {self.base_url}"

    def publish(
        self, batch: Batch, ledger: Ledger, now: datetime, dry_run: bool = False
    ) -> list[Receipt]:
        """The file on disk is the truth: a deleted or hand-edited file is written again."""
        ledger.settle_before_commit(self._settle)
        # Kept as it is (most batches of a release that changes little): nothing to write.
        if not batch.deliverables:
            with ledger.transaction():
                return keep_batch(self.name, batch, ledger, dry_run, self._delete)
        return sync_batch(
            self.name, batch, ledger, now, dry_run,
            current_hash=lambda item, recorded: _file_hash(self._file(item)),
            write=lambda d: self._writes.write(self._file(d.path), d.content),
            delete=self._delete,
            url=self.url,
            token=lambda item: stat_token(self._file(item)),
        )  # fmt: skip

    def _delete(self, item: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.target(item).unlink()

    def holds(self, marks: Mapping[str, str | None]) -> bool:
        """Every file is there with the size and time it was written with (a hand edit or a
        deleted file changes them, and the item is rendered and written again)."""
        folder = self._folder()
        if folder is None:
            return False
        stat = os.stat
        for item, mark in marks.items():
            # Looked up relative to the open site folder, not through ``target``'s path
            # objects: a release that changes nothing asks this of every file of the site
            # (three or more a finding).
            if item.startswith("/") or (".." in item and ".." in item.split("/")):
                return False  # never written here (``target`` refuses it)
            try:
                found = stat(item, dir_fd=folder)
            except OSError:
                return False
            if f"{found.st_size}:{found.st_mtime_ns}" != mark:
                return False
        return True

    def _folder(self) -> int | None:
        """The site folder, opened once for ``holds`` (None: there is none yet)."""
        if self._descriptor is None:
            try:
                self._descriptor = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                return None
            weakref.finalize(self, os.close, self._descriptor)
        return self._descriptor
