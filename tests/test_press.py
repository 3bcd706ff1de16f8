"""The press channel: release structure, kit manifest, embargo, and pitches over real SMTP."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Callable
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import AFTER_EMBARGO, FIXTURES, NOW, REPO, write_config
from outreach.config import Settings, load_settings
from outreach.ledger import Ledger
from outreach.mail import build_message, mailbox
from outreach.media_files import image_name
from outreach.press.journalists import JournalistListError, load_journalists
from outreach.press.pitch import pitch_plan_for, send_pitches
from outreach.release import load_catalog, release
from smtp_tools import Inbox

JOURNALISTS = """name,email,outlet,beats,regions,accepts_embargoes,opted_out
Ama Food,ama@example.com,Food Desk,food-agriculture,Ghana,yes,no
Kofi Elsewhere,kofi@example.com,Kenya Farmer,food-agriculture,Kenya,yes,no
Noor Strict,noor@example.com,Pack Weekly,plastics-packaging,,no,no
Lena Embargo,lena@example.com,Pack Daily,plastics-packaging,,yes,no
Omar Optout,omar@example.com,Pack News,plastics-packaging,,yes,yes
Priya Cotton,priya@example.com,Textile Times,apparel-textiles,India,yes,no
"""
DATELINE = re.compile(
    r"^[A-Z][A-Z .'-]+, (Jan\.|Feb\.|March|April|May|June|July|Aug\.|Sept\.|Oct\.|Nov\.|Dec\.) "
    r"\d{1,2}, \d{4} — "
)


@pytest.fixture
def press_project(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "findings", tmp_path / "findings")
    shutil.copytree(FIXTURES / "media", tmp_path / "media")
    shutil.copytree(REPO / "press", tmp_path / "press")
    (tmp_path / "press" / "journalists.csv").write_text(JOURNALISTS, encoding="utf-8")
    config = write_config(
        tmp_path,
        tmp_path / "findings",
        tmp_path / "media",
        '\n[channels.press]\nplatforms = ["static"]\n\n[channels.newsroom]\nplatforms = ["static"]\n',
    )
    text = config.read_text().replace(
        f'press = "{(REPO / "press").as_posix()}"', f'press = "{(tmp_path / "press").as_posix()}"'
    )
    config.write_text(text)
    return tmp_path


def settings_for(project: Path, **environ: str) -> Settings:
    return load_settings(
        project / "outreach.toml", environ={"OUTREACH_PRESS_SECRET": "test-secret", **environ}
    )


def kit_folder(settings: Settings, finding_id: str) -> Path:
    from outreach.press.kit import kit_base

    catalog = load_catalog(settings)
    return settings.paths.public / kit_base(catalog[finding_id], settings)


def test_release_text_has_the_ap_structure(press_project: Path) -> None:
    settings = settings_for(press_project)
    release(settings, None, None, NOW)
    text = (kit_folder(settings, "beta-cotton-traceability") / "release.txt").read_text()
    lines = text.splitlines()
    assert lines[0] == "FOR IMMEDIATE RELEASE"
    headline, subhead = lines[2], lines[3]
    assert len(headline) <= 110 and len(subhead) <= 70
    dateline_line = next(line for line in lines if DATELINE.match(line))
    assert dateline_line.startswith("LONDON, Feb. 10, 2026 — ")
    lead = DATELINE.sub("", dateline_line)
    assert len(lead.split()) <= 50
    order = [
        text.index(marker)
        for marker in (dateline_line, "Key figures:", "About Fixture", "Media contact")
    ]
    assert order == sorted(order)
    assert "3 in 5 ginners shared lot data. Source: Fixture ginner survey" in text
    assert lines[-1] == "###"
    html = BeautifulSoup(
        (kit_folder(settings, "beta-cotton-traceability") / "release.html").read_text(),
        "html.parser",
    )
    assert html.h1.get_text() == headline
    assert html.find_all("p")[-1].get_text() == "###"
    assert "@media print" in html.style.get_text()


def test_quotes_are_attributed_ap_style(press_project: Path) -> None:
    settings = settings_for(press_project)
    release(settings, ["alpha-cocoa-prices"], None, NOW)
    text = (kit_folder(settings, "alpha-cocoa-prices") / "release.txt").read_text()
    assert (
        '“Prices matter "more" than <i>anything</i>,” said Ama Mensah, cooperative chair.' in text
    )


def test_kit_manifest_matches_every_file_and_the_zip(press_project: Path) -> None:
    settings = settings_for(press_project)
    release(settings, None, None, NOW)
    folder = kit_folder(settings, "alpha-cocoa-prices")
    manifest = json.loads((folder / "manifest.json").read_text())
    names = {entry["name"] for entry in manifest["files"]}
    # The image goes out under the name every channel derives from its content and type.
    image = image_name((settings.paths.media / "images/alpha.png").read_bytes())
    assert re.fullmatch(r"image-[0-9a-f]{16}\.png", image)
    assert {
        "release.html",
        "release.txt",
        "fact-sheet.txt",
        "quotes.txt",
        "contact.vcf",
        "share.png",
        f"images/{image}",
        f"images/{image}.txt",
    } == names
    for entry in manifest["files"]:
        assert hashlib.sha256((folder / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    with zipfile.ZipFile(folder / "alpha-cocoa-prices-press-kit.zip") as archive:
        members = {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}
    assert set(members) == names | {"manifest.json"}
    for entry in manifest["files"]:
        assert hashlib.sha256(members[entry["name"]]).hexdigest() == entry["sha256"]
    vcard = (folder / "contact.vcf").read_bytes().decode()
    assert (
        vcard.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n")
        and "EMAIL;TYPE=WORK:press@example.org" in vcard
    )
    sidecar = (folder / f"images/{image}.txt").read_text()
    assert (
        "Credit: Fixture credit" in sidecar
        and 'Alt text: A brown square with a yellow sun "quoted"' in sidecar
    )
    page = BeautifulSoup((folder / "index.html").read_text(), "html.parser")
    assert page.find("meta", attrs={"name": "robots"})["content"] == "noindex, nofollow"


def test_kit_address_is_unguessable_and_stable(
    press_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = kit_folder(settings_for(press_project), "alpha-cocoa-prices")
    again = kit_folder(settings_for(press_project), "alpha-cocoa-prices")
    assert (press_project / "state/press-secret").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("OUTREACH_PRESS_SECRET", "another secret")
    other = kit_folder(settings_for(press_project), "alpha-cocoa-prices")
    token = one.name
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert one == again and other.name != token
    assert "alpha" not in token


def public_files(public: Path, kit: Path) -> list[Path]:
    return [p for p in public.rglob("*") if p.is_file() and kit not in p.parents]


def test_embargoed_finding_leaks_nowhere_before_the_lift(press_project: Path) -> None:
    settings = settings_for(press_project)
    report = release(settings, None, None, NOW)
    public = settings.paths.public
    kit = kit_folder(settings, "gamma-embargoed-packaging")
    assert (kit / "index.html").is_file()
    assert "EMBARGOED UNTIL July 1, 2026, 09:00 UTC" in (kit / "release.txt").read_text()
    assert {h.channel for h in report.held if h.finding_id == "gamma-embargoed-packaging"} == {
        "blog",
        "newsroom",
    }
    for path in public_files(public, kit):
        data = path.read_bytes()
        assert b"gamma-embargoed" not in data and kit.name.encode() not in data, path
        assert b"Packaging findings under embargo" not in data, path
    robots = (public / "robots.txt").read_text()
    assert "Disallow: /research/press/kit/" in robots

    release(settings, None, None, AFTER_EMBARGO)
    assert (public / "newsroom/gamma-embargoed-packaging/index.html").is_file()
    assert "gamma-embargoed-packaging" in (public / "newsroom/index.html").read_text()
    assert "gamma-embargoed-packaging" in (public / "sitemap.xml").read_text()
    assert "gamma-embargoed-packaging" in (public / "feed.atom").read_text()


def smtp_settings(project: Path, inbox: Inbox) -> Settings:
    return settings_for(
        project,
        OUTREACH_MAIL__PLATFORM="smtp",
        OUTREACH_MAIL__SMTP_HOST=inbox.host,
        OUTREACH_MAIL__SMTP_PORT=str(inbox.port),
        OUTREACH_MAIL__SMTP_SECURITY="none",
    )


def test_each_matched_journalist_gets_one_personal_pitch_once(
    press_project: Path, inbox: Inbox
) -> None:
    settings = smtp_settings(press_project, inbox)
    release(settings, None, None, NOW)
    ledger = Ledger(settings.paths.ledger)
    catalog = load_catalog(settings)
    for finding_id in ("alpha-cocoa-prices", "gamma-embargoed-packaging"):
        plan, _, _ = pitch_plan_for(catalog[finding_id], settings, ledger, NOW)
        send_pitches(plan, settings, ledger, NOW)

    recipients = [rcpts for _, rcpts, _ in inbox.accepted]
    assert recipients == [["ama@example.com"], ["lena@example.com"]]
    for _, _, raw in inbox.accepted:
        message = message_from_bytes(raw, policy=policy.default)
        assert len(message["To"].addresses) == 1
        assert message["Cc"] is None and message["Bcc"] is None
        body = message.get_content()
        assert len(body.split()) <= 200
        assert "/research/press/kit/" in body
        assert len(raw) < 10 * 1024 * 1024 and not message.is_multipart()
    embargoed = message_from_bytes(inbox.accepted[1][2], policy=policy.default)
    assert str(embargoed["Subject"]).strip().startswith("EMBARGOED until 01 Jul 2026 09:00 UTC: ")
    assert "EMBARGOED UNTIL July 1, 2026, 09:00 UTC" in embargoed.get_content()
    first = message_from_bytes(inbox.accepted[0][2], policy=policy.default)
    assert first.get_content().count("\n") > 5 and "Dear Ama," in first.get_content()

    gamma_plan, _, _ = pitch_plan_for(catalog["gamma-embargoed-packaging"], settings, ledger, NOW)
    assert gamma_plan.pitches == []
    assert gamma_plan.already_pitched == ["lena@example.com"]
    assert sorted(gamma_plan.skipped) == [
        ("noor@example.com", "does not accept embargoes"),
        ("omar@example.com", "opted out"),
    ]
    for finding_id in catalog:
        plan, _, _ = pitch_plan_for(catalog[finding_id], settings, ledger, NOW)
        send_pitches(plan, settings, ledger, NOW)
    assert [rcpts for _, rcpts, _ in inbox.accepted][2:] == [["priya@example.com"]]


def test_header_injection_is_neutralised() -> None:
    message = build_message(
        sender=mailbox("Press\r\nBcc: victim@example.com", "press@example.org"),
        recipient=mailbox("Ama\nCc: other@example.com", "ama@example.com"),
        subject="Headline\r\nBcc: hidden@example.com",
        text="Body",
        key="k",
        when=NOW,
    )
    raw = message.as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None and parsed["Cc"] is None
    assert parsed["Subject"] == "Headline Bcc: hidden@example.com"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ama@example.com"]


def test_journalist_list_mistakes_are_named_by_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "journalists.csv"
    path.write_text(
        "name,email,outlet,beats,regions,accepts_embargoes,opted_out\n"
        '"Evil\nBcc: x@example.com",evil@example.com,X,food-agriculture,,yes,no\n'
        "Ok,not-an-email,X,food-agriculture,,yes,no\n"
        "Ok2,ok2@example.com,X,fod,,maybe,no\n",
        encoding="utf-8",
    )
    with pytest.raises(JournalistListError) as caught:
        load_journalists(path)
    message = str(caught.value)
    assert f"{path}: row 2: name: write the journalist's name on one line" in message
    assert f"{path}: row 4: email:" in message or f"{path}: row 3: email:" in message
    assert "beats: fod not topic slugs" in message
    assert "accepts_embargoes: 'maybe' is not yes or no" in message


def wait_for_paused_run(flow_name: str, timeout: float = 90) -> object:
    """The paused run of ``flow_name``: a bounded poll of the Prefect API, failing clearly."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                ),
            )
            if runs:
                return runs[0]
            time.sleep(0.2)
    raise AssertionError(f"no paused run of {flow_name} within {timeout} s")


