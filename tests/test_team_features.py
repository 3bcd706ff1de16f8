"""What a team's Prefect server adds: failure reports, the weekly digest, shared throttles and
validated deployment parameters. Under the session's Prefect test harness."""

from __future__ import annotations

import http.server
import itertools
import json
import statistics
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import ClassVar

import pytest

from conftest import NOW
from smtp_tools import Inbox
from test_newsletter import settings_for, smtp_env, subscribe_all

pytestmark = pytest.mark.prefect


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def chat_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """A chat tool's incoming webhook on loopback (a stand-in: the real ones are on the web)."""
    _Hook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(
        "OUTREACH_FAILURE_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hooks/T0/secret"
    )
    yield _Hook.received
    server.shutdown()
    server.server_close()


def test_a_failed_release_is_reported_to_the_team_webhook(
    prefect_api: str, project: Path, chat_webhook: list[dict], flow_clock: Callable
) -> None:
    from flows.release import release_finding
    from outreach.finding import FindingsInvalid

    flow_clock(NOW)
    broken = project / "findings" / "alpha-cocoa-prices.md"
    broken.write_text(broken.read_text().replace("topics: [", "topics: [not-a-topic, ", 1))
    with pytest.raises(FindingsInvalid):
        release_finding("alpha-cocoa-prices", config=str(project / "outreach.toml"))
    [report] = chat_webhook
    text = report["text"]
    assert text.startswith("Outreach: release-finding for 'alpha-cocoa-prices' failed")
    assert "alpha-cocoa-prices.md" in text and "topics" in text
    assert "/runs/flow-run/" in text or "\n" not in text


def test_a_crashed_release_is_reported_to_the_team_webhook(
    prefect_api: str,
    project: Path,
    chat_webhook: list[dict],
    flow_clock: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run interrupted inside the engine (here the process is told to exit mid-release)
    ends Crashed, not Failed: the team hears of it all the same."""
    import flows.release as release_flows

    def exit_mid_release(*args: object, **kwargs: object) -> None:
        raise SystemExit(143)

    monkeypatch.setattr(release_flows, "_run", exit_mid_release)
    flow_clock(NOW)
    with pytest.raises(SystemExit):
        release_flows.release_finding("alpha-cocoa-prices", config=str(project / "outreach.toml"))
    [report] = chat_webhook
    assert report["text"].startswith("Outreach: release-finding for 'alpha-cocoa-prices' crashed")


def test_a_successful_release_reports_nothing(
    prefect_api: str, project: Path, chat_webhook: list[dict], flow_clock: Callable
) -> None:
    from flows.release import release_finding

    flow_clock(NOW)
    release_finding("beta-cotton-traceability", config=str(project / "outreach.toml"))
    assert chat_webhook == []


def test_release_parameters_are_validated_before_the_run(prefect_api: str, project: Path) -> None:
    from prefect.exceptions import ParameterTypeError

    from flows.release import release_finding

    with pytest.raises(ParameterTypeError, match="finding_id"):
        release_finding("../../etc/passwd", config=str(project / "outreach.toml"))


def test_weekly_digest_sends_the_weeks_findings_once(
    prefect_api: str,
    project: Path,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    flow_clock: Callable,
) -> None:
    """The findings that went public in the seven days to the run's time go out as one digest;
    a re-run of the same week sends nothing twice; a quiet week sends nothing."""
    from flows.newsletter import weekly_digest
    from outreach.release import load_catalog

    for key, value in smtp_env(inbox).items():
        monkeypatch.setenv(key, value)
    settings = settings_for(project)
    subscribe_all(settings)
    catalog = load_catalog(settings)
    newest = max((f for f in catalog.values() if f.is_public(NOW)), key=lambda f: f.public_from)
    week_end = newest.public_from + timedelta(days=1)
    in_week = {
        f.id for f in catalog.values() if week_end - timedelta(days=7) < f.public_from <= week_end
    }
    config = str(project / "outreach.toml")
    with open(config, "a", encoding="utf-8") as file:  # about the digest, not its approval
        file.write('\n[approval]\nnewsletter = "auto"\n')

    flow_clock(week_end)
    summary = weekly_digest(config=config)
    assert summary.startswith("Newsletter 'digest-") and " 0 bounced" in summary
    subjects = {
        str(message_from_bytes(raw, policy=policy.default)["Subject"])
        for _, _, raw in inbox.accepted
    }
    assert len(subjects) == 1 and subjects.pop().startswith("Fixture Site: findings of the week")
    bodies = b"".join(raw for _, _, raw in inbox.accepted)
    for finding_id in in_week:
        assert catalog[finding_id].title.encode() in bodies
    first = len(inbox.accepted)

    again = weekly_digest(config=config)
    assert "(resumed): 0 sent" in again
    assert len(inbox.accepted) == first

    flow_clock(datetime(2030, 1, 1, tzinfo=UTC))
    quiet = weekly_digest(config=config)
    assert quiet.startswith("No finding went public in the 7 days to 2030-01-01")


def test_smtp_sends_share_the_servers_rate_limit(
    prefect_api: str,
    project: Path,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    flow_clock: Callable,
) -> None:
    """With strict limits, every message takes a slot of the server's SMTP rate limit: at 4
    per second the relay receives them at that pace, though the local pace allows 500."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from flows.limits import SMTP_CONNECTIONS, SMTP_RATE
    from flows.newsletter import send_newsletter

    for key, value in {**smtp_env(inbox, rate=500), "OUTREACH_LIMITS": "strict"}.items():
        monkeypatch.setenv(key, value)
    flow_clock(NOW)
    settings = settings_for(project)
    subscribe_all(settings, {f"reader{n}@example.com": ("apparel-textiles",) for n in range(7)})
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=SMTP_RATE, limit=1, slot_decay_per_second=4.0)
        )
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=SMTP_CONNECTIONS, limit=4)
        )
        try:
            send_newsletter(
                ["beta-cotton-traceability"], config=str(project / "outreach.toml"), approve=True
            )
        finally:
            client.delete_global_concurrency_limit_by_name(SMTP_RATE)
            client.delete_global_concurrency_limit_by_name(SMTP_CONNECTIONS)
    times = sorted(when for when, _, _ in inbox.accepted)
    assert len(times) == 9
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert statistics.median(gaps) >= 0.2, f"gaps {gaps}: faster than 4 per second"
    assert times[-1] - times[0] >= 8 / 4 * 0.9
