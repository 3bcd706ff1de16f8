"""World-wide pitches: each journalist's zone, the embargo in the reader's time, and send
windows in their working morning (weekends, public holidays and daylight-saving changes),
with exactly one pitch per journalist even after a run is killed mid-send."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO, write_config
from outreach.actions import ActionContext, PitchFindings
from outreach.config import Settings, load_settings
from outreach.press.journalists import Journalist, JournalistListError, load_journalists
from outreach.press.release import PressDataError, load_contact
from outreach.press.windows import WindowRules, next_slot
from outreach.press.zones import embargo_line_in
from outreach.release import load_catalog, release
from smtp_tools import Inbox

GAMMA = "gamma-embargoed-packaging"
"""Embargoed until Wed 1 July 2026, 09:00 UTC; topic plastics-packaging."""
HEADER = "name,email,outlet,beats,regions,accepts_embargoes,opted_out,timezone,country,language\n"
WORLD = HEADER + (
    "Liz London,liz@example.co.uk,Pack UK,plastics-packaging,,yes,no,Europe/London,GB,en\n"
    "Paul Paris,paul@example.fr,Emballage,plastics-packaging,,yes,no,Europe/Paris,FR,fr\n"
    "Nia Nairobi,nia@example.co.ke,Pack Kenya,plastics-packaging,,yes,no,Africa/Nairobi,KE,en\n"
    "Sara Paulo,sara@example.com.br,Embalagem,plastics-packaging,,yes,no,"
    "America/Sao_Paulo,BR,pt-BR\n"
    "Joko Jakarta,joko@example.co.id,Kemasan,plastics-packaging,,yes,no,Asia/Jakarta,ID,id\n"
)
ADDRESSES = [
    "liz@example.co.uk",
    "paul@example.fr",
    "nia@example.co.ke",
    "sara@example.com.br",
    "joko@example.co.id",
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def journalist(zone: str | None, country: str | None) -> Journalist:
    return Journalist("Ana", "ana@example.com", "Desk", ("plastics-packaging",), (), True, False,
                      zone, country)  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "findings", tmp_path / "findings")
    shutil.copytree(FIXTURES / "media", tmp_path / "media")
    shutil.copytree(REPO / "press", tmp_path / "press")
    (tmp_path / "press" / "journalists.csv").write_text(WORLD, encoding="utf-8")
    config = write_config(
        tmp_path,
        tmp_path / "findings",
        tmp_path / "media",
        '\n[channels.press]\nplatforms = ["static"]\n',
    )
    text = config.read_text().replace(
        f'press = "{(REPO / "press").as_posix()}"', f'press = "{(tmp_path / "press").as_posix()}"'
    )
    config.write_text(text)
    return tmp_path


def smtp_environ(inbox: Inbox) -> dict[str, str]:
    return {
        "OUTREACH_PRESS_SECRET": "test-secret",
        "OUTREACH_MAIL__PLATFORM": "smtp",
        "OUTREACH_MAIL__SMTP_HOST": inbox.host,
        "OUTREACH_MAIL__SMTP_PORT": str(inbox.port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
    }


def pitch_at(settings: Settings, now: datetime) -> list[str]:
    """One approved release's pitching step at ``now`` (the embedded path)."""
    finding = load_catalog(settings)[GAMMA]
    return PitchFindings((finding,)).run(ActionContext(settings, now, {"pitches": True}))


def received(inbox: Inbox) -> dict[str, str]:
    """Recipient -> the pitch's text, read back with Python's email parser."""
    texts = {}
    for _, recipients, raw in inbox.accepted:
        message = message_from_bytes(raw, policy=policy.default)
        [recipient] = recipients
        texts[recipient] = message.get_content()
    return texts


# -- the embargo in the reader's time ---------------------------------------------------------


