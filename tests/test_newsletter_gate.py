"""Every newsletter send passes the "newsletter" approval gate, not only a release's:
``outreach newsletter send`` (a finding or a digest), the send-newsletter flow and the
scheduled weekly digest. Real SMTP (aiosmtpd) and, for the pause, a real Prefect server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_editorial import ALPHA, ALPHA_READERS, cli, decisions, desk, desk_env, desk_settings
from test_press import run_in_thread, wait_for_paused_run

from outreach.audit import command_line_actor
from outreach.newsletter import digest_issue
from outreach.release import load_catalog
from smtp_tools import Inbox

__all__ = ["desk"]  # the fixture, imported for pytest
BETA = "beta-cotton-traceability"


JOURNALIST = "ama@example.com"


def received_mail(inbox: Inbox) -> list[tuple[str, list[str]]]:
    return [(sender, rcpts) for sender, rcpts, _ in inbox.accepted]


def reached(inbox: Inbox) -> list[str]:
    return sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts)


def test_newsletter_send_waits_for_approval_and_sends_once_approved(
    desk: Path, inbox: Inbox
) -> None:
    settings = desk_settings(desk, inbox)
    waiting = cli(["newsletter", "send", ALPHA], desk, inbox)
    assert waiting.exit_code == 0, waiting.output
    assert f"Newsletter '{ALPHA}' awaits approval; nothing sent" in waiting.output
    assert inbox.accepted == [], "a command alone reaches nobody while the gate is required"
    assert decisions(settings, ALPHA) == [("newsletter", "pending", "release")]

    sent = cli(["newsletter", "send", ALPHA, "--approve"], desk, inbox)
    assert sent.exit_code == 0, sent.output
    assert reached(inbox) == sorted(ALPHA_READERS)
    actor = command_line_actor()
    assert decisions(settings, ALPHA)[-1] == ("newsletter", "approved", actor)


def test_a_rejected_newsletter_is_not_sent_by_a_later_send(desk: Path, inbox: Inbox) -> None:
    settings = desk_settings(desk, inbox)
    rejected = cli(["reject", ALPHA, "--gate", "newsletter", "--note", "wrong week"], desk, inbox)
    assert rejected.exit_code == 0, rejected.output

    later = cli(["newsletter", "send", ALPHA], desk, inbox)
    assert later.exit_code == 0, later.output
    assert f"Newsletter '{ALPHA}' rejected; nothing sent: wrong week." in later.output
    assert inbox.accepted == []
    assert decisions(settings, ALPHA)[-1][:2] == ("newsletter", "rejected")

    # A release-wide approval (``release --all --approve``, ``--approve`` on a send) reaches
    # every publication it releases: it does not undo a person's rejection of this one.
    blanket = cli(["newsletter", "send", ALPHA, "--approve"], desk, inbox)
    assert blanket.exit_code == 0, blanket.output
    assert "rejected; nothing sent: wrong week." in blanket.output
    released = cli(["release", ALPHA, "--approve"], desk, inbox)
    assert released.exit_code == 0, released.output
    assert [r for _, m in received_mail(inbox) for r in m] == [JOURNALIST], "pitches only"
    reversed_ = cli(["approve", ALPHA, "--gate", "newsletter"], desk, inbox)
    assert reversed_.exit_code == 0, reversed_.output
    assert cli(["newsletter", "send", ALPHA], desk, inbox).exit_code == 0
    assert sorted(set(reached(inbox)) - {JOURNALIST}) == sorted(ALPHA_READERS)


def test_a_digest_waits_for_its_own_approval_by_its_key(desk: Path, inbox: Inbox) -> None:
    settings = desk_settings(desk, inbox)
    # An approval of one finding's issue does not cover a digest holding it.
    assert cli(["approve", ALPHA, "--gate", "newsletter"], desk, inbox).exit_code == 0
    inbox.accepted.clear()
    catalog = load_catalog(settings)
    key = digest_issue([catalog[ALPHA], catalog[BETA]], "This month").key

    args = ["newsletter", "send", ALPHA, BETA, "--digest", "This month"]
    waiting = cli(args, desk, inbox)
    assert waiting.exit_code == 0, waiting.output
    assert f"run 'outreach approve {key} --gate newsletter'" in waiting.output
    assert inbox.accepted == []

    approved = cli(["approve", key, "--gate", "newsletter"], desk, inbox)
    assert approved.exit_code == 0, approved.output
    assert "the same newsletter send runs again" in approved.output
    assert inbox.accepted == [], "recorded: the send itself runs when asked again"

    sent = cli(args, desk, inbox)
    assert sent.exit_code == 0, sent.output
    readers = ALPHA_READERS | {"cotton@example.com"}  # the subscribers of either's topics
    assert reached(inbox) == sorted(readers)
    assert decisions(settings, key)[-1][:2] == ("newsletter", "approved")


@pytest.mark.prefect
def test_the_weekly_digest_pauses_on_a_server_until_a_person_approves(
    prefect_api: str,
    desk: Path,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    flow_clock: Callable[[datetime], None],
) -> None:
    """The digest's schedule runs unattended: it waits at the gate; nothing is sent until
    someone approves the paused run, then it goes out once."""
    from flows.newsletter import weekly_digest

    for name, value in desk_env(inbox).items():
        monkeypatch.setenv(name, value)
    settings = desk_settings(desk, inbox)
    week_end = load_catalog(settings)[ALPHA].public_from + timedelta(days=1)
    flow_clock(week_end)
    thread, result = run_in_thread(weekly_digest, 7, None, str(desk / "outreach.toml"))
    paused = wait_for_paused_run("weekly-digest")
    assert str(paused.state.state_details.pause_key).startswith("newsletter-digest-")
    assert inbox.accepted == [], "nothing is sent while the digest waits"

    approved = cli(["approve", str(paused.id)], desk, inbox, PREFECT_API_URL=prefect_api)
    assert approved.exit_code == 0, approved.output
    thread.join(timeout=120)
    assert not thread.is_alive() and "error" not in result, result.get("error")
    assert " 0 bounced" in str(result["value"])
    assert set(reached(inbox)) >= ALPHA_READERS
    assert len(reached(inbox)) == len(set(reached(inbox))), "each reader gets it once"


def test_a_finding_whose_id_begins_with_digest_is_still_a_finding_to_approve(
    desk: Path, inbox: Inbox
) -> None:
    """Only a digest key's whole shape (two findings' ids and a hash) names a digest."""
    from outreach.newsletter import is_digest_key

    settings = desk_settings(desk, inbox)
    catalog = load_catalog(settings)
    assert is_digest_key(digest_issue([catalog[ALPHA], catalog[BETA]], "This month").key)
    assert not is_digest_key("digest-of-cocoa-prices")
    assert not is_digest_key("digest-weekly")
