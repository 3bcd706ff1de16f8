"""The Prefect flows, run for real against one temporary Prefect server per session."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from conftest import NOW, REPO

pytestmark = pytest.mark.prefect


def test_release_finding_publishes_and_leaves_an_artifact(
    prefect_api: str, project: Path, flow_clock: Callable[[datetime], None]
) -> None:
    from prefect.artifacts import Artifact

    from flows.release import release_finding

    flow_clock(NOW)
    config = str(project / "outreach.toml")
    report = release_finding("beta-cotton-traceability", config=config)
    assert (project / "public/blog/beta-cotton-traceability/index.html").is_file()
    assert "blog/beta-cotton-traceability/index.html" in {r.item for r in report.changed}

    artifact = Artifact.get("release-beta-cotton-traceability")
    assert artifact is not None
    assert (
        "[blog/beta-cotton-traceability/index.html](https://findings.example.org/research/blog/beta-cotton-traceability/)"
        in artifact.data
    )

    again = release_finding("beta-cotton-traceability", config=config)
    assert again.changed == []


def test_release_flow_fails_with_the_validation_message(
    prefect_api: str, project: Path, flow_clock: Callable[[datetime], None]
) -> None:
    from flows.release import release_findings
    from outreach.finding import FindingsInvalid

    flow_clock(NOW)
    (project / "findings/bad.md").write_text("---\nid: bad\ntitle: Bad\n---\nbody\n")
    with pytest.raises(FindingsInvalid, match=r"bad\.md: summary: missing"):
        release_findings(config=str(project / "outreach.toml"))
    assert not (project / "public").exists()


def test_rebuild_site_rerenders_released_findings_only(
    prefect_api: str, project: Path, flow_clock: Callable[[datetime], None]
) -> None:
    from flows.release import rebuild_site, release_finding

    config = str(project / "outreach.toml")
    flow_clock(NOW)
    release_finding("alpha-cocoa-prices", config=config)
    page = project / "public/blog/alpha-cocoa-prices/index.html"
    page.write_text("damaged")
    report = rebuild_site(config=config)
    assert {r.item for r in report.changed} == {"blog/alpha-cocoa-prices/index.html"}
    assert "<h1>" in page.read_text()
    assert not (project / "public/blog/beta-cotton-traceability").exists()


def test_prefect_yaml_deployments_point_at_real_flows() -> None:
    from prefect.flows import load_flow_from_entrypoint

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    names = {}
    for deployment in spec["deployments"]:
        flow = load_flow_from_entrypoint(str(REPO / deployment["entrypoint"]))
        names[deployment["name"]] = flow.name
        assert deployment["work_pool"]["name"] == "outreach"
    assert names == {
        "release-finding": "release-finding",
        "release-findings": "release-findings",
        "rebuild-site": "rebuild-site",
        "rebuild-podcast-feed": "rebuild-podcast-feed",
        "send-newsletter": "send-newsletter",
        "lift-embargo": "lift-embargo",
        "weekly-digest": "weekly-digest",
        "release-event": "release-event",
        "event-reminders": "event-reminders",
        "release-report": "release-report",
    }
    [digest] = [d for d in spec["deployments"] if d["name"] == "weekly-digest"]
    assert [s["active"] for s in digest["schedules"]] == [False], "off until the team turns it on"


def test_no_deployment_form_offers_a_clock() -> None:
    """A time parameter in a deployment's form (or ``-p now=...``) would let anyone with the
    Prefect UI publish an embargoed finding early: no flow a deployment runs takes one."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    for deployment in spec["deployments"]:
        flow = load_flow_from_entrypoint(str(REPO / deployment["entrypoint"]))
        schema = parameter_schema(flow).model_dump_for_openapi()
        text = json.dumps(schema)
        assert "now" not in schema["properties"], deployment["name"]
        assert "date-time" not in text and "clock" not in text, deployment["name"]
        assert "now" not in (deployment.get("parameters") or {}), deployment["name"]


