"""Editorial control over content: drafts, corrections, changed embargoes and retractions.

Releases run against the real static site, a real SMTP server (aiosmtpd), moto's S3 server
(the stand-in test_objectstore uses: no real S3 server installs here) and the real WordPress;
outputs are read back with BeautifulSoup, feedparser and Python's ``email``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import boto3
import feedparser
import pytest
from bs4 import BeautifulSoup
from test_objectstore import BUCKET, s3  # noqa: F401  (the S3 server fixture)
from test_objectstore import settings_for as s3_settings
from test_press import kit_folder, press_project, smtp_settings  # noqa: F401

from conftest import NOW
from outreach.actions import ActionContext, run_gated
from outreach.audit import AuditLog
from outreach.config import Settings
from outreach.release import ReleaseError, ReleaseRequest, load_catalog, release, run_release
from outreach.retraction import request_retraction
from smtp_tools import Inbox

ALPHA = "alpha-cocoa-prices"
BETA = "beta-cotton-traceability"
GAMMA = "gamma-embargoed-packaging"
PITCHES = {"pitches": True}


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def edit_front_matter(findings: Path, finding_id: str, old: str, new: str) -> None:
    path = findings / f"{finding_id}.md"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def add_correction(findings: Path, finding_id: str, date: str, note: str) -> None:
    path = findings / f"{finding_id}.md"
    text = path.read_text(encoding="utf-8")
    if "\ncorrection:\n" not in text:
        text = text.replace("\ntopics:", "\ncorrection:\ntopics:", 1)
    text = text.replace(
        "\ntopics:", f'\n  - date: {date}\n    note: "{note}"\ntopics:', 1
    )  # appended after the earlier ones: corrections are listed oldest first
    path.write_text(text, encoding="utf-8")


# -- drafts -------------------------------------------------------------------------------


DRAFT = """---
id: delta-draft
title: A draft with a mistake
summary: Not ready yet.
status: draft
published: 2026-02-01T09:00:00+00:00
topics: [not-a-topic]
stats:
  - value: "1"
    label: one
    source: nowhere
image:
  file: images/alpha.png
  caption: c
  credit: c
  licence: CC BY 4.0
  alt: a