def test_each_pitch_states_the_embargo_in_utc_and_in_the_readers_own_time(
    world: Path, inbox: Inbox
) -> None:
    settings = load_settings(world / "outreach.toml", environ=smtp_environ(inbox))
    for now in ("2026-06-29T07:45:00+00:00", "2026-06-29T12:00:00+00:00",
                "2026-06-30T02:00:00+00:00"):  # fmt: skip
        pitch_at(settings, at(now))
    texts = received(inbox)
    assert sorted(texts) == sorted(ADDRESSES)
    utc = "EMBARGOED UNTIL July 1, 2026, 09:00 UTC"
    assert f"{utc} (10:00 in London)" in texts["liz@example.co.uk"]
    assert f"{utc} (11:00 in Paris)" in texts["paul@example.fr"]
    assert f"{utc} (12:00 in Nairobi)" in texts["nia@example.co.ke"]
    assert f"{utc} (06:00 in São Paulo)" in texts["sara@example.com.br"]
    assert f"{utc} (16:00 in Jakarta)" in texts["joko@example.co.id"]


def test_a_lift_after_a_daylight_saving_change_is_right_in_every_zone() -> None:
    # Europe moves its clocks on Sunday 28 March 2027; São Paulo keeps -03:00, Jakarta +07:00.
    lift = at("2027-03-29T09:00:00+00:00")
    zones = ["Europe/London", "Europe/Paris", "Africa/Nairobi", "America/Sao_Paulo",
             "Asia/Jakarta"]  # fmt: skip
    assert embargo_line_in(lift, zones) == (
        "EMBARGOED UNTIL March 29, 2027, 09:00 UTC (06:00 in São Paulo; 10:00 in London; "
        "11:00 in Paris; 12:00 in Nairobi; 16:00 in Jakarta)"
    )
    # The same lift told before the change still says the summer time.
    before = at("2027-03-26T09:00:00+00:00")
    assert "10:00 in London" in embargo_line_in(lift, ["Europe/London"])
    assert "09:00 in London" in embargo_line_in(before, ["Europe/London"])
    # A local date other than the UTC date is written in the reader's language.
    late = at("2027-03-29T20:00:00+00:00")
    assert embargo_line_in(late, ["Asia/Jakarta"], "fr").endswith(
        "(03:00 in Jakarta, 30 mars 2027)"
    )


def test_the_kit_states_the_embargo_in_the_zones_of_the_pitched_groups(world: Path) -> None:
    from outreach.press.kit import kit_base

    settings = load_settings(world / "outreach.toml", environ={"OUTREACH_PRESS_SECRET": "s"})
    release(settings, None, None, at("2026-06-01T00:00:00+00:00"))
    finding = load_catalog(settings)[GAMMA]
    text = (settings.paths.public / kit_base(finding, settings) / "release.txt").read_text()
    assert text.splitlines()[0] == (
        "EMBARGOED UNTIL July 1, 2026, 09:00 UTC (06:00 in São Paulo; 10:00 in London; "
        "11:00 in Paris; 12:00 in Nairobi; 16:00 in Jakarta)"
    )


# -- send windows -----------------------------------------------------------------------------


def test_a_pitch_after_friday_morning_waits_for_monday_morning() -> None:
    nairobi = journalist("Africa/Nairobi", "KE")
    slot = next_slot(nairobi, at("2027-05-28T12:00:00+00:00"), None, WindowRules())  # Fri 15:00
    assert slot.local().isoformat() == "2027-05-31T08:30:00+03:00"
    assert slot.kind == "window"


