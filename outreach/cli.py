"""The ``outreach`` command: check, build, release, rebuild and serve.

``release`` and ``rebuild`` run the same Prefect flows the team triggers from the UI; findings
are validated first, without Prefect, so mistakes are reported in a second.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from outreach.channels import RenderError
from outreach.config import ConfigError, Settings, load_settings
from outreach.finding import FindingsInvalid
from outreach.release import (
    ReleaseError,
    ReleaseReport,
    build_preview,
    load_catalog,
    resolve_channels,
    resolve_ids,
)

app = typer.Typer(
    help="Turn research findings into published posts, episodes, releases and newsletters.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(highlight=False, markup=False)
errors = Console(stderr=True, highlight=False, markup=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
    ),
]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        errors.print(f"Configuration error: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _fail(exc: Exception) -> typer.Exit:
    errors.print(f"Nothing was published. {exc}", style="red", markup=False, soft_wrap=True)
    return typer.Exit(1)


def _print_report(report: ReleaseReport, settings: Settings) -> None:
    """One row per channel and finding, counting what happened to its files."""
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for receipt in report.receipts:
        counts = rows.setdefault((receipt.channel, receipt.finding_id or "(site pages)"), {})
        counts[receipt.action] = counts.get(receipt.action, 0) + 1
    table = Table(
        "channel", "finding", "files", title="Would publish" if report.dry_run else "Published"
    )
    for (channel, finding_id), counts in rows.items():
        table.add_row(
            channel, finding_id, ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
        )
    console.print(table)
    console.print(report.summary(), markup=False, soft_wrap=True)
    console.print(f"Site folder: {settings.paths.public}")


@app.command()
def check(config: ConfigOption = None) -> None:
    """Validate every finding; list each problem with the file, the field and the fix."""
    settings = _settings(config)
    try:
        catalog = load_catalog(settings)
        resolve_channels(settings, None, need_secrets=False)
    except (FindingsInvalid, ReleaseError) as exc:
        errors.print(str(exc), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    now = datetime.now(UTC)
    table = Table("id", "published", "topics", "status", title=f"{len(catalog)} findings are valid")
    for finding in sorted(catalog.values(), key=lambda f: f.published):
        status = (
            "public" if finding.is_public(now) else f"held until {finding.public_from.isoformat()}"
        )
        table.add_row(finding.id, finding.published.isoformat(), ", ".join(finding.topics), status)
    console.print(table)


@app.command()
def headlines(
    finding_ids: Annotated[
        list[str] | None, typer.Argument(help="Findings (default: all).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Show each finding's chosen headlines and runners-up with scores and house-style notes."""
    from outreach.press.assemble import load_press_data, release_for

    settings = _settings(config)
    try:
        catalog = load_catalog(settings)
        ids = resolve_ids(catalog, finding_ids or None)
        data = load_press_data(settings)
    except (FindingsInvalid, ReleaseError, RenderError) as exc:
        raise _fail(exc) from None
    for finding_id in ids:
        _, choice = release_for(catalog[finding_id], settings, data)
        table = Table("kind", "pick", "score", "headline", "house style", title=finding_id)
        for kind, chosen, runners in (
            ("business", choice.business, choice.business_runners_up),
            ("consumer", choice.consumer, choice.consumer_runners_up),
        ):
            for pick, headline in enumerate((chosen, *runners)):
                label = f"{pick} ({headline.origin})" if pick == 0 else str(pick)
                notes = "; ".join(headline.problems) or f"ok (grade {headline.grade})"
                table.add_row(kind, label, f"{headline.score}", headline.text, notes)
        console.print(table)
        for warning in choice.warnings:
            errors.print(f"Warning: {warning}", style="yellow", soft_wrap=True)


