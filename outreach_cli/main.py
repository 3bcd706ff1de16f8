"""The ``outreach`` command: check, build, release, rebuild and serve.

``release``, ``rebuild`` and ``newsletter send`` run the Prefect flows the team triggers from
the UI when a Prefect server is configured, and the same core sequence directly without one
(``outreach_cli.runs``); findings are validated first, so mistakes are reported in a second.
Every expected failure is an ``OutreachError``, turned into a message and an exit code in one
place (``Commands.invoke``): no traceback reaches the user.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from outreach.config import Settings, load_settings
from outreach.errors import OutreachError, PlatformError
from outreach.release import (
    ReleaseReport,
    build_preview,
    load_catalog,
    resolve_channels,
    resolve_ids,
)
from outreach_cli import calendar, editorial, verify
from outreach_cli.approvals import register_approvals
from outreach_cli.log import log_command

console = Console(highlight=False, markup=False)
errors = Console(stderr=True, highlight=False, markup=False)

BEFORE_ANY_CHANGE = "outreach.before-any-change"
STOPPED = "outreach.stopped"
"""Keys in the click context's shared ``meta``: what a command says when it fails before
changing anything, and after it may have changed something (for example how to resume)."""


def failure_text(exc: OutreachError, meta: dict[str, Any]) -> str:
    """The one paragraph a user reads for an expected failure."""
    if exc.before_any_change:
        return f"{meta.get(BEFORE_ANY_CHANGE, '')}{exc.heading}{exc}"
    stopped = meta.get(STOPPED, "")
    return f"{exc.heading}{exc}" + (f" {stopped}" if stopped else "")


def on_failure(ctx: typer.Context, before_any_change: str = "", stopped: str = "") -> None:
    """Say what a failure of the running command means for the user's data."""
    ctx.meta[BEFORE_ANY_CHANGE], ctx.meta[STOPPED] = before_any_change, stopped


class Commands(TyperGroup):
    """The command group: the one place where an expected failure (``OutreachError``: bad
    content, credentials, an unreachable server, refused mail) becomes a message on stderr and
    the error's exit code, never a traceback."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutreachError as exc:
            errors.print(failure_text(exc, ctx.meta), style="red", markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


class HideExpectedTracebacks(logging.Filter):
    """On the console, an expected failure logged by Prefect's engine (a task or flow that
    raised an OutreachError) shows its message without a traceback; the server's copy of the
    log keeps it. Unexpected errors keep their traceback everywhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], OutreachError):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_expected_tracebacks() -> None:
    """Attach the filter to the console handlers Prefect set up (call after importing flows)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, HideExpectedTracebacks) for f in handler.filters
        ):
            handler.addFilter(HideExpectedTracebacks())


app = typer.Typer(
    cls=Commands,
    help="Turn research findings into published posts, episodes, releases and newsletters.",
    no_args_is_help=True,
    add_completion=False,
)

NOTHING_PUBLISHED = "Nothing was published. "
RESUME = (
    "What was published before this stays published and recorded; run the same command again "
    "after the fix: it resumes where it stopped."
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: ./outreach.toml or $OUTREACH_CONFIG)."
    ),
]


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


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
    if report.dry_run:  # every file that would change, by platform
        for receipt in report.changed:
            where = receipt.url or f"{receipt.platform}: {receipt.item}"
            console.print(f"  would be {receipt.action}: {where}", markup=False, soft_wrap=True)
    console.print(report.summary(), markup=False, soft_wrap=True)
    console.print(f"Site folder: {settings.paths.public}")


@app.command()
def check(config: ConfigOption = None) -> None:
    """Validate every finding; list each problem with the file, the field and the fix."""
    settings = _settings(config)
    catalog = load_catalog(settings)
    resolve_channels(settings, None, need_secrets=False)
    now = datetime.now(UTC)
    table = Table("id", "published", "topics", "status", title=f"{len(catalog)} findings are valid")
    for finding in sorted(catalog.values(), key=lambda f: f.published):
        status = (
            "public" if finding.is_public(now) else f"held until {finding.public_from.isoformat()}"
        )
        table.add_row(finding.id, finding.published.isoformat(), ", ".join(finding.topics), status)
    console.print(table)
    for draft in catalog.drafts.values():  # never released; their problems do not stop anything
        console.print(f"Draft (not released): {draft.id} ({draft.file})", soft_wrap=True)
    for warning in catalog.warnings():
        errors.print(f"Warning: {warning}", style="yellow", soft_wrap=True)


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
    catalog = load_catalog(settings)
    ids = resolve_ids(catalog, finding_ids or None)
    data = load_press_data(settings)
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
def build(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Render every finding into the build folder for review, publishing nothing."""
    on_failure(ctx, NOTHING_PUBLISHED)
    settings = _settings(config)
    with console.status("Rendering findings…"):
        written, held = build_preview(settings, datetime.now(UTC))
    for hold in held:
        console.print(
            f"Held: '{hold.finding_id}' is not public before {hold.until.isoformat()}.",
            markup=False,
        )
    console.print(f"Rendered {written} files into {settings.paths.build}")