def test_a_national_holiday_is_skipped_in_the_journalists_country_only() -> None:
    # Tuesday 1 June 2027 is Madaraka Day in Kenya; an ordinary Tuesday in Tanzania.
    monday_noon = at("2027-05-31T09:00:00+00:00")
    kenya = next_slot(journalist("Africa/Nairobi", "KE"), monday_noon, None, WindowRules())
    tanzania = next_slot(journalist("Africa/Nairobi", "TZ"), monday_noon, None, WindowRules())
    assert kenya.local().isoformat() == "2027-06-02T08:30:00+03:00"
    assert tanzania.local().isoformat() == "2027-06-01T08:30:00+03:00"
    # Friday before the UK's late May bank holiday: the weekend and the Monday are skipped.
    london = next_slot(journalist("Europe/London", "GB"), at("2027-05-28T12:00:00+00:00"), None,
                       WindowRules())  # fmt: skip
    assert london.local().isoformat() == "2027-06-01T08:30:00+01:00"


def test_the_morning_after_a_daylight_saving_change_opens_at_the_new_local_time() -> None:
    # Europe moves its clocks on Sunday 29 March 2026.
    paris = journalist("Europe/Paris", "FR")
    slot = next_slot(paris, at("2026-03-27T12:00:00+00:00"), None, WindowRules())  # Fri 13:00
    assert slot.at == at("2026-03-30T06:30:00+00:00")  # Mon 08:30 CEST, not 07:30 UTC
    assert slot.local().isoformat() == "2026-03-30T08:30:00+02:00"
    # In 2027 the change falls on Easter Sunday: Easter Monday is a holiday in France too.
    easter = next_slot(paris, at("2027-03-26T12:00:00+00:00"), None, WindowRules())
    assert easter.at == at("2027-03-30T06:30:00+00:00")


def test_inside_the_window_the_pitch_goes_now_and_the_window_is_configurable() -> None:
    from outreach.press.style import PitchWindowStyle

    paris = journalist("Europe/Paris", "FR")
    now = at("2027-03-30T07:00:00+00:00")  # Tue 09:00 CEST
    assert next_slot(paris, now, None, WindowRules()).at == now
    late = WindowRules.from_style(PitchWindowStyle(start="10:00", end="12:00", days=("tue",)))
    assert next_slot(paris, now, None, late).local().isoformat() == "2027-03-30T10:00:00+02:00"


def test_an_embargoed_pitch_arrives_before_the_lift_or_now_and_says_why() -> None:
    jakarta = journalist("Asia/Jakarta", "ID")
    lift = at("2026-06-30T00:30:00+00:00")  # Tue 07:30 WIB, before Tuesday's window
    evening = next_slot(jakarta, at("2026-06-29T10:00:00+00:00"), lift, WindowRules())
    assert evening.kind == "before-lift" and evening.at == at("2026-06-29T10:00:00+00:00")
    assert "after the lift" in evening.reason
    night = next_slot(jakarta, at("2026-06-29T11:30:00+00:00"), lift, WindowRules())
    assert night.kind == "now" and "no working hours before the lift" in night.reason
    # Monday 09:00 in Jakarta, with the lift on Wednesday: inside the window, so now.
    early = next_slot(jakarta, at("2026-06-29T02:00:00+00:00"), at("2026-07-01T09:00:00+00:00"),
                      WindowRules())  # fmt: skip
    assert early.kind == "window" and early.at == at("2026-06-29T02:00:00+00:00")


def test_the_release_sends_the_pitches_that_are_due_and_says_when_the_rest_are(
    world: Path, inbox: Inbox
) -> None:
    from outreach_cli.calendar import pitch_windows

    settings = load_settings(world / "outreach.toml", environ=smtp_environ(inbox))
    notes = pitch_at(settings, at("2026-06-29T07:00:00+00:00"))  # Mon: 09:00 in Paris
    assert sorted(received(inbox)) == ["nia@example.co.ke", "paul@example.fr"]
    assert (
        f"Pitches for '{GAMMA}' to 1 journalist(s) in Europe/London wait for their window: "
        f"Mon 29 Jun 2026 08:30 BST (2026-06-29 07:30 UTC); release '{GAMMA}' again then "
        "(see 'outreach calendar')." in notes
    ), notes
    assert any("in Asia/Jakarta wait for their window: Tue 30 Jun 2026 08:30 WIB" in n
               for n in notes), notes  # fmt: skip
    assert f"Pitched '{GAMMA}' to 2 journalist(s) via smtp." in notes
    calendar = pitch_windows(settings, at("2026-06-29T07:00:00+00:00"), load_catalog(settings))
    assert [(e.at, e.what, e.finding_id) for e in calendar] == [
        (at("2026-06-29T07:30:00+00:00"), "pitch window", GAMMA),
        (at("2026-06-29T11:30:00+00:00"), "pitch window", GAMMA),
        (at("2026-06-30T01:30:00+00:00"), "pitch window", GAMMA),
    ]
    assert "in Europe/London (Mon 29 Jun 2026 08:30 BST local)" in calendar[0].detail


