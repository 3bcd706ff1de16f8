"""``outreach subscribers find|show|erase``: one person's data, for requests under data law.

The existing ``subscribers import|export`` stay in ``outreach_cli.main``; these commands are
added to the same group by ``register``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from outreach.config import Settings, load_settings

console = Console(highlight=False, markup=False)
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
    ),
]
"""The same option as ``outreach_cli.main``'s (this module is imported by it, not back)."""


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


def subscribers_find(
    text: Annotated[str, typer.Argument(help="Part of an address or a name.")],
    config: ConfigOption = None,
) -> None:
    """List subscribers whose address or name contains TEXT."""
    from outreach.audience import find

    found = find(_settings(config), text)
    table = Table("email", "name", "status", "topics", title=f"{len(found)} found")
    for subscriber in found:
        table.add_row(
            subscriber.email, subscriber.name, subscriber.status, ", ".join(subscriber.topics)
        )
    console.print(table)


def subscribers_show(
    email: Annotated[str, typer.Argument(help="The address.")],
    config: ConfigOption = None,
) -> None:
    """Show what we hold about an address: status, topics, consent, and what was sent to it."""
    from outreach.audience import show

    record = show(_settings(config), email)
    subscriber = record.subscriber
    lines = [f"Address: {record.email} (recipient id {record.recipient_id})"]
    if subscriber is None:
        lines.append("Subscriber: none")
    else:
        lines += [
            f"Name: {subscriber.name or '(none)'}",
            f"Status: {subscriber.status}",
            f"Topics: {', '.join(subscriber.topics)}",
            f"Consent: {subscriber.consent_source} at {subscriber.consent_at}",
        ]
    lines.append(f"Suppressed: {record.suppressed or 'no'}")
    lines.append(f"Journalist list: {'yes' if record.journalist else 'no'}")
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)
    table = Table("message", "state", "at", title=f"{len(record.received)} messages recorded")
    for received in record.received:
        table.add_row(received.what, received.state, received.at)
    console.print(table)


def subscribers_erase(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The address to erase.")],
    yes: Annotated[bool, typer.Option("--yes", help="Erase without asking.")] = False,
    config: ConfigOption = None,
) -> None:
    """Erase an address from every store and never mail it again (kept as a hashed id)."""
    from outreach.audience import erase
    from outreach.audit import command_line_actor
    from outreach_cli.main import on_failure  # at run time: main imports this module

    on_failure(ctx, "Nothing was erased. ")
    settings = _settings(config)
    if not yes and not typer.confirm(f"Erase {email} from every store?"):
        raise typer.Exit(1)
    done = erase(settings, email, datetime.now(UTC), command_line_actor())
    removed = ", ".join(f"{n} {what}" for what, n in done.removed.items() if n) or "nothing held"
    console.print(f"Erased ({removed}); suppressed as {done.recipient_id}.", soft_wrap=True)
    if done.journalist_list is not None:
        console.print(
            f"{done.journalist_list} still lists this address: delete its row (pitches to it "
            "are already stopped by the suppression list).",
            markup=False,
            soft_wrap=True,
        )


def register(subscribers_app: typer.Typer) -> None:
    """Add the commands to ``outreach subscribers``."""
    subscribers_app.command("find")(subscribers_find)
    subscribers_app.command("show")(subscribers_show)
    subscribers_app.command("erase")(subscribers_erase)
