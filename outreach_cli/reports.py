"""``outreach report``: build a report's two editions for review."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

report_app = typer.Typer(
    help="Reports (reports/<id>.md): build the web edition and the PDF for review.",
    no_args_is_help=True,
)


@report_app.command("build")
def build(
    ctx: typer.Context,
    report_id: Annotated[str, typer.Argument(help="The report's id (its file name without .md).")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
        ),
    ] = None,
) -> None:
    """Render both editions of one report into the build folder; publish nothing."""
    from outreach.config import load_settings
    from outreach.reports.build import build_report
    from outreach_cli.main import NOTHING_PUBLISHED, console, on_failure

    on_failure(ctx, NOTHING_PUBLISHED)
    settings = load_settings(config)
    with console.status(f"Building report '{report_id}'…"):
        built = build_report(settings, report_id)
    console.print(f"Web edition: {built.landing}", soft_wrap=True)
    if built.pdf is not None:
        console.print(f"PDF edition: {built.pdf}", soft_wrap=True)
    else:
        console.print("PDF edition: not built (outreach.reports.pdf is not installed)")
    console.print(f"{len(built.files)} files in {settings.paths.build}")