---
Body.
"""


def test_an_invalid_draft_blocks_no_release_and_is_never_published(
    project: Path, settings: Settings
) -> None:
    (project / "findings" / "delta-draft.md").write_text(DRAFT, encoding="utf-8")
    valid_draft = (project / "findings" / f"{BETA}.md").read_text(encoding="utf-8")
    (project / "findings" / "epsilon-draft.md").write_text(
        valid_draft.replace(f"id: {BETA}", "id: epsilon-draft\nstatus: draft"), encoding="utf-8"
    )

    report = release(settings, None, None, NOW)

    public = settings.paths.public
    assert (public / "blog" / ALPHA / "index.html").is_file()
    assert not (public / "blog" / "delta-draft").exists()
    assert not (public / "blog" / "epsilon-draft").exists()
    assert "delta-draft" not in (public / "sitemap.xml").read_text()
    assert "epsilon-draft" not in (public / "feed.atom").read_text()
    (warning,) = [n for n in report.notes if n.startswith("Draft ")]
    assert warning.startswith("Draft findings/delta-draft.md: topics[0]: 'not-a-topic'")
    assert "write one of:" in warning, "the warning names the fix"

    with pytest.raises(ReleaseError, match=r"'epsilon-draft' is a draft .*'status: ready'"):
        release(settings, ["epsilon-draft"], None, NOW)
    with pytest.raises(ReleaseError, match=r"'delta-draft' is a draft .*fix its 1 problem"):
        release(settings, ["delta-draft"], None, NOW)


def test_an_invalid_ready_finding_still_stops_every_release(
    project: Path, settings: Settings
) -> None:
    from outreach.finding import FindingsInvalid

    (project / "findings" / "delta-draft.md").write_text(
        DRAFT.replace("status: draft\n", "status: ready\n"), encoding="utf-8"
    )
    with pytest.raises(FindingsInvalid, match=r"delta-draft\.md: topics\[0\]"):
        release(settings, [ALPHA], None, NOW)
    assert not settings.paths.public.exists()


def test_a_status_other_than_draft_or_ready_is_named_with_the_fix(
    project: Path, settings: Settings
) -> None:
    from outreach.finding import FindingsInvalid

    edit_front_matter(project / "findings", ALPHA, "\ntopics:", "\nstatus: done\ntopics:")
    with pytest.raises(FindingsInvalid, match=r"status: .*write draft or ready"):
        load_catalog(settings)


# -- corrections ----------------------------------------------------------------------------


def test_a_correction_shows_its_notice_bumps_dates_and_reaches_only_pitched_journalists(
    press_project: Path,  # noqa: F811 (the fixture)
    inbox: Inbox,
) -> None:
    settings = smtp_settings(press_project, inbox)
    release(settings, None, None, NOW, approvals=PITCHES)
    pitched = sorted(r[0] for _, r, _ in inbox.accepted)
    assert pitched == ["ama@example.com", "lena@example.com", "priya@example.com"]
    inbox.accepted.clear()
    golden_post = (settings.paths.public / "blog" / ALPHA / "index.html").read_bytes()

    when = "2026-05-20T10:00:00+00:00"
    add_correction(settings.paths.findings, ALPHA, when, "The income share was 40%, not 42%.")
    later = NOW + timedelta(days=1)
    waiting = release(settings, [ALPHA], None, later)

    public = settings.paths.public
    notice = "Updated 20 May 2026: The income share was 40%, not 42%."
    post = public / "blog" / ALPHA / "index.html"
    assert post.read_bytes() != golden_post
    for page in (post, public / "newsroom" / ALPHA / "index.html"):
        (aside,) = soup(page).select("aside.corrections")
        assert aside.get_text(" ", strip=True).replace(" :", ":") == notice
    kit = kit_folder(settings, ALPHA)
    assert notice in soup(kit / "release.html").get_text(" ", strip=True).replace(" :", ":")
    assert notice in soup(kit / "index.html").get_text(" ", strip=True).replace(" :", ":")
    assert notice in (kit / "release.txt").read_text(encoding="utf-8")

    feed = feedparser.parse((public / "feed.atom").read_bytes())
    (entry,) = [e for e in feed.entries if ALPHA in e.link]
    assert entry.updated.startswith("2026-05-20T10:00:00")
    assert entry.published.startswith("2026-01-05")
    sitemap = BeautifulSoup((public / "sitemap.xml").read_text(), "xml")
    lastmods = {url.loc.text: url.lastmod.text for url in sitemap.find_all("url") if url.lastmod}
    assert lastmods[f"{settings.site.base_url}blog/{ALPHA}/"] == when

    assert inbox.accepted == [], "nothing is sent before the corrections gate is approved"
    assert any("await approval (gate 'corrections')" in note for note in waiting.notes)

    sent = release(settings, [ALPHA], None, later, approvals={"corrections": True})
    assert [r for _, r, _ in inbox.accepted] == [["ama@example.com"]], "only the pitched one"
    message = message_from_bytes(inbox.accepted[0][2], policy=policy.default)
    assert str(message["Subject"]).startswith("Correction: ")
    assert notice in message.get_content()
    assert "/research/press/kit/" in message.get_content()
    assert any("sent to 1 pitched journalist" in note for note in sent.notes)
    (event,) = list(AuditLog(settings.paths.ledger).entries(event="correction"))
    assert (event.publication, event.subject, event.outcome) == (ALPHA, when, "sent")
    assert "ama@example.com" not in str(event.detail), "people are never logged by address"

    again = release(settings, [ALPHA], None, later, approvals={"corrections": True})
    assert len(inbox.accepted) == 1, "each correction reaches each journalist once"
    assert not any("correction" in note.lower() for note in again.notes)

    add_correction(settings.paths.findings, ALPHA, "2026-05-25T08:00:00+00:00", "A second fix.")
    release(settings, [ALPHA], None, later, approvals={"corrections": True})
    assert len(inbox.accepted) == 2
    second = message_from_bytes(inbox.accepted[1][2], policy=policy.default)
    assert "A second fix." in second.get_content()
    assert "40%, not 42%" not in second.get_content()


def test_corrections_must_be_dated_in_order(press_project: Path) -> None:  # noqa: F811
    from test_press import settings_for

    from outreach.finding import FindingsInvalid

    settings = settings_for(press_project)
    add_correction(settings.paths.findings, ALPHA, "2026-05-20T10:00:00+00:00", "First.")
    add_correction(settings.paths.findings, ALPHA, "2026-05-01T10:00:00+00:00", "Earlier.")
    with pytest.raises(
        FindingsInvalid, match=r"correction: the correction of 2026-05-01.*oldest first"
    ):
        load_catalog(settings)


# -- changed embargo ---------------------------------------------------------------------------


def test_a_changed_embargo_notifies_the_pitched_journalists_once(
    press_project: Path,  # noqa: F811 (the fixture)
    inbox: Inbox,
) -> None:
    settings = smtp_settings(press_project, inbox)
    release(settings, [GAMMA], None, NOW, approvals=PITCHES)
    assert [r for _, r, _ in inbox.accepted] == [["lena@example.com"]]
    inbox.accepted.clear()

    edit_front_matter(
        settings.paths.findings, GAMMA, "embargo: 2026-07-01T09:00:00+00:00",
        "embargo: 2026-07-08T09:00:00+00:00",
    )  # fmt: skip
    waiting = release(settings, [GAMMA], None, NOW)
    assert inbox.accepted == [] and any("await approval" in n for n in waiting.notes)

    approved = {"corrections": True, "pitches": True}
    told = release(settings, [GAMMA], None, NOW, approvals=approved)
    assert [r for _, r, _ in inbox.accepted] == [["lena@example.com"]]
    message = message_from_bytes(inbox.accepted[0][2], policy=policy.default)
    assert str(message["Subject"]).startswith("Embargo changed: ")
    assert "EMBARGOED UNTIL July 8, 2026, 09:00 UTC" in message.get_content()
    assert any("told 1 pitched journalist" in note for note in told.notes)

    release(settings, [GAMMA], None, NOW, approvals=approved)
    assert len(inbox.accepted) == 1, "one notice per new time"
    (event,) = list(AuditLog(settings.paths.ledger).entries(event="correction"))
    assert event.subject == "embargo" and event.detail["embargo"] == "2026-07-08T09:00:00+00:00"


# -- retractions -------------------------------------------------------------------------------


RETRACTION_NOTE = "The survey behind these figures was flawed."


def with_press_channels(project: Path) -> None:
    config = project / "outreach.toml"
    config.write_text(
        config.read_text()
        + '\n[channels.press]\nplatforms = ["static"]\n\n[channels.newsroom]\n'
        + 'platforms = ["static"]\n'
    )


def test_a_retraction_takes_a_finding_off_the_site_feeds_sitemap_and_bucket(
    project: Path,
    s3: str,  # noqa: F811
) -> None:
    with_press_channels(project)
    settings = s3_settings(project, s3)  # every static channel mirrored to the bucket
    release(settings, None, None, NOW)
    public = settings.paths.public
    kit = kit_folder(settings, ALPHA)
    assert (kit / "release.html").is_file()
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")

    def keys() -> set[str]:
        return {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}

    assert any(k.startswith(f"blog/{ALPHA}/") and k.endswith(".png") for k in keys())

    action = request_retraction(settings, ALPHA, RETRACTION_NOTE, NOW, "editor")
    assert run_gated(action, ActionContext(settings, NOW, {})) == [action.awaiting()]
    assert (public / "blog" / ALPHA / "share.png").is_file(), "nothing happens before approval"

    later = NOW + timedelta(hours=1)
    notes = run_gated(action, ActionContext(settings, later, {"retraction": True}))
    assert notes[0].startswith(f"Retracted '{ALPHA}'")

    def check_taken_down() -> None:
        post = soup(public / "blog" / ALPHA / "index.html")
        assert post.h1.get_text().startswith("Retracted: ")
        assert RETRACTION_NOTE in post.get_text()
        assert post.find("meta", attrs={"name": "robots"})["content"] == "noindex"
        assert sorted(p.name for p in (public / "blog" / ALPHA).iterdir()) == ["index.html"]
        newsroom = soup(public / "newsroom" / ALPHA / "index.html")
        assert RETRACTION_NOTE in newsroom.get_text()
        assert sorted(p.name for p in (public / "newsroom" / ALPHA).iterdir()) == ["index.html"]
        assert not [p for p in kit.rglob("*") if p.is_file()], "the kit is taken down"
        feed = feedparser.parse((public / "feed.atom").read_bytes())
        assert feed.entries and not [e for e in feed.entries if ALPHA in e.link]
        sitemap = BeautifulSoup((public / "sitemap.xml").read_text(), "xml")
        assert not [u for u in sitemap.find_all("loc") if ALPHA in u.text]
        for listing in (
            public / "index.html",
            public / "topics" / "food-agriculture" / "index.html",
            public / "newsroom" / "index.html",
        ):
            assert not soup(listing).find("a", href=lambda h: h and ALPHA in h), listing
        bucket = keys()
        assert {k for k in bucket if ALPHA in k} == {
            f"blog/{ALPHA}/index.html",
            f"newsroom/{ALPHA}/index.html",
        }
        notice = client.get_object(Bucket=BUCKET, Key=f"blog/{ALPHA}/index.html")["Body"].read()
        assert RETRACTION_NOTE in notice.decode()

    check_taken_down()
    run_release(ReleaseRequest(settings, later, rebuild=True))
    release(settings, None, None, later)
    check_taken_down()  # a rebuild and a full release keep it retracted

    events = [
        (e.outcome, e.actor) for e in AuditLog(settings.paths.ledger).entries(event="retraction")
    ]
    assert events == [("requested", "editor"), ("retracted", "release")]


def test_retract_on_the_command_line_waits_for_approval(project: Path) -> None:
    from typer.testing import CliRunner

    from outreach.config import load_settings
    from outreach_cli.main import app

    config = str(project / "outreach.toml")
    runner = CliRunner()
    release(load_settings(project / "outreach.toml", environ={}), None, None, NOW)
    asked = runner.invoke(app, ["retract", ALPHA, "--note", RETRACTION_NOTE, "--config", config])
    assert asked.exit_code == 0, asked.output
    assert "awaits approval" in asked.output
    post = project / "public" / "blog" / ALPHA / "index.html"
    assert "Retracted" not in post.read_text()

    done = runner.invoke(
        app, ["retract", ALPHA, "--note", RETRACTION_NOTE, "--approve", "--config", config]
    )
    assert done.exit_code == 0, done.output
    assert RETRACTION_NOTE in soup(post).get_text()

    again = runner.invoke(app, ["retract", ALPHA, "--note", "x", "--config", config])
    assert again.exit_code != 0 and "already retracted" in again.output


def test_a_retracted_findings_wordpress_post_goes_back_to_draft(
    sample_project: Path, wordpress, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_wordpress import by_slug, configure

    from outreach.config import load_settings

    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", wordpress.password)
    settings = load_settings(configure(sample_project, wordpress.url), environ={})
    now = datetime.now(UTC)  # WordPress keeps its own clock
    catalog = load_catalog(settings)
    finding_id = next(i for i, f in sorted(catalog.items()) if f.is_public(now))
    release(settings, None, ["wordpress"], now)
    [post] = by_slug(wordpress)[finding_id]
    assert post["status"] == "publish"

    action = request_retraction(settings, finding_id, RETRACTION_NOTE, now, "editor")
    run_gated(action, ActionContext(settings, now, {"retraction": True}))
    [post] = by_slug(wordpress)[finding_id]
    assert post["status"] == "draft"
    assert RETRACTION_NOTE in BeautifulSoup(post["content"]["raw"], "html.parser").get_text()
    assert len(by_slug(wordpress)) == len(catalog), "no post duplicated or lost"


# -- the calendar ------------------------------------------------------------------------------


def future_finding(project: Path, published: str, embargo: str | None) -> None:
    text = (project / "findings" / f"{BETA}.md").read_text(encoding="utf-8")
    text = text.replace(f"id: {BETA}", "id: zeta-future")
    start = text.index("\npublished:")
    end = text.index("\n", start + 1)
    dates = f"\npublished: {published}" + (f"\nembargo: {embargo}" if embargo else "")
    text = text[:start] + dates + text[end:]
    (project / "findings" / "zeta-future.md").write_text(text, encoding="utf-8")


def test_the_calendar_lists_a_future_release_and_a_lift_in_the_teams_zone(project: Path) -> None:
    from typer.testing import CliRunner

    from outreach.config import load_settings
    from outreach.schedule import upcoming
    from outreach_cli.main import app

    config = project / "outreach.toml"
    config.write_text(
        config.read_text().replace(
            "posts_per_page = 2\n", 'posts_per_page = 2\ntimezone = "Europe/Berlin"\n'
        )
        + "\n[channels.newsletter]\nplatforms = []\n"
    )
    future_finding(project, "2099-03-01T09:00:00+00:00", None)
    (project / "findings" / "delta-draft.md").write_text(DRAFT, encoding="utf-8")
    settings = load_settings(config, environ={})

    due = upcoming(load_catalog(settings), settings, NOW)
    assert [(d.at.isoformat(), d.what, d.finding_id) for d in due] == [
        ("2026-07-01T09:00:00+00:00", "embargo lift", GAMMA),
        ("2026-07-01T09:00:00+00:00", "newsletter", GAMMA),
        ("2099-03-01T09:00:00+00:00", "release", "zeta-future"),
        ("2099-03-01T09:00:00+00:00", "newsletter", "zeta-future"),
    ]

    shown = CliRunner().invoke(app, ["calendar", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "Scheduled (times in Europe/Berlin, then UTC):" in lines
    assert any(
        line.startswith("Sun 1 Mar 2099 10:00 CET (2099-03-01 09:00 UTC)  release  zeta-future")
        for line in lines
    ), shown.output
    assert "Drafts, not scheduled until 'status: ready': delta-draft" in lines


def test_a_time_zone_that_does_not_exist_is_named_with_the_fix(project: Path) -> None:
    from outreach.config import load_settings
    from outreach.errors import OutreachError

    config = project / "outreach.toml"
    config.write_text(
        config.read_text().replace(
            "posts_per_page = 2\n", 'posts_per_page = 2\ntimezone = "Europe/Atlantis"\n'
        )
    )
    with pytest.raises(OutreachError, match=r"timezone.*'Europe/Atlantis' is not a time zone name"):
        load_settings(config, environ={})


@pytest.mark.prefect
def test_a_ready_finding_with_a_future_published_time_is_released_by_a_scheduled_run(
    prefect_api: str, project: Path, flow_clock
) -> None:
    from prefect.client.orchestration import get_client

    from flows.release import lift_embargo, release_finding

    future_finding(project, "2099-03-01T09:00:00+00:00", None)
    config = str(project / "outreach.toml")
    flow_clock(NOW)
    deployment = lift_embargo.to_deployment(name="lift-embargo").apply()
    try:
        report = release_finding("zeta-future", ["blog"], config=config, approve_pitches=False)
        (note,) = [n for n in report.notes if n.startswith("Scheduled")]
        assert note.startswith(
            "Scheduled the public release of 'zeta-future' for 2099-03-01T09:00:00+00:00"
        )
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(note.rsplit("(run ", 1)[1].rstrip(")."))
        assert run.state.is_scheduled()
        assert run.expected_start_time.isoformat().startswith("2099-03-01T09:00:00")
        assert run.parameters["finding_id"] == "zeta-future"
        public = project / "public" / "blog" / "zeta-future" / "index.html"
        assert not public.exists(), "nothing public before its time"

        flow_clock(datetime(2099, 3, 1, 9, tzinfo=UTC))  # the scheduled run acts at its time
        lift_embargo(**run.parameters)
        assert public.is_file(), "the scheduled run released it"
        assert "zeta-future" in (project / "public" / "sitemap.xml").read_text()
    finally:  # the harness is shared: later tests expect no lift deployment
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment)


def test_a_finding_retracted_under_embargo_never_appears_and_its_kit_goes(
    project: Path, settings: Settings
) -> None:
    with_press_channels(project)
    from outreach.config import load_settings

    settings = load_settings(project / "outreach.toml", environ={})
    release(settings, None, None, NOW)
    kit = kit_folder(settings, GAMMA)
    assert (kit / "release.html").is_file()

    action = request_retraction(settings, GAMMA, RETRACTION_NOTE, NOW, "editor")
    notes = run_gated(action, ActionContext(settings, NOW, {"retraction": True}))
    assert not [p for p in kit.rglob("*") if p.is_file()], "the kit journalists had is gone"
    assert not any("Held" in note for note in notes)
    release(settings, None, None, datetime(2026, 7, 2, tzinfo=UTC))  # after the old lift
    public = settings.paths.public
    assert not (public / "blog" / GAMMA).exists()
    assert not (public / "newsroom" / GAMMA).exists()
    assert GAMMA not in (public / "sitemap.xml").read_text()


def test_a_journalist_who_opted_out_after_the_pitch_gets_no_correction(
    press_project: Path,  # noqa: F811 (the fixture)
    inbox: Inbox,
) -> None:
    settings = smtp_settings(press_project, inbox)
    release(settings, [ALPHA], None, NOW, approvals=PITCHES)
    assert [r for _, r, _ in inbox.accepted] == [["ama@example.com"]]
    journalists = settings.paths.press / "journalists.csv"
    journalists.write_text(
        journalists.read_text().replace(
            "ama@example.com,Food Desk,food-agriculture,Ghana,yes,no",
            "ama@example.com,Food Desk,food-agriculture,Ghana,yes,yes",
        )
    )
    add_correction(settings.paths.findings, ALPHA, "2026-05-20T10:00:00+00:00", "A fix.")
    report = release(settings, [ALPHA], None, NOW, approvals={"corrections": True})
    assert len(inbox.accepted) == 1, "an opted-out journalist is not written to again"
    assert not any("correction" in note.lower() for note in report.notes)
