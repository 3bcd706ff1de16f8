"""``outreach preview``: everything a release would make, rendered into ``build/`` and served
on loopback, with the address of each post, episode, newsroom page, press kit and email.

It runs the release sequence with the preview runner (``outreach build``'s path): no platform,
ledger, subscriber store or mail server is touched, and nothing is sent.
"""

from __future__ import annotations

import contextlib
import functools
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated

import typer

from outreach.channels.base import SITE_WIDE
from outreach.errors import OutreachError
from outreach.preview import write_index
from outreach.release import ReleaseRequest, run_release
from outreach.runner import PreviewRunner

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
    ),
]


class QuietFiles(SimpleHTTPRequestHandler):
    """Files of the build folder; the request log stays off the terminal's listing."""

    def log_message(self, format: str, *args: object) -> None:
        return None


def addresses(receipts, emails, index: str) -> list[tuple[str, str]]:
    """(what, path) for every page a reviewer opens: site pages, then each publication's
    pages by channel, then the email previews."""
    pages = sorted(
        {
            (r.finding_id or SITE_WIDE, r.channel, r.item.removesuffix("index.html"))
            for r in receipts
            if r.item.endswith("index.html")
        }
    )
    found = [("site", "")]
    found += [
        (f"{channel} {finding}" if finding != SITE_WIDE else f"{channel} (site pages)", path)
        for finding, channel, path in pages
        if path and (finding != SITE_WIDE or path.count("/") <= 1)  # not every topic page
    ]
    found.append(("email previews", index.removesuffix("index.html")))
    found += [(f"{e.kind} {e.finding_id} to {e.recipient}", e.html_path) for e in emails]
    return found


def preview(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8001,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve build/ after rendering.")
    ] = True,
    config: ConfigOption = None,
) -> None:
    """Render everything (site, emails, pitches, press kits) into build/ and serve it; sends
    nothing, publishes nothing."""
    from outreach_cli.main import NOTHING_PUBLISHED, _settings, console, on_failure

    on_failure(ctx, NOTHING_PUBLISHED)
    settings = _settings(config)
    build = settings.paths.build
    runner = PreviewRunner()
    with console.status("Rendering the preview…"):
        report = run_release(ReleaseRequest(settings, datetime.now(UTC), preview=True), runner)
        index = write_index(runner.emails, build)
    for finding_id, until in sorted({(hold.finding_id, hold.until) for hold in report.held}):
        console.print(
            f"Held: '{finding_id}' is not public before {until.isoformat()}: its public "
            "pages are not in the preview.",
            soft_wrap=True,
        )
    console.print(
        f"Rendered {len(report.receipts)} files and {len(runner.emails)} email previews into "
        f"{build}; nothing was sent or published."
    )
    listing = addresses(report.receipts, runner.emails, index)
    if not serve:
        for what, path in listing:
            console.print(f"  {what}: {build / path}", soft_wrap=True)
        return
    server = bind(build, port)
    host, bound = server.server_address[:2]
    root = f"http://{host}:{bound}/"
    console.print(f"Serving {build} on {root} (Ctrl+C to stop)")
    for what, path in listing:
        console.print(f"  {what}: {root}{path}", soft_wrap=True)
    with contextlib.suppress(KeyboardInterrupt), server:
        server.serve_forever()


def bind(folder: Path, port: int) -> ThreadingHTTPServer:
    """An HTTP server for ``folder`` on 127.0.0.1 only: the build holds embargoed kits."""
    handler = functools.partial(QuietFiles, directory=str(folder))
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:  # the port is taken
        raise OutreachError(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); choose another --port "
            "(0: any free port)"
        ) from None