def test_a_run_acts_at_its_scheduled_time_only_when_started_a_moment_early() -> None:
    """Prefect starts scheduled runs up to about half a second early: a lift then acts at its
    scheduled time. A run started long before its schedule keeps the real clock."""
    from flows.common import acting_time

    now = datetime(2026, 7, 1, 8, 59, 59, 500000, tzinfo=UTC)
    lift = datetime(2026, 7, 1, 9, tzinfo=UTC)
    assert acting_time(now, lift) == lift
    assert acting_time(now, None) == now
    assert acting_time(now, now - timedelta(hours=1)) == now, "a late start acts now"
    assert acting_time(now, now + timedelta(days=30)) == now, "no publishing a month early"


def test_rebuild_podcast_feed_masters_once_and_keeps_the_feed(
    prefect_api: str, sample_project: Path, flow_clock: Callable[[datetime], None]
) -> None:
    from flows.release import rebuild_podcast_feed, release_findings

    config = str(sample_project / "outreach.toml")
    flow_clock(datetime(2026, 11, 29, tzinfo=UTC))
    release_findings(config=config, approve_pitches=False)
    feed = sample_project / "public/podcast/feed.xml"
    before = feed.read_bytes()
    feed.unlink()
    report = rebuild_podcast_feed(config=config)
    assert feed.read_bytes() == before
    assert {r.item for r in report.changed} == {"podcast/feed.xml"}


def test_strict_platform_limits_must_exist_and_are_then_held(
    prefect_api: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    flow_clock: Callable[[datetime], None],
) -> None:
    """On a team's server a missing limit stops the push with the fix; once it exists the
    push takes a slot of it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from flows.limits import LimitMissing
    from flows.release import release_finding

    monkeypatch.setenv("OUTREACH_LIMITS", "strict")
    flow_clock(NOW)
    config = str(project / "outreach.toml")
    with pytest.raises(
        LimitMissing, match=r"'outreach-platform-static' does not exist.*make bootstrap"
    ):
        release_finding("beta-cotton-traceability", config=config)
    assert not (project / "public/blog/beta-cotton-traceability/index.html").exists()

    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="outreach-platform-static", limit=1)
        )
        try:
            release_finding("beta-cotton-traceability", config=config)
            limit = client.read_global_concurrency_limit_by_name("outreach-platform-static")
        finally:
            client.delete_global_concurrency_limit_by_name("outreach-platform-static")
    assert (project / "public/blog/beta-cotton-traceability/index.html").is_file()
    assert limit.active_slots == 0, "the slot was given back"


def test_a_cleared_audio_cache_is_mastered_again_not_a_failed_rebuild(
    prefect_api: str, sample_project: Path, flow_clock: Callable[[datetime], None]
) -> None:
    """Prefect remembers the prepared episodes by content; when the files they name left the
    audio cache (a cleared cache, a new machine), the release prepares them again."""
    import shutil

    from flows.release import rebuild_podcast_feed, release_findings
    from outreach.config import load_settings

    config = str(sample_project / "outreach.toml")
    flow_clock(datetime(2026, 11, 29, tzinfo=UTC))
    release_findings(config=config, approve_pitches=False)
    feed = sample_project / "public/podcast/feed.xml"
    before = feed.read_bytes()
    shutil.rmtree(load_settings(Path(config), environ={}).paths.audio_cache)
    feed.unlink()
    report = rebuild_podcast_feed(config=config)
    assert feed.read_bytes() == before
    assert {r.item for r in report.changed} == {"podcast/feed.xml"}


def _task_runs(flow_run_id: object, at_least: int, timeout: float = 30) -> list[str]:
    """The names of a flow run's task runs on the server. The server records them from the
    run's events a moment after the run: poll until ``at_least`` are there (or fail)."""
    import re
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    only = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            names = sorted(
                re.sub(r"-[0-9a-f]{3}$", "", run.name)
                for run in client.read_task_runs(flow_run_filter=only)
            )
            if len(names) >= at_least:
                return names
            if time.monotonic() > deadline:
                pytest.fail(f"{len(names)} task runs recorded after {timeout:.0f} s: {names}")
            time.sleep(0.5)