def run_in_thread(function, *args, **kwargs):
    import threading

    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = function(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


@pytest.mark.prefect
@pytest.mark.parametrize("decision", ["reject", "approve-runner-up"])
def test_pitches_wait_for_a_human_decision(
    prefect_api: str, press_project: Path, decision: str, flow_clock: Callable[[datetime], None]
) -> None:
    from prefect.flow_runs import resume_flow_run

    from flows.release import release_finding

    flow_clock(NOW)
    config = str(press_project / "outreach.toml")
    thread, result = run_in_thread(
        release_finding, "alpha-cocoa-prices", ["blog", "press"], config=config
    )
    paused = wait_for_paused_run("release-finding")
    outbox = press_project / "outbox"
    assert not outbox.exists(), "nothing is sent before the decision"
    settings = settings_for(press_project)
    from outreach.headlines import choose_headlines, load_glossary
    from outreach.press.style import load_house_style

    choice = choose_headlines(
        load_catalog(settings)["alpha-cocoa-prices"],
        settings.site.organisation,
        load_glossary(settings.paths.press),
        load_house_style(settings.paths.press).headlines,
    )
    # The form: an explicit choice, the approver's name, headlines by their text.
    if decision == "reject":
        resume_flow_run(
            paused.id,
            run_input={"decision": "reject", "approver": "Ed", "note": "hold until Monday"},
        )
    else:
        runner_up = choice.consumer_runners_up[0].text
        resume_flow_run(
            paused.id,
            run_input={"decision": "approve", "approver": "Ed", "consumer_headline": runner_up},
        )
    thread.join(timeout=120)
    assert not thread.is_alive(), "the flow did not finish after the decision"
    assert "error" not in result, result.get("error")
    report = result["value"]
    if decision == "reject":
        assert (
            "Pitches for 'alpha-cocoa-prices' rejected; nothing sent: hold until Monday."
            in report.notes
        )
        assert not outbox.exists()
    else:
        (sent,) = list(outbox.rglob("*.eml"))
        message = message_from_bytes(sent.read_bytes(), policy=policy.default)
        assert str(message["Subject"]).strip() == choice.consumer_runners_up[0].text
        assert message["To"].addresses[0].addr_spec == "ama@example.com"


@pytest.mark.prefect
def test_the_lift_is_scheduled_on_a_server_once(
    prefect_api: str, press_project: Path, flow_clock: Callable[[datetime], None]
) -> None:
    from prefect.client.orchestration import get_client

    from flows.release import lift_embargo, release_finding

    flow_clock(NOW)
    config = str(press_project / "outreach.toml")
    first = release_finding(
        "gamma-embargoed-packaging", ["blog"], config=config, approve_pitches=False
    )
    assert any(
        note.startswith("Could not schedule the public release of 'gamma-embargoed-packaging'")
        for note in first.notes
    )

    lift_embargo.to_deployment(name="lift-embargo").apply()
    scheduled = release_finding(
        "gamma-embargoed-packaging", ["blog"], config=config, approve_pitches=False
    )
    again = release_finding(
        "gamma-embargoed-packaging", ["blog"], config=config, approve_pitches=False
    )
    (note,) = [n for n in scheduled.notes if n.startswith("Scheduled")]
    assert note.startswith(
        "Scheduled the public release of 'gamma-embargoed-packaging' for 2026-07-01T09:00:00+00:00"
    )
    run_id = note.rsplit("(run ", 1)[1].rstrip(").")
    assert [n for n in again.notes if n.startswith("Scheduled")] == [note], (
        "the idempotency key reuses the run"
    )
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    assert run.state.is_scheduled()
    assert run.expected_start_time.isoformat().startswith("2026-07-01T09:00:00")
    assert run.parameters == {
        "finding_id": "gamma-embargoed-packaging",
        "channels": ["blog"],
        "config": config,
        "approve_pitches": False,
    }, "the lift runs with the release's channels, configuration and pitch decision"
    assert not (press_project / "public/blog/gamma-embargoed-packaging").exists()


def test_a_broken_journalist_list_stops_the_release_before_anything_is_published(
    press_project: Path,
) -> None:
    from outreach.release import ReleaseError

    with (press_project / "press" / "journalists.csv").open("a", encoding="utf-8") as handle:
        handle.write("Bad Row,not-an-email,X,food-agriculture,,yes,no\n")
    settings = settings_for(press_project)
    with pytest.raises(ReleaseError, match=r"journalists\.csv: row 8: email: "):
        release(settings, None, None, NOW)
    assert not settings.paths.public.exists()


@pytest.mark.parametrize("name", ["release.txt", "release.html"])
def test_release_matches_golden(press_project: Path, name: str) -> None:
    from golden_files import assert_matches_golden

    settings = settings_for(press_project)
    release(settings, ["beta-cotton-traceability"], ["press"], NOW)
    assert_matches_golden(
        f"press/beta-cotton-traceability/{name}",
        (kit_folder(settings, "beta-cotton-traceability") / name).read_bytes(),
    )


def test_kit_vcard_puts_family_name_first_in_n(press_project: Path) -> None:
    """vCard N is Family;Given: 'Alex Morgan' used to come out as N:Alex;Morgan."""
    import vobject

    settings = settings_for(press_project)
    release(settings, ["alpha-cocoa-prices"], ["press"], NOW)
    text = (kit_folder(settings, "alpha-cocoa-prices") / "contact.vcf").read_text()
    card = vobject.readOne(text)
    assert card.fn.value == "Alex Morgan"
    assert (card.n.value.family, card.n.value.given) == ("Morgan", "Alex")
    assert card.email.value == "press@example.org"


def test_a_refused_journalist_address_skips_that_journalist_only(
    press_project: Path, inbox: Inbox
) -> None:
    """A 5xx to one journalist's RCPT is that journalist's problem: the others are pitched,
    the refused one is reported and left unrecorded (a corrected list retries it)."""
    extra = "Ama Two,ama2@example.com,Food Desk 2,food-agriculture,Ghana,yes,no\n"
    journalists = press_project / "press" / "journalists.csv"
    journalists.write_text(journalists.read_text() + extra, encoding="utf-8")
    inbox.refuse["ama@example.com"] = "550 5.1.1 no such mailbox"
    settings = smtp_settings(press_project, inbox)
    release(settings, None, None, NOW)
    ledger = Ledger(settings.paths.ledger)
    finding = load_catalog(settings)["alpha-cocoa-prices"]
    plan, _, _ = pitch_plan_for(finding, settings, ledger, NOW)
    assert [p.journalist.email for p in plan.pitches] == ["ama@example.com", "ama2@example.com"]

    outcome = send_pitches(plan, settings, ledger, NOW)

    assert outcome.sent == ["ama2@example.com"]
    assert outcome.not_sent == [("ama@example.com", "550 5.1.1 no such mailbox")]
    assert [rcpts for _, rcpts, _ in inbox.accepted] == [["ama2@example.com"]]
    again, _, _ = pitch_plan_for(finding, settings, ledger, NOW)
    assert [p.journalist.email for p in again.pitches] == ["ama@example.com"]


def test_a_journalist_deferred_once_is_pitched_on_the_retry_over_one_reused_connection(
    press_project: Path, inbox: Inbox
) -> None:
    """A 4xx to one journalist is retried at once by the mail transport (the run does not
    fail), and every pitch of the run goes over the same SMTP connection."""
    extra = "Ama Two,ama2@example.com,Food Desk 2,food-agriculture,Ghana,yes,no\n"
    journalists = press_project / "press" / "journalists.csv"
    journalists.write_text(journalists.read_text() + extra, encoding="utf-8")
    inbox.defer_once.add("ama@example.com")
    settings = smtp_settings(press_project, inbox)
    release(settings, None, None, NOW)
    ledger = Ledger(settings.paths.ledger)
    plan, _, _ = pitch_plan_for(load_catalog(settings)["alpha-cocoa-prices"], settings, ledger, NOW)

    outcome = send_pitches(plan, settings, ledger, NOW)

    assert outcome.sent == ["ama@example.com", "ama2@example.com"] and outcome.not_sent == []
    assert [rcpts for _, rcpts, _ in inbox.accepted] == [["ama@example.com"], ["ama2@example.com"]]
    assert len(set(inbox.peers)) == 1