@app.command()
def build(config: ConfigOption = None) -> None:
    """Render every finding into the build folder for review, publishing nothing."""
    settings = _settings(config)
    try:
        with console.status("Rendering findings…"):
            written, held = build_preview(settings, datetime.now(UTC))
    except (FindingsInvalid, ReleaseError, RenderError) as exc:
        raise _fail(exc) from None
    for hold in held:
        console.print(
            f"Held: '{hold.finding_id}' is not public before {hold.until.isoformat()}.",
            markup=False,
        )
    console.print(f"Rendered {written} files into {settings.paths.build}")


@app.command()
def release(
    finding_ids: Annotated[
        list[str] | None, typer.Argument(help="Ids of the findings to release.")
    ] = None,
    all_findings: Annotated[bool, typer.Option("--all", help="Release every finding.")] = False,
    channel: Annotated[
        list[str] | None, typer.Option("--channel", "-c", help="Only this channel (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    approve: Annotated[
        bool, typer.Option("--approve", help="Approve the journalist pitches without asking.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Release findings through the Prefect release flow."""
    if bool(finding_ids) == all_findings:
        errors.print("Give finding ids or --all (not both).")
        raise typer.Exit(2)
    settings = _settings(config)
    try:
        catalog = load_catalog(settings)
        ids = resolve_ids(catalog, None if all_findings else finding_ids)
        resolve_channels(settings, channel, need_secrets=False)
    except (FindingsInvalid, ReleaseError) as exc:
        raise _fail(exc) from None

    from flows.release import release_finding, release_findings

    config_arg = str(config) if config else None
    try:
        with console.status(f"Releasing {len(ids)} finding{'s' if len(ids) != 1 else ''}…"):
            decision = True if approve else None
            if len(ids) == 1:
                report = release_finding(
                    ids[0], channel, dry_run, config_arg, approve_pitches=decision
                )
            else:
                report = release_findings(
                    ids, channel, dry_run, config_arg, approve_pitches=decision
                )
    except (FindingsInvalid, ReleaseError, RenderError) as exc:
        raise _fail(exc) from None
    _print_report(report, settings)


@app.command()
def rebuild(config: ConfigOption = None) -> None:
    """Re-render every released finding and every index page and feed."""
    settings = _settings(config)
    try:
        load_catalog(settings)
    except FindingsInvalid as exc:
        raise _fail(exc) from None
    from flows.release import rebuild_site

    try:
        with console.status("Rebuilding the site…"):
            report = rebuild_site(None, str(config) if config else None)
    except (FindingsInvalid, ReleaseError, RenderError) as exc:
        raise _fail(exc) from None
    _print_report(report, settings)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    config: ConfigOption = None,
) -> None:
    """Preview the site and run the subscriber pages (sign-up, preferences, unsubscribe)."""
    from outreach.web import bind, create_app
    from outreach.web import serve as run_server

    settings = _settings(config)
    root = settings.paths.public
    if not (root / "index.html").is_file():
        errors.print(f"{root} has no site yet; run 'make demo' or 'outreach release --all' first.")
        raise typer.Exit(1)
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    console.print(f"Serving {root} on http://{bound_host}:{bound_port}/ (Ctrl+C to stop)")
    console.print(f"Newsletter sign-up: http://{bound_host}:{bound_port}/newsletter/")
    with contextlib.suppress(KeyboardInterrupt):
        run_server(create_app(settings), sock)


platforms_app = typer.Typer(help="The platforms releases push to.", no_args_is_help=True)
app.add_typer(platforms_app, name="platforms")


@platforms_app.command("check")
def platforms_check(config: ConfigOption = None) -> None:
    """Reach every configured platform with its credentials and say what works and what not."""
    from outreach.platforms.base import PlatformUnavailable
    from outreach.platforms.registry import configured_platforms, make_platform

    settings = _settings(config)
    names = configured_platforms(settings, list(settings.channels))
    failed = False
    for name in names:
        try:
            line = f"ok  {name}: {make_platform(settings, name).check()}"
        except PlatformUnavailable as exc:
            failed = True
            line = f"FAIL {name}: {exc}"
        console.print(line, markup=False, soft_wrap=True)
    if not names:
        console.print("No channel pushes to any platform.")
    if failed:
        raise typer.Exit(1)


subscribers_app = typer.Typer(
    help="The subscriber list: import and export CSV.", no_args_is_help=True
)
newsletter_app = typer.Typer(help="Send newsletters.", no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(newsletter_app, name="newsletter")


@subscribers_app.command("import")
def subscribers_import(
    path: Annotated[
        Path, typer.Argument(help="CSV with email, name, topics (';'-separated), status.")
    ],
    source: Annotated[
        str, typer.Option(help="Consent source recorded for rows without one.")
    ] = "import",
    config: ConfigOption = None,
) -> None:
    """Import subscribers (all rows or none); people who left are never re-added."""
    from outreach.subscribers import SubscriberError, SubscriberStore

    settings = _settings(config)
    try:
        count = SubscriberStore(settings.paths.subscribers).import_csv(
            path.read_text(encoding="utf-8"), source, datetime.now(UTC)
        )
    except (OSError, SubscriberError) as exc:
        errors.print(f"Nothing was imported. {path}: {exc}", style="red", soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"Imported or updated {count} subscribers.")


@subscribers_app.command("export")
def subscribers_export(config: ConfigOption = None) -> None:
    """Print every subscriber as CSV (with status and consent record)."""
    from outreach.subscribers import SubscriberStore

    settings = _settings(config)
    print(SubscriberStore(settings.paths.subscribers).export_csv(), end="")


@contextlib.contextmanager
def _send_progress(settings: Settings, send_id: str) -> Iterator[None]:
    """A progress bar fed by the send's rows in the ledger, while the flow sends."""
    import threading

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from outreach.sending import SendLog

    log = SendLog(settings.paths.ledger)
    stop = threading.Event()
    with Progress(
        "Sending", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        task = bar.add_task("send", total=None)

        def poll() -> None:
            while not stop.wait(0.25):
                counts = log.counts(send_id)
                if counts.total:
                    bar.update(task, total=counts.total, completed=counts.total - counts.pending)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            counts = log.counts(send_id)
            bar.update(task, total=counts.total or 1, completed=counts.total - counts.pending)


@newsletter_app.command("send")
def newsletter_send(
    finding_ids: Annotated[list[str], typer.Argument(help="One finding, or several for a digest.")],
    digest: Annotated[
        str | None, typer.Option(help="Send the findings as one digest with this subject.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Send a finding (or a digest) through the send-newsletter flow; a re-run resumes."""
    settings = _settings(config)
    try:
        catalog = load_catalog(settings)
        ids = resolve_ids(catalog, finding_ids)
    except (FindingsInvalid, ReleaseError) as exc:
        raise _fail(exc) from None
    from flows.newsletter import send_newsletter
    from outreach.campaign import send_id_for
    from outreach.mail_errors import MailError
    from outreach.newsletter import digest_issue, finding_issue
    from outreach.sending import SendLog

    findings = [catalog[i] for i in ids]
    issue = digest_issue(findings, digest) if digest else finding_issue(findings[0])
    send_id = send_id_for(issue)
    already = SendLog(settings.paths.ledger).counts(send_id)
    if already.total and not already.pending:
        errors.print(
            f"Newsletter '{issue.key}' was already sent ({already.sent} sent, "
            f"{already.bounced} bounced, of {already.total} recipients): nothing was sent.",
            style="red",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    try:
        with _send_progress(settings, send_id):
            summary = send_newsletter(finding_ids, digest, str(config) if config else None)
    except (ReleaseError, RenderError) as exc:
        raise _fail(exc) from None
    except MailError as exc:
        errors.print(str(exc), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(summary, soft_wrap=True)


if __name__ == "__main__":
    app()
