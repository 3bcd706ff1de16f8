"""A release's own audit events as a short Markdown section (the release artifact's).

Bounded whatever the release did: decisions and sends are listed up to a limit, every kind is
counted by outcome, and the section ends with the command that prints all of it. Recipients
appear by id, as in the log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from outreach.audit import AuditLog, Entry

LISTED = ("decision", "send", "correction", "retraction")
"""Kinds of events listed one per row (publishes are counted: the artifact lists the files)."""


def release_events(log: AuditLog, publications: Iterable[str], since: datetime) -> Iterable[Entry]:
    """The events recorded for ``publications`` at or after the release's time."""
    for publication in sorted(set(publications)):
        yield from log.entries(publication=publication, since=since)


def audit_section(
    entries: Iterable[Entry], publications: Iterable[str], limit: int = 20
) -> list[str]:
    """Markdown lines: a table of at most ``limit`` listed events, counts of every kind by
    outcome, and ``outreach log --finding ID`` for the rest."""
    rows: list[str] = []
    counts: Counter[tuple[str, str]] = Counter()
    hidden = 0
    for entry in entries:
        counts[(entry.event, entry.outcome)] += 1
        if entry.event not in LISTED:
            continue
        if len(rows) >= limit:
            hidden += 1
            continue
        cells = (entry.at, entry.event, entry.publication or "(site)", entry.actor,
                 entry.subject, entry.outcome)  # fmt: skip
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines = ["## Audit log", ""]
    if not counts:
        lines += ["No decision, send or publish was recorded by this release.", ""]
    else:
        kinds = sorted({event for event, _ in counts})
        for kind in kinds:
            parts = [f"{n} {outcome or '-'}" for (event, outcome), n in sorted(counts.items())
                     if event == kind]  # fmt: skip
            lines.append(f"- {kind}: {', '.join(parts)}")
        lines.append("")
    if rows:
        lines += ["| time | event | publication | actor | subject | outcome |"]
        lines += ["|---|---|---|---|---|---|", *rows, ""]
    if hidden:
        lines += [f"{hidden} more decisions and sends are not listed here.", ""]
    named = [p for p in sorted(set(publications)) if p]
    commands = ", ".join(f"`outreach log --finding {p}`" for p in named[:5])
    more = " (and the other findings likewise)" if len(named) > 5 else ""
    lines.append(f"Everything, with details: {commands or '`outreach log`'}{more}.")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