def test_journalists_without_a_zone_take_the_press_offices_said_once(
    world: Path, inbox: Inbox
) -> None:
    (world / "press" / "journalists.csv").write_text(
        HEADER + "Ann,ann@example.com,Desk,plastics-packaging,,yes,no,,,\n"
        "Bob,bob@example.com,Desk,plastics-packaging,,yes,no,,,\n",
        encoding="utf-8",
    )
    contact = world / "press" / "contact.toml"
    settings = load_settings(world / "outreach.toml", environ=smtp_environ(inbox))
    notes = pitch_at(settings, at("2026-06-29T03:00:00+00:00"))  # no zone anywhere: at once
    assert len(inbox.accepted) == 2
    assert sum("press/contact.toml sets none" in n for n in notes) == 1
    (world / "press" / "journalists.csv").write_text(
        HEADER + "Cy,cy@example.com,Desk,plastics-packaging,,yes,no,,,\n", encoding="utf-8"
    )
    contact.write_text(contact.read_text() + 'timezone = "Europe/London"\n', encoding="utf-8")
    notes = pitch_at(settings, at("2026-06-29T03:00:00+00:00"))  # 04:00 in London: waits
    assert len(inbox.accepted) == 2
    assert (
        "1 journalist(s) have no timezone in press/journalists.csv: their send window is in "
        "Europe/London (press/contact.toml)." in notes
    )


# -- exactly once, even after a killed run ----------------------------------------------------