@app.command()
def release(
    ctx: typer.Context,
    finding_ids: Annotated[
        list[str] | None, typer.Argument(help="Ids of the findings to release.")
    ] = None,
    all_findings: Annotated[
        bool,
        typer.Option("--all", help="Release everything: every finding, report and event."),
    ] = False,
    channel: Annotated[
        list[str] | None, typer.Option("--channel", "-c", help="Only this channel (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    approve: Annotated[
        bool,
        typer.Option(
            "--approve",
            help="Approve every gate this release reaches (pitches, newsletter, social "
            "posts) without asking; recorded in the audit log.",
        ),
    ] = False,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="The demo: add sample subscribers (example.org) and approve every gate; "
            'refused unless mail.platform is "outbox".',
        ),
    ] = False,
    report_ids: Annotated[
        list[str] | None,
        typer.Option("--report", help="Release this report (repeatable; ledger key report:ID)."),
    ] = None,
    event: Annotated[
        list[str] | None, typer.Option("--event", help="Release this event (repeatable).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Release findings, reports or events (through the release flow on a Prefect server;
    directly without one)."""
    if event and not finding_ids and not all_findings and not report_ids:
        from outreach_cli.events import release_events_command

        on_failure(ctx, NOTHING_PUBLISHED, RESUME)
        settings = _settings(config)
        resolve_channels(settings, channel, need_secrets=False)
        if demo:
            from outreach.demo import add_sample_subscribers

            add_sample_subscribers(settings, datetime.now(UTC))  # refuses SMTP before anything
            approve = True
        with console.status(f"Releasing {len(event)} event{'s' if len(event) != 1 else ''}…"):
            report = release_events_command(
                settings, event, channel, dry_run, approve, str(config) if config else None
            )
        _print_report(report, settings)
        return
    if bool(finding_ids) == all_findings and not report_ids:
        errors.print("Give finding ids, --all, --report ID or --event ID.")
        raise typer.Exit(2)
    on_failure(ctx, NOTHING_PUBLISHED, RESUME)
    settings = _settings(config)
    catalog = load_catalog(settings)
    ids = (
        resolve_ids(catalog, None if all_findings else finding_ids)
        if (finding_ids or all_findings)
        else []
    )
    if report_ids:
        from outreach.reports.model import read_reports

        ids += [f"report:{i}" for i in resolve_ids(read_reports(settings), report_ids, "report")]
    resolve_channels(settings, channel, need_secrets=False)
    if demo:
        from outreach.demo import add_sample_subscribers

        add_sample_subscribers(settings, datetime.now(UTC))  # refuses SMTP before anything
        approve = True

    from outreach_cli import runs

    config_arg = str(config) if config else None
    with console.status(f"Releasing {len(ids)} publication{'s' if len(ids) != 1 else ''}…"):
        report = runs.release(
            settings,
            None if all_findings else ids,  # None: every kind's publications, events too
            channel,
            dry_run,
            runs.approvals_for(approve),
            config_arg,
        )
    _print_report(report, settings)


@app.command()
def rebuild(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Re-render every released finding and every index page and feed."""
    on_failure(ctx, NOTHING_PUBLISHED, RESUME)
    settings = _settings(config)
    load_catalog(settings)
    from outreach_cli import runs

    with console.status("Rebuilding the site…"):
        report = runs.rebuild(settings, str(config) if config else None)
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
    try:
        sock = bind(host, port)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise OutreachError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port "
            "(0: any free port) or --host"
        ) from None
    bound_host, bound_port = sock.getsockname()[:2]
    console.print(f"Serving {root} on http://{bound_host}:{bound_port}/ (Ctrl+C to stop)")
    console.print(f"Newsletter sign-up: http://{bound_host}:{bound_port}/newsletter/")
    with contextlib.suppress(KeyboardInterrupt):
        run_server(create_app(settings), sock)


platforms_app = typer.Typer(help="The platforms releases push to.", no_args_is_help=True)
app.add_typer(platforms_app, name="platforms")


