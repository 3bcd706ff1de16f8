"""The static-site platform: writes deliverables under the public folder, atomically.

Each file is written to a temporary name in the same folder, flushed to disk and renamed over
the old one, so a reader (a web server, a podcast app) sees the old file or the new one, never
half of either.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import ClassVar

from outreach.ledger import Ledger
from outreach.platforms.base import Action, Batch, Receipt


class UnsafePath(ValueError):
    """A deliverable path that would land outside the site folder."""


def atomic_write(path: Path, content: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``content`` so no reader ever sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def _file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


class StaticSite:
    name: ClassVar[str] = "static"

    def __init__(self, root: Path, base_url: str):
        self.root = root
        self.base_url = base_url

    def target(self, item: str) -> Path:
        relative = PurePosixPath(item)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise UnsafePath(f"refusing to write '{item}': not a path inside the site folder")
        return self.root.joinpath(*relative.parts)

    def url(self, item: str) -> str:
        return self.base_url + item.removesuffix("index.html")

    def publish(
        self, batch: Batch, ledger: Ledger, now: datetime, dry_run: bool = False
    ) -> list[Receipt]:
        known = ledger.items(batch.finding_id, batch.channel, self.name)
        receipts: list[Receipt] = []
        for deliverable in batch.deliverables:
            path = self.target(deliverable.path)
            current = _file_hash(path)
            action: Action
            if current == deliverable.sha256:
                action = "unchanged"
            else:
                action = "created" if current is None else "updated"
                if not dry_run:
                    atomic_write(path, deliverable.content)
            recorded = known.get(deliverable.path)
            if not dry_run and (recorded is None or recorded.content_hash != deliverable.sha256):
                ledger.record(
                    batch.finding_id,
                    batch.channel,
                    self.name,
                    deliverable.path,
                    deliverable.sha256,
                    self.url(deliverable.path),
                    now,
                )
            receipts.append(
                Receipt(
                    batch.channel,
                    self.name,
                    batch.finding_id,
                    deliverable.path,
                    action,
                    self.url(deliverable.path),
                )
            )
        wanted = {deliverable.path for deliverable in batch.deliverables}
        for stale in sorted(set(known) - wanted):
            if not dry_run:
                with contextlib.suppress(FileNotFoundError):
                    self.target(stale).unlink()
                ledger.forget(batch.finding_id, batch.channel, self.name, stale)
            receipts.append(
                Receipt(batch.channel, self.name, batch.finding_id, stale, "removed", None)
            )
        return receipts
