"""``outreach state migrate``: bring the state's stores up to date, or move them from the
SQLite files to a team's PostgreSQL database (``--to``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

state_app = typer.Typer(
    help="The state (ledger, send log, audit log, subscribers): migrations and moving it.",
    no_args_is_help=True,
)


@state_app.command("migrate")
def migrate(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Copy the SQLite state into this empty PostgreSQL database "
            "(postgresql://user@host/db; password from OUTREACH_STATE_PASSWORD).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
        ),
    ] = None,
) -> None:
    """Run the stores' migrations (idempotent); with --to, copy and verify the state."""
    from outreach.config import load_settings
    from outreach.state_migrate import copy_to_postgresql, migrate_stores
    from outreach_cli.main import console, on_failure

    on_failure(ctx, "Nothing was copied and the SQLite files are unchanged. ")
    settings = load_settings(config)
    if to is None:
        versions = migrate_stores(settings)
        where = settings.state.url or str(settings.paths.state)
        listed = ", ".join(f"{name} v{version}" for name, version in sorted(versions.items()))
        console.print(f"State in {where} is up to date: {listed}.", soft_wrap=True)
        return
    from outreach.config import check_state_url

    try:
        check_state_url(to)
    except ValueError as exc:
        from outreach.config import ConfigError

        raise ConfigError(f"--to: {exc}") from None
    copies = copy_to_postgresql(settings, to)
    for copy in copies:
        console.print(f"{copy.table}: {copy.rows} rows, sha256 {copy.checksum[:16]}… verified")
    console.print(
        f"Copied and verified {sum(c.rows for c in copies)} rows in {len(copies)} tables. "
        f'Set [state] url = "{to}" to use them (the SQLite files are kept as they were).',
        soft_wrap=True,
    )