@platforms_app.command("check")
def platforms_check(config: ConfigOption = None) -> None:
    """Reach every configured platform and the mail server with their credentials, check the
    DKIM key, and say what works and what not."""
    from outreach.platforms.registry import configured_platforms, make_platform

    settings = _settings(config)
    names = configured_platforms(settings, list(settings.channels))
    failed = False
    for name in names:
        try:
            line = f"ok  {name}: {make_platform(settings, name).check()}"
        except PlatformError as exc:  # listed with the others, not the end of the command
            failed = True
            line = f"FAIL {name}: {exc}"
        console.print(line, markup=False, soft_wrap=True)
    if not names:
        console.print("No channel pushes to any platform.")
    from outreach.mail_check import mail_checks

    for works, text in mail_checks(settings):
        failed = failed or not works
        console.print(f"{'ok ' if works else 'FAIL'} {text}", markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


platforms_app.command("verify")(verify.platforms_verify)


subscribers_app = typer.Typer(
    help="The subscriber list: import and export CSV.", no_args_is_help=True
)
newsletter_app = typer.Typer(help="Send newsletters.", no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(newsletter_app, name="newsletter")
app.command("log")(log_command)

from outreach_cli.audience import register as register_audience  # noqa: E402 (needs the above)
from outreach_cli.events import register as register_events  # noqa: E402

register_audience(subscribers_app)
register_events(app)


@subscribers_app.command("import")
def subscribers_import(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV with email, name, topics (';'-separated), status, consent_at, consent_source."
        ),
    ],
    source: Annotated[
        str, typer.Option(help="Consent source recorded for rows without one.")
    ] = "import",
    config: ConfigOption = None,
) -> None:
    """Import subscribers (all rows or none); people who left are never re-added.

    The CSV needs a consent_source column; rows without proof of opt-in become pending and
    get a confirmation email."""
    from outreach.audience import import_subscribers
    from outreach.subscribers import SubscriberError

    on_failure(ctx, f"Nothing was imported. {path}: ")
    settings = _settings(config)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SubscriberError(f"cannot read the file ({exc}); give a UTF-8 CSV file") from None
    done = import_subscribers(settings, text, source, datetime.now(UTC))
    report = done.report
    console.print(f"Imported or updated {report.changed} subscribers.")
    if report.pending:
        console.print(
            f"{len(report.pending)} new without proof of opt-in (status confirmed, consent_at "
            f"and consent_source) are pending: {done.confirmations_sent} confirmation emails "
            "sent; they get newsletters once they confirm.",
            soft_wrap=True,
        )
    for address, why in done.not_sent:
        errors.print(f"Confirmation email to {address} not sent: {why}", soft_wrap=True)
    if report.suppressed:
        console.print(
            f"Skipped {report.suppressed} on the suppression list (erased, opted out, "
            "bounced or complained): they are never added again.",
            soft_wrap=True,
        )


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
    ctx: typer.Context,
    finding_ids: Annotated[list[str], typer.Argument(help="One finding, or several for a digest.")],
    digest: Annotated[
        str | None, typer.Option(help="Send the findings as one digest with this subject.")
    ] = None,
    new_subscribers: Annotated[
        bool,
        typer.Option(
            "--new-subscribers",
            help="The issue went out before: send it to matching subscribers who joined since.",
        ),
    ] = False,
    approve: Annotated[
        bool,
        typer.Option(
            "--approve",
            help="Approve the newsletter gate now, as you (recorded in the audit log); "
            "without it an issue nobody approved waits for 'outreach approve'.",
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Send a finding (or a digest) through the send-newsletter flow once the newsletter
    gate is approved; a re-run resumes."""
    on_failure(ctx, "Nothing was sent. ")
    settings = _settings(config)
    catalog = load_catalog(settings)
    ids = resolve_ids(catalog, finding_ids)
    from outreach.audit import command_line_actor
    from outreach.campaign import send_id_for
    from outreach.newsletter import digest_issue, finding_issue
    from outreach.send_check import NothingToSend, nothing_due
    from outreach_cli import runs

    findings = [catalog[i] for i in ids]
    issue = digest_issue(findings, digest) if digest else finding_issue(findings[0])
    reason = nothing_due(issue, settings, new_subscribers)
    if reason:
        raise NothingToSend(reason)
    with _send_progress(settings, send_id_for(issue)):
        summary = runs.send_newsletter(
            settings,
            ids,
            digest,
            str(config) if config else None,
            new_subscribers=new_subscribers,
            actor=command_line_actor(),
            approve=True if approve else None,
        )
    console.print(summary, soft_wrap=True)


from outreach_cli.preview import preview  # noqa: E402 (a command in its own module)
from outreach_cli.reports import report_app  # noqa: E402
from outreach_cli.social import social_app  # noqa: E402

app.add_typer(report_app, name="report")
from outreach_cli.state import state_app  # noqa: E402

app.add_typer(state_app, name="state")
app.add_typer(social_app, name="social")

app.command()(preview)
app.command()(editorial.retract)
app.command()(calendar.calendar)

register_approvals(app)

if __name__ == "__main__":
    app(prog_name="outreach")