def test_a_release_shows_its_platform_steps_as_tasks_and_validates_and_renders_in_the_flow(
    prefect_api: str, project: Path, flow_clock: Callable[[datetime], None]
) -> None:
    """The Prefect UI shows the steps that reach platforms (each with its retries and its
    limit's slot); validating and rendering run inside the flow, where a task bought nothing
    but bookkeeping."""
    from flows.release import release_finding

    flow_clock(NOW)
    state = release_finding(
        "beta-cotton-traceability", config=str(project / "outreach.toml"), return_state=True
    )
    assert state.is_completed()
    assert state.result().changed
    names = _task_runs(state.state_details.flow_run_id, at_least=3)
    assert names == ["check-platforms", "publish-static-findings", "publish-static-site"]


def test_a_flow_run_keeps_its_heartbeat_and_returns_without_waiting_for_it(
    prefect_api: str, project: Path, flow_clock: Callable[[datetime], None]
) -> None:
    """A run still tells the server it is alive (a crashed worker's run can be detected);
    the caller no longer waits out the heartbeat thread's second once the run is over."""
    import time

    from prefect import flow_engine
    from prefect.client.orchestration import get_client

    import flows.common
    from flows.release import release_finding

    assert flows.common.HEARTBEATS_UNJOINED, "Prefect's heartbeat context changed: see common.py"
    assert getattr(flow_engine._send_heartbeats, "unjoined", False)

    flow_clock(NOW)
    state = release_finding(
        "beta-cotton-traceability", config=str(project / "outreach.toml"), return_state=True
    )
    resource = f"prefect.flow-run.{state.state_details.flow_run_id}"
    query = {
        "filter": {
            "event": {"name": ["prefect.flow-run.heartbeat"]},
            "resource": {"id": [resource]},
        },
        "limit": 10,
    }
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            events = client.request("POST", "/events/filter", json=query).json()["events"]
            if events:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"no heartbeat of {resource} reached the server in 30 s")
            time.sleep(0.5)


def test_platform_credentials_are_read_afresh_by_each_run(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials are read once per flow run (not once per push), and a block changed
    between two runs is what the next run uses."""
    from prefect import flow
    from prefect.blocks.system import Secret

    from flows.release import platform_secrets
    from outreach.platforms.registry import SECRET_BLOCKS

    block = SECRET_BLOCKS["mastodon"]

    @flow
    def read_twice() -> list[dict[str, str]]:
        return [platform_secrets(), platform_secrets()]

    Secret(value="first-token").save(block, overwrite=True)
    try:
        first, again = read_twice()
        Secret(value="second-token").save(block, overwrite=True)
        [second, _] = read_twice()
    finally:
        Secret.delete(block)
    assert first["mastodon"] == again["mastodon"] == "first-token"
    assert second["mastodon"] == "second-token"
    [without] = read_twice()[:1]
    assert "mastodon" not in without


def test_an_ungated_action_runs_as_its_own_task_with_its_context_and_the_credentials(
    prefect_api: str, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An after-publish action (a feed ping, a calendar push) shows as its own task run and
    gets the release's settings and time as given, with the credentials read inside it."""
    from dataclasses import dataclass
    from typing import ClassVar

    from prefect import flow

    from flows.release import PrefectRunner
    from outreach.actions import ActionContext

    monkeypatch.setattr("flows.release.platform_secrets", lambda: {"mastodon": "token"})

    @dataclass(frozen=True)
    class Announce:
        """Stands in for an action that reaches outside: reports what it was given."""

        what: str
        gate: ClassVar[str | None] = None

        def awaiting(self) -> str:
            return ""

        def run(self, context: ActionContext) -> list[str]:
            return [
                f"{self.what} for {context.settings.site.title} at {context.now:%Y-%m-%d}",
                f"credentials: {sorted(context.secrets)}",
            ]

    @flow
    def act() -> tuple[list[str], object]:
        from prefect.runtime import flow_run

        notes = PrefectRunner().act(Announce("feed ping"), ActionContext(settings, NOW))
        return notes, flow_run.id

    notes, run_id = act()
    assert notes == [
        f"feed ping for {settings.site.title} at {NOW:%Y-%m-%d}",
        "credentials: ['mastodon']",
    ]
    assert _task_runs(run_id, at_least=1) == ["after-publish-Announce"]
