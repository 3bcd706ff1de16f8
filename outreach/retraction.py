"""Retractions: a publication taken down everywhere it went, leaving a short notice.

A retraction is state, not a one-off deletion: it is recorded in the audit log (in the ledger
file) and every release reads it back (``retractions``) and passes it to rendering on the
finding (``Finding.retraction``). The channels then render only a notice at the post's and
the newsroom page's addresses and nothing else of the finding, so the existing removal of
files a batch no longer holds takes down the rest (images, kit, episode, bucket objects), the
indexes, feeds and sitemap stop listing it, and the WordPress post goes back to draft. A later
rebuild keeps it retracted.

``outreach retract ID --note TEXT`` records the request; it runs only once approved (gate
"retraction"), as every step that changes what the public and journalists see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from outreach.audit import AuditLog
from outreach.config import Settings
from outreach.errors import OutreachError
from outreach.finding import Retraction
from outreach.store import has_state

if TYPE_CHECKING:
    from outreach.actions import ActionContext
    from outreach.gates import Shown, TestMessage

GATE = "retraction"
EVENT = "retraction"
REQUESTED = "requested"
RETRACTED = "retracted"


class RetractionError(OutreachError):
    """A retraction cannot be requested as asked; nothing was recorded."""

    before_any_change: ClassVar[bool] = True


def retractions(settings: Settings) -> dict[str, Retraction]:
    """Every finding taken down, with when and why (the latest retraction event decides)."""
    if not has_state(settings.paths.ledger):
        return {}
    latest: dict[str, tuple[str, datetime, str]] = {}
    for entry in AuditLog(settings.paths.ledger).entries(event=EVENT):
        note = str(entry.detail.get("note", ""))
        latest[entry.publication] = (entry.outcome, datetime.fromisoformat(entry.at), note)
    return {
        publication: Retraction(at=at, note=note)
        for publication, (outcome, at, note) in latest.items()
        if outcome == RETRACTED and note
    }


def pending_request(settings: Settings, finding_id: str) -> str | None:
    """The note of a requested, not yet approved retraction (None: none pending)."""
    if not has_state(settings.paths.ledger):
        return None
    entry = AuditLog(settings.paths.ledger).latest(EVENT, finding_id, GATE)
    if entry is None or entry.outcome != REQUESTED:
        return None
    return str(entry.detail.get("note", "")) or None


def request_retraction(
    settings: Settings, finding_id: str, note: str, now: datetime, actor: str
) -> RetractPublication:
    """Record the request (audit event "retraction", outcome "requested") and return the
    action that carries it out once approved. Raises RetractionError for an unknown or
    already retracted finding, or an empty note."""
    from outreach.release_steps import load_catalog

    note = " ".join(note.split())
    if not note:
        raise RetractionError(
            "--note: empty; say in a sentence why the publication is withdrawn (readers see it)"
        )
    catalog = load_catalog(settings)
    finding = catalog.get(finding_id)
    if finding is None:
        raise RetractionError(
            f"no finding with id '{finding_id}'; known ids: "
            f"{', '.join(sorted(catalog)) or '(none)'}"
        )
    if finding.retraction is not None:
        raise RetractionError(
            f"'{finding_id}' was already retracted on {finding.retraction.at.isoformat()}"
        )
    AuditLog(settings.paths.ledger).record(
        EVENT, now, publication=finding_id, actor=actor, subject=GATE, outcome=REQUESTED,
        detail={"note": note},
    )  # fmt: skip
    return RetractPublication(finding_id, note)


@dataclass(frozen=True)
class RetractPublication:
    """Take a finding down everywhere it went and leave its notice (after approval)."""

    finding_id: str
    note: str
    actor: str = "release"
    gate: ClassVar[str | None] = GATE

    @property
    def publication(self) -> str:
        return self.finding_id

    @property
    def label(self) -> str:
        return f"The retraction of '{self.finding_id}'"

    def shown(self, settings: Settings, now: datetime) -> Shown:
        """What the approver sees: the finding and the notice readers will read."""
        from outreach.gates import Shown

        return Shown(subject=f"Retract '{self.finding_id}'", count=1, sample=(), text=self.note)

    def test_messages(
        self, settings: Settings, now: datetime, addresses: Sequence[str]
    ) -> list[TestMessage]:
        return []  # nothing is mailed: a retraction takes pages down

    def awaiting(self) -> str:
        return (
            f"The retraction of '{self.finding_id}' awaits approval (gate '{GATE}'): run "
            f"'outreach approve {self.finding_id}' or 'outreach retract {self.finding_id} "
            "--note ... --approve'; nothing was taken down."
        )

    @classmethod
    def for_approval(
        cls, publication_id: str, settings: Settings, now: datetime
    ) -> RetractPublication | None:
        """The pending retraction of a finding, for ``outreach approve`` (None: none)."""
        note = pending_request(settings, publication_id)
        return None if note is None else cls(publication_id, note)

    def run(self, context: ActionContext) -> list[str]:
        """Record the retraction, then release the finding: its channels render the notice
        in place of everything else, and what they no longer render is removed."""
        from outreach.release import ReleaseRequest, run_release

        settings, now = context.settings, context.now
        AuditLog(settings.paths.ledger).record(
            EVENT, now, publication=self.finding_id, actor=self.actor, subject=GATE,
            outcome=RETRACTED, detail={"note": self.note},
        )  # fmt: skip
        report = run_release(ReleaseRequest(settings, now, [self.finding_id]))
        removed = sum(1 for r in report.receipts if r.action == "removed")
        return [
            f"Retracted '{self.finding_id}': {removed} file(s) removed; a notice stays at its "
            "post and newsroom addresses.",
            *report.notes,
        ]
