"""``outreach social preview ID``: each network's posts for a finding, with their counts.

Offline: nothing is posted and no network is asked. Bluesky's limit is fixed (300
graphemes); Mastodon's is the instance's, so it is given here (default: Mastodon's 500).
Registered on the main command group by ``outreach_cli.main``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from outreach.config import load_settings
from outreach.release import load_catalog
from outreach.social.post import planned_posts
from outreach.social.text import BLUESKY_LIMIT, NETWORKS

console = Console(highlight=False, markup=False)
social_app = typer.Typer(help="Social posts (Bluesky, Mastodon).", no_args_is_help=True)


@social_app.command("preview")
def social_preview(
    finding_id: Annotated[str, typer.Argument(help="The finding's id.")],
    mastodon_limit: Annotated[
        int, typer.Option(help="The Mastodon instance's character limit (links count 23).")
    ] = 500,
    config: Annotated[Path | None, typer.Option("--config", help="Configuration file.")] = None,
) -> None:
    """Print each network's post (or thread) for a finding, with its length and the limit."""
    settings = load_settings(config)
    catalog = load_catalog(settings)
    if finding_id not in catalog:
        known = ", ".join(sorted(catalog)) or "none"
        console.print(f"No ready finding '{finding_id}'; ready findings: {known}", soft_wrap=True)
        raise typer.Exit(2)
    finding = catalog[finding_id]
    limits = {"bluesky": BLUESKY_LIMIT, "mastodon": mastodon_limit}
    for network in NETWORKS:
        unit = "graphemes" if network == "bluesky" else "characters"
        for post in planned_posts(finding, settings, network, limits[network]):
            console.print(
                f"--- {network} post {post.part + 1}: {post.length}/{post.limit} {unit}",
                soft_wrap=True,
            )
            console.print(post.text, soft_wrap=True)
