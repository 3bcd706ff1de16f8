"""One typed request for a release: what to release, where, and what is approved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from outreach.config import Settings

BATCH_SIZE = 25
"""Publications rendered and published together: memory stays bounded however large the
site, and a release of up to this many renders everything before publishing anything."""


@dataclass(frozen=True)
class ReleaseRequest:
    """Everything one release is asked to do, in one typed value."""

    settings: Settings
    now: datetime
    ids: Sequence[str] | None = None
    """Publications to release (None: all). A finding is named by its id; another kind's
    publication as ``kind:id``."""
    kinds: Sequence[str] | None = None
    """Kinds to release (None: every known kind). Every kind is validated regardless."""
    channels: Sequence[str] | None = None
    dry_run: bool = False
    rebuild: bool = False
    """Re-render everything already released (``ids``, when given, narrows it to those of
    them: a drift repair re-pushes only the publications that differ)."""
    approvals: Mapping[str, bool | None] = field(default_factory=dict)
    """Decisions for the actions that reach people, by gate ("pitches", "newsletter"):
    True sends, False declines, missing or None waits (a note says how to approve)."""
    config: str | None = None
    """The configuration file's path, for work scheduled for later (embargo lifts)."""
    preview: bool = False
    """Render everything into the build folder; no platform, ledger or action."""
    batch_size: int = BATCH_SIZE
