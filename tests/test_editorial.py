"""Editorial control: nothing reaches people until a person approves it.

Approval gates (engineer A's part): pitches and newsletter issues wait for a decision on
embedded defaults and on a Prefect server; decisions are recorded in the audit log and read
back by later runs; ``outreach approve`` / ``outreach reject``; test sends to the team; the
demo's approval. Mail goes to a real SMTP server on loopback (aiosmtpd) or the outbox, and is
read back with Python's ``email`` parser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from test_press import JOURNALISTS
from typer.testing import CliRunner

from conftest import AFTER_EMBARGO, FIXTURES, NOW, REPO, write_config
from outreach.audit import AuditLog, command_line_actor, recipient_id
from outreach.config import ConfigError, Settings, load_settings
from outreach.release import release
from outreach.secrets_store import recipient_key
from smtp_tools import Inbox
from test_newsletter import smtp_env, subscribe_all

# -- approval gates (A) -------------------------------------------------------------------

DESK_CHANNELS = """
[channels.press]
platforms = ["static"]

[channels.newsletter]
platforms = []
"""
ALPHA = "alpha-cocoa-prices"
GAMMA = "gamma-embargoed-packaging"
ALPHA_READERS = {"food1@example.com", "food2@example.com", "both@example.com"}


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    """A project with the blog, press kit, pitches and newsletter on, and journalists."""
    shutil.copytree(FIXTURES / "findings", tmp_path / "findings")
    shutil.copytree(FIXTURES / "media", tmp_path / "media")
    shutil.copytree(REPO / "press", tmp_path / "press")
    (tmp_path / "press" / "journalists.csv").write_text(JOURNALISTS, encoding="utf-8")
    config = write_config(tmp_path, tmp_path / "findings", tmp_path / "media", DESK_CHANNELS)
    config.write_text(
        config.read_text().replace(
            f'press = "{(REPO / "press").as_posix()}"',
            f'press = "{(tmp_path / "press").as_posix()}"',
        )
    )
    return tmp_path


def desk_env(inbox: Inbox) -> dict[str, str]:
    return {**smtp_env(inbox), "OUTREACH_PRESS_SECRET": "test-secret"}


def desk_settings(desk: Path, inbox: Inbox, extra: str = "") -> Settings:
    config = desk / "outreach.toml"
    if extra:
        config.write_text(config.read_text() + extra)
    settings = load_settings(config, environ=desk_env(inbox))
    subscribe_all(settings)
    return settings


def received(inbox: Inbox) -> list[tuple[list[str], EmailMessage]]:
    return [
        (rcpts, message_from_bytes(data, policy=policy.default))  # type: ignore[misc]
        for _, rcpts, data in inbox.accepted
    ]


def decisions(settings: Settings, publication: str) -> list[tuple[str, str, str]]:
    entries = AuditLog(settings.paths.ledger).entries(publication=publication, event="decision")
    return [(e.subject, e.outcome, e.actor) for e in entries]


def cli(args: list[str], desk: Path, inbox: Inbox, **env: str):
    from outreach_cli.main import app

    config = ["--config", str(desk / "outreach.toml")]
    return CliRunner().invoke(app, args + config, env={**desk_env(inbox), **env})


def test_a_release_sends_no_newsletter_and_no_pitch_until_approved(
    desk: Path, inbox: Inbox
) -> None:
    settings = desk_settings(desk, inbox)
    report = release(settings, [ALPHA], None, NOW)
    assert inbox.accepted == [], "nothing reaches anyone before a decision"
    assert (
        f"Newsletter '{ALPHA}' awaits approval; nothing sent: run 'outreach approve {ALPHA} "
        "--gate newsletter'" in "\n".join(report.notes)
    )
    assert (
        f"Pitches for '{ALPHA}' await approval; nothing sent: run 'outreach approve {ALPHA} "
        "--gate pitches'" in "\n".join(report.notes)
    )

    assert decisions(settings, ALPHA) == [
        ("newsletter", "pending", "release"),
        ("pitches", "pending", "release"),
    ]
    log = AuditLog(settings.paths.ledger)
    (pending,) = [e for e in log.entries(publication=ALPHA) if e.subject == "newsletter"]
    shown = pending.detail["shown"]
    assert shown["recipients"] == 3 and shown["subject"].startswith("Cocoa prices")
    key = recipient_key(settings)
    assert set(shown["sample"]) == {recipient_id(a, key) for a in ALPHA_READERS}
    raw = json.dumps([e.detail for e in log.entries()])
    assert "@" not in raw, "the log keeps recipients by id, never by address"
    (pitches,) = [e for e in log.entries(publication=ALPHA) if e.subject == "pitches"]
    assert pitches.detail["shown"]["headlines"]["consumer"][0], "headlines by their text"

    again = release(settings, [ALPHA], None, NOW)
    assert inbox.accepted == [] and any("awaits approval" in n for n in again.notes)
    assert len(decisions(settings, ALPHA)) == 2, "a gate opens once, not on every run"


def test_outreach_approve_records_the_decision_and_sends_the_newsletter_now(
    desk: Path, inbox: Inbox
) -> None:
    settings = desk_settings(desk, inbox)
    release(settings, [ALPHA], None, NOW)
    approved = cli(["approve", ALPHA, "--gate", "newsletter", "--note", "good to go"], desk, inbox)
    assert approved.exit_code == 0, approved.output
    actor = command_line_actor()
    assert f"Newsletter '{ALPHA}' approved by {actor}." in approved.output
    mails = received(inbox)
    assert sorted(r for rcpts, _ in mails for r in rcpts) == sorted(ALPHA_READERS)
    assert {str(m["Subject"]) for _, m in mails} == {
        'Cocoa prices & <script>alert("title")</script> farm incomes'
    }
    (entry,) = [
        e
        for e in AuditLog(settings.paths.ledger).entries(publication=ALPHA, event="decision")
        if e.outcome == "approved"
    ]
    assert (entry.subject, entry.actor, entry.detail["note"]) == ("newsletter", actor, "good to go")

    later = release(settings, [ALPHA], None, NOW)
    assert len(inbox.accepted) == 3, "the pitches still wait; nobody gets the issue twice"
    assert any(n.startswith(f"Pitches for '{ALPHA}' await approval") for n in later.notes)


def test_a_rejection_sends_nothing_and_is_logged(desk: Path, inbox: Inbox) -> None:
    settings = desk_settings(desk, inbox)
    release(settings, [ALPHA], None, NOW)
    rejected = cli(["reject", ALPHA, "--gate", "pitches", "--note", "not this week"], desk, inbox)
    assert rejected.exit_code == 0, rejected.output
    assert "rejected by" in rejected.output and "nothing sent: not this week" in rejected.output
    again = release(settings, [ALPHA], None, NOW)
    assert f"Pitches for '{ALPHA}' rejected; nothing sent: not this week." in again.notes
    assert inbox.accepted == []
    assert ("pitches", "rejected", command_line_actor()) in decisions(settings, ALPHA)


def test_approve_without_a_waiting_gate_or_with_an_unknown_one_says_what_to_do(
    desk: Path, inbox: Inbox
) -> None:
    desk_settings(desk, inbox)
    nothing = cli(["approve", ALPHA], desk, inbox)
    assert nothing.exit_code == 1
    assert f"nothing awaits a decision for '{ALPHA}'; name the gate with --gate" in str(
        nothing.output
    )
    unknown = cli(["approve", ALPHA, "--gate", "newsleter"], desk, inbox)
    assert unknown.exit_code == 1 and "no gate named 'newsleter'" in unknown.output
    assert inbox.accepted == []


def test_an_approval_given_before_the_embargo_lifts_is_used_by_the_lift(
    desk: Path, inbox: Inbox
) -> None:
    settings = desk_settings(desk, inbox)
    release(settings, [GAMMA], ["blog", "newsletter"], NOW)  # held: no newsletter yet
    early = cli(["approve", GAMMA, "--gate", "newsletter", "--note", "for the lift"], desk, inbox)
    assert early.exit_code == 0, early.output
    assert "recorded for the release or send that reaches this gate" in early.output
    assert inbox.accepted == [], "the approval does not send before the lift"

    lifted = release(settings, [GAMMA], ["blog", "newsletter"], AFTER_EMBARGO)
    assert any(n.startswith(f"Newsletter '{GAMMA}': 1 sent") for n in lifted.notes), lifted.notes
    assert [rcpts for rcpts, _ in received(inbox)] == [["plastic@example.com"]]


def test_test_sends_reach_only_the_team_addresses_once_per_gate_opening(
    desk: Path, inbox: Inbox
) -> None:
    team = ["desk@example.org", "editor@example.org"]
    settings = desk_settings(desk, inbox, f"\n[approval]\ntest_recipients = {json.dumps(team)}\n")
    release(settings, [ALPHA], None, NOW)
    mails = received(inbox)
    assert sorted(r for rcpts, _ in mails for r in rcpts) == sorted(team * 2)
    subjects = sorted(str(m["Subject"]) for _, m in mails)
    assert all(s.startswith("[TEST] ") for s in subjects)
    assert subjects.count('[TEST] Cocoa prices & <script>alert("title")</script> farm incomes') == 2
    assert all(m["To"].addresses[0].addr_spec in team for _, m in mails)
    pitch = next(
        m for _, m in mails if m["From"].addresses[0].addr_spec != "newsletter@example.org"
    )
    assert "Dear Ama," in pitch.get_content(), "the pitch as the first journalist would get it"

    release(settings, [ALPHA], None, NOW)
    assert len(inbox.accepted) == 4, "once per gate opening"
    tests = [
        e for e in AuditLog(settings.paths.ledger).entries(event="send") if e.outcome == "test"
    ]
    key = recipient_key(settings)
    assert sorted(e.subject for e in tests) == sorted(recipient_id(a, key) for a in team * 2)


def test_explicit_request_decisions_win_and_are_recorded_once(desk: Path, inbox: Inbox) -> None:
    settings = desk_settings(desk, inbox)
    for _ in range(2):
        report = release(settings, [ALPHA], None, NOW, approvals={"pitches": False})
        assert f"Pitches for '{ALPHA}' rejected; nothing sent." in report.notes
    assert decisions(settings, ALPHA) == [
        ("newsletter", "pending", "release"),
        ("pitches", "rejected", "release"),
    ]
    release(settings, [ALPHA], None, NOW, approvals={"pitches": True, "newsletter": True})
    assert len(inbox.accepted) == 3 + 1, "the three readers and the one matched journalist"


def test_an_auto_gate_sends_without_asking_and_others_still_wait(desk: Path, inbox: Inbox) -> None:
    settings = desk_settings(desk, inbox, '\n[approval]\nnewsletter = "auto"\n')
    report = release(settings, [ALPHA], None, NOW)
    assert any(n.startswith(f"Newsletter '{ALPHA}': 3 sent") for n in report.notes), report.notes
    assert any(n.startswith(f"Pitches for '{ALPHA}' await approval") for n in report.notes)
    assert len(inbox.accepted) == 3


def test_the_newsletter_is_off_only_when_it_says_so(desk: Path, inbox: Inbox) -> None:
    config = desk / "outreach.toml"
    config.write_text(
        config.read_text().replace(
            "[channels.newsletter]\n", "[channels.newsletter]\nenabled = false\n"
        )
    )
    settings = desk_settings(desk, inbox)
    report = release(settings, [ALPHA], None, NOW)
    assert not any("Newsletter" in note for note in report.notes)
    assert [s for s, _, _ in decisions(settings, ALPHA)] == ["pitches"]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('newsleter = "auto"', "approval: Value error, no approval gate named 'newsleter'"),
        ('newsletter = "yes"', "approval.newsletter: Input should be 'required' or 'auto'"),
        ('test_recipients = ["not an address"]', "approval.test_recipients.0: Value error, not"),
    ],
)
def test_approval_settings_are_checked_with_the_key_and_the_fix(
    project: Path, section: str, expected: str
) -> None:
    config = project / "outreach.toml"
    config.write_text(config.read_text() + f"\n[approval]\n{section}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert expected in str(caught.value)


def test_the_approval_form_opens_on_approve_and_offers_headlines_by_text() -> None:
    from pydantic import ValidationError

    from flows.approval import form_for
    from outreach.gates import Shown

    shown = Shown(
        "Subject", 2, ("a@example.com",), {"consumer": ("Chosen words", "Runner-up words")}
    )
    form = form_for(shown)
    schema = form.model_json_schema()["properties"]
    assert schema["decision"]["default"] == "approve", "Resume then Submit approves"
    assert schema["decision"]["enum"] == ["approve", "reject"], "an explicit choice"
    assert schema["consumer_headline"]["enum"] == ["Chosen words", "Runner-up words"]
    assert schema["consumer_headline"]["default"] == "Chosen words"
    with pytest.raises(ValidationError):
        form.model_validate({"decision": "approve"})  # no approver named
    with pytest.raises(ValidationError):
        form.model_validate({"approver": "Ed", "consumer_headline": "Words nobody wrote"})


@pytest.mark.prefect
def test_a_release_on_a_server_pauses_for_the_newsletter_and_the_pitches_until_decided(
    prefect_api: str,
    desk: Path,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    flow_clock: Callable[[datetime], None],
) -> None:
    from prefect.artifacts import Artifact
    from test_press import run_in_thread, wait_for_paused_run

    from flows.release import release_finding

    flow_clock(NOW)
    for name, value in desk_env(inbox).items():
        monkeypatch.setenv(name, value)
    settings = desk_settings(desk, inbox)
    config = str(desk / "outreach.toml")
    thread, result = run_in_thread(
        release_finding, ALPHA, ["blog", "press", "newsletter"], config=config
    )
    first = wait_for_paused_run("release-finding")
    assert first.state.state_details.pause_key == f"pitches-{ALPHA}"
    assert inbox.accepted == [], "nothing is sent while the run waits"
    waiting = Artifact.get(f"pitch-{ALPHA}")
    assert waiting is not None and "awaiting approval" in waiting.data
    assert "**Recipients:** 1" in waiting.data and "ama@example.com" in waiting.data

    rejected = cli(["reject", str(first.id), "--note", "wrong week"], desk, inbox,
                   PREFECT_API_URL=prefect_api)  # fmt: skip
    assert rejected.exit_code == 0, rejected.output
    second = wait_for_paused_run("release-finding")
    assert second.id == first.id
    assert second.state.state_details.pause_key == f"newsletter-{ALPHA}"
    assert inbox.accepted == [], "the rejected pitches reached nobody"
    waiting = Artifact.get(f"newsletter-{ALPHA}")
    assert waiting is not None and "awaiting approval" in waiting.data
    assert "**Recipients:** 3" in waiting.data and "food1@example.com" in waiting.data

    # By the finding's id on a server: the run waiting at that gate is resumed.
    approved = cli(["approve", ALPHA, "--gate", "newsletter", "--note", "ship it"], desk, inbox,
                   PREFECT_API_URL=prefect_api)  # fmt: skip
    assert f"Resumed flow run {second.id} (newsletter-{ALPHA})" in approved.output
    assert approved.exit_code == 0, approved.output
    thread.join(timeout=120)
    assert not thread.is_alive() and "error" not in result, result.get("error")
    report = result["value"]
    assert f"Pitches for '{ALPHA}' rejected; nothing sent: wrong week." in report.notes
    assert sorted(r for rcpts, _ in received(inbox) for r in rcpts) == sorted(ALPHA_READERS)
    actor = command_line_actor()
    decided = Artifact.get(f"newsletter-{ALPHA}")
    assert decided is not None and f"approved by {actor}" in decided.data
    assert "ship it" in decided.data and "awaiting approval" not in decided.data
    assert decisions(settings, ALPHA) == [
        ("pitches", "pending", "release"),
        ("pitches", "rejected", actor),
        ("newsletter", "pending", "release"),
        ("newsletter", "approved", actor),
    ]
    pitch_artifact = Artifact.get(f"pitch-{ALPHA}")
    assert pitch_artifact is not None and f"rejected by {actor}" in pitch_artifact.data


def test_the_demo_approval_refuses_smtp(sample_project: Path, inbox: Inbox) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "outreach_cli", "release", "--all", "--demo"],
        cwd=sample_project,
        env={**os.environ, **smtp_env(inbox), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 1, process.stdout + process.stderr
    assert (
        '--demo approves every email without asking, so it only works with mail.platform = "outbox"'
        in " ".join(process.stderr.split())
    )
    assert "Nothing was published." in process.stderr
    assert not (sample_project / "public").exists() and not (sample_project / "state").exists()
    assert inbox.accepted == []


@pytest.mark.prefect
def test_the_demo_outbox_holds_newsletter_emails(prefect_api: str, sample_project: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "outreach_cli", "release", "--all", "--demo"],
        cwd=sample_project,
        env={**os.environ, "PREFECT_API_URL": prefect_api, "OUTREACH_LIMITS": "off",
             "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert process.returncode == 0, process.stdout + process.stderr
    outbox = sample_project / "outbox"
    newsletters = sorted((outbox / "newsletter").rglob("*.eml"))
    assert newsletters, process.stdout
    for path in newsletters:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message["To"].addresses[0].domain == "example.org"
        assert message.get_body(("plain",)) is not None and message.get_body(("html",))
    assert list((outbox / "press-pitch").rglob("*.eml")), "pitches too"