def test_exactly_one_pitch_per_journalist_after_a_run_killed_mid_send(
    world: Path, inbox: Inbox
) -> None:
    environ = smtp_environ(inbox)
    settings = load_settings(world / "outreach.toml", environ=environ)
    script = (
        "import pathlib, sys\n"
        "from datetime import datetime\n"
        "from outreach.actions import ActionContext, PitchFindings\n"
        "from outreach.config import load_settings\n"
        "from outreach.release import load_catalog\n"
        "settings = load_settings(pathlib.Path(sys.argv[1]))\n"
        f"finding = load_catalog(settings)[{GAMMA!r}]\n"
        "now = datetime.fromisoformat(sys.argv[2])\n"
        "PitchFindings((finding,)).run(ActionContext(settings, now, {'pitches': True}))\n"
    )
    morning = "2026-06-29T07:45:00+00:00"  # London 08:45, Paris 09:45, Nairobi 10:45: all due
    sender = subprocess.Popen(
        [sys.executable, "-c", script, str(world / "outreach.toml"), morning],
        env={**os.environ, **environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    inbox.kill_pid, inbox.kill_at = sender.pid, 2  # killed while the second pitch is sent
    output, _ = sender.communicate(timeout=120)
    assert sender.returncode == -signal.SIGKILL, output.decode()
    assert [r for _, r, _ in inbox.accepted] == [["liz@example.co.uk"]]

    inbox.kill_at = None
    for now in (morning, morning, "2026-06-29T12:00:00+00:00", "2026-06-30T02:00:00+00:00",
                "2026-06-30T02:00:00+00:00"):  # fmt: skip
        pitch_at(settings, at(now))
    counts = Counter(r for _, recipients, _ in inbox.accepted for r in recipients)
    assert counts == Counter({address: 1 for address in ADDRESSES})


# -- bad values -------------------------------------------------------------------------------


def test_bad_zone_country_and_language_values_are_named_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "journalists.csv"
    path.write_text(
        HEADER + "A,a@example.com,X,plastics-packaging,,yes,no,Europe/Pari,FR,en\n"
        "B,b@example.com,X,plastics-packaging,,yes,no,africa/nairobi,UK,en\n"
        "C,c@example.com,X,plastics-packaging,,yes,no,Mars/Olympus,Kenya,klingon\n",
        encoding="utf-8",
    )
    with pytest.raises(JournalistListError) as caught:
        load_journalists(path)
    message = str(caught.value)
    assert (
        f"{path}: row 2: timezone: 'Europe/Pari' is not an IANA time zone; did you mean "
        "'Europe/Paris'?" in message
    )
    assert f"{path}: row 3: timezone: 'africa/nairobi' is not an IANA time zone; did you " \
        "mean 'Africa/Nairobi'?" in message  # fmt: skip
    assert f"{path}: row 3: country: 'UK' is not an ISO 3166 two-letter country code; did " \
        "you mean 'GB'?" in message  # fmt: skip
    assert f"{path}: row 4: timezone: 'Mars/Olympus' is not an IANA time zone" in message
    assert "(write a name like Europe/London" in message
    assert f"{path}: row 4: country: 'Kenya' is not an ISO 3166 two-letter country code; " \
        "did you mean 'KE' (Kenya)?" in message  # fmt: skip
    assert f"{path}: row 4: language: 'klingon' is not a language code" in message


def test_a_bad_press_office_zone_is_named_with_the_fix(tmp_path: Path) -> None:
    shutil.copytree(REPO / "press", tmp_path / "press")
    contact = tmp_path / "press" / "contact.toml"
    contact.write_text(contact.read_text() + 'timezone = "Europe/Londn"\n', encoding="utf-8")
    with pytest.raises(PressDataError) as caught:
        load_contact(tmp_path / "press")
    assert str(caught.value).startswith(
        f"{contact}: timezone: 'Europe/Londn' is not an IANA time zone; did you mean "
        "'Europe/London'?"
    )


def test_a_list_without_the_new_columns_still_loads() -> None:
    loaded = load_journalists(REPO / "press" / "journalists.csv")
    assert loaded and all(j.timezone is None and j.language == "en" for j in loaded)


def test_releasing_again_when_a_window_opens_sends_that_groups_pitches(
    world: Path, inbox: Inbox
) -> None:
    settings = load_settings(world / "outreach.toml", environ=smtp_environ(inbox))
    approved = {"pitches": True}
    first = release(settings, [GAMMA], ["press"], at("2026-06-29T07:00:00+00:00"), False, approved)
    assert sorted(received(inbox)) == ["nia@example.co.ke", "paul@example.fr"]
    assert any("in Europe/London wait for their window" in note for note in first.notes)
    release(settings, [GAMMA], ["press"], at("2026-06-29T07:31:00+00:00"), False, approved)
    assert [r for _, r, _ in inbox.accepted][2:] == [["liz@example.co.uk"]]


@pytest.mark.prefect
def test_on_a_server_each_later_window_is_one_scheduled_run_and_the_artifact_shows_groups(
    prefect_api: str, world: Path, flow_clock
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.release import lift_embargo, release_finding

    flow_clock(at("2026-06-29T07:00:00+00:00"))
    config = str(world / "outreach.toml")
    lift_embargo.to_deployment(name="lift-embargo").apply()
    first = release_finding(GAMMA, ["press"], config=config, approve_pitches=True)
    again = release_finding(GAMMA, ["press"], config=config, approve_pitches=True)
    assert f"Pitched '{GAMMA}' to 2 journalist(s) via outbox." in first.notes, first.notes
    scheduled = [n for n in first.notes if n.startswith("Scheduled the pitches")]
    assert [n.split(" (run ")[0] for n in scheduled] == [
        f"Scheduled the pitches of '{GAMMA}' due 2026-06-29T07:30:00+00:00",
        f"Scheduled the pitches of '{GAMMA}' due 2026-06-29T11:30:00+00:00",
        f"Scheduled the pitches of '{GAMMA}' due 2026-06-30T01:30:00+00:00",
    ]
    assert [n for n in again.notes if n.startswith("Scheduled the pitches")] == scheduled, (
        "the idempotency key reuses each window's run"
    )
    run_id = scheduled[0].rsplit("(run ", 1)[1].rstrip(").")
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        keys = [f"pitch-windows-{GAMMA}", f"pitch-sent-{GAMMA}"]
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )
    assert run.state.is_scheduled()
    assert run.parameters == {
        "finding_id": GAMMA,
        "channels": ["press"],
        "config": config,
        "approve_pitches": True,
    }
    shown = {a.key: a.data for a in artifacts}
    assert "| Europe/London | Mon 29 Jun 2026 08:30 BST | 2026-06-29 07:30 UTC | " \
        "liz@example.co.uk | their morning window |" in shown[f"pitch-windows-{GAMMA}"]  # fmt: skip
    assert "| Africa/Nairobi | Mon 29 Jun 2026 10:00 EAT | 2026-06-29 07:00 | " \
        "nia@example.co.ke | - |" in shown[f"pitch-sent-{GAMMA}"]  # fmt: skip


def test_outreach_calendar_lists_the_windows_pitches_wait_for(world: Path, inbox: Inbox) -> None:
    from typer.testing import CliRunner

    from outreach_cli.main import app

    environ = smtp_environ(inbox)
    settings = load_settings(world / "outreach.toml", environ=environ)
    pitch_at(settings, at("2099-06-01T03:00:00+00:00"))  # Mon 1 June 2099, 04:00 in London
    shown = CliRunner().invoke(app, ["calendar", "--config", str(world / "outreach.toml")],
                               env=environ)  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert any(
        line.startswith(
            "Mon 1 Jun 2099 07:30 UTC (2099-06-01 07:30 UTC)  pitch window  "
            f"{GAMMA}: pitches to 1 journalist(s) in Europe/London "
            "(Mon 1 Jun 2099 08:30 BST local)"
        )
        for line in shown.output.splitlines()
    ), shown.output


def test_a_dry_run_says_when_each_group_would_be_pitched(world: Path, inbox: Inbox) -> None:
    settings = load_settings(world / "outreach.toml", environ=smtp_environ(inbox))
    now = at("2026-06-29T07:00:00+00:00")
    report = release(settings, [GAMMA], ["press"], now, True, {"pitches": True})
    assert inbox.accepted == []
    assert (
        "  1 of them in Asia/Jakarta in their window: Tue 30 Jun 2026 08:30 WIB "
        "(2026-06-30 01:30 UTC)." in report.notes
    ), report.notes


def test_a_send_window_that_cannot_open_is_named_with_the_fix(tmp_path: Path) -> None:
    from outreach.errors import OutreachError
    from outreach.press.style import load_house_style

    style = tmp_path / "style.toml"
    style.write_text('[pitch_window]\nstart = "11:00"\nend = "09:00"\n', encoding="utf-8")
    with pytest.raises(OutreachError) as caught:
        load_house_style(tmp_path)
    assert str(caught.value).startswith(f"{style}: ")
    assert "pitch_window: start must be before end" in str(caught.value)
    style.write_text('[pitch_window]\nstart = "8h30"\n', encoding="utf-8")
    with pytest.raises(OutreachError, match=r"pitch_window\.start"):
        load_house_style(tmp_path)
