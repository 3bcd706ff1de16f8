"""A report's launch on every channel: the blog post announcing it, the press kit (release with
headlines from the headline indicator, the cover, the PDF) and pitches, the newsletter issue,
the WordPress post with the PDF as a media item, and both editions on object storage.

The PDF edition's builder (``outreach.reports.pdf``) is built on another branch: where a test
needs a PDF it stands in with a one-page PDF drawn by Pillow, through the seam the web edition
uses (``outreach.reports.edition.build_pdf_edition``); the tests say so where they do.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import boto3
import pytest
import requests
from bs4 import BeautifulSoup
from PIL import Image
from test_objectstore import BUCKET, s3  # noqa: F401  (the moto S3 server fixture)

from outreach.config import Settings, load_settings
from outreach.headlines import reading_grade
from outreach.ledger import Ledger
from outreach.media_files import image_name
from outreach.press.assemble import load_press_data, release_for
from outreach.press.pitch import PITCH_CHANNEL
from outreach.release import ReleaseRequest, run_release
from outreach.reports import launch
from outreach.reports.model import read_reports
from outreach.secrets_store import press_secret
from outreach.sending import SendLog
from outreach.subscribers import SubscriberStore
from outreach.urls import kit_path, kit_token
from smtp_tools import Inbox
from wordpress_tools import WordPressSite

REPO = Path(__file__).resolve().parent.parent
STATE = "state-of-play-2026"
CASE = "uganda-case-study"
OUT = datetime(2026, 12, 2, tzinfo=UTC)
"""When both sample reports are public."""
MATCHING_CASE = {
    # beats meet the case study's topics, and regions (when listed) meet Uganda/East Africa
    "marta.lindqvist@example.net",
    "sophie.laurent@example.com",
    "james.mwangi@example.org",
    "tomas.ferreira@example.com",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("findings", "media", "press", "templates", "reports"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "outreach.toml", tmp_path / "outreach.toml")
    return tmp_path


@pytest.fixture(autouse=True)
def fresh_editions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test prepares its own editions (the PDF stand-in changes what one holds)."""
    monkeypatch.setattr(launch, "_EDITIONS", {})


def stand_in_pdf(title: str) -> bytes:
    """A one-page PDF (Pillow), standing in for the PDF edition built on another branch."""
    out = io.BytesIO()
    Image.new("RGB", (595, 842), "white").save(out, "PDF", title=title)
    return out.getvalue()


@pytest.fixture
def pdf(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The PDF builder's seam answers with a stand-in PDF per report (recorded by id)."""
    made: dict[str, bytes] = {}

    def build(edition, settings):
        made[edition.report.id] = stand_in_pdf(edition.report.title)
        return made[edition.report.id]

    monkeypatch.setattr("outreach.reports.edition.build_pdf_edition", build)
    return made


def settings_of(project: Path, **environ: str) -> Settings:
    return load_settings(project / "outreach.toml", environ=environ)


def launch_report(
    settings: Settings,
    report_id: str,
    channels: list[str],
    now: datetime = OUT,
    approvals: dict[str, bool | None] | None = None,
):
    request = ReleaseRequest(
        settings, now, [f"report:{report_id}"], None, channels, approvals=dict(approvals or {})
    )
    return run_release(request)


def smtp(inbox: Inbox) -> dict[str, str]:
    return {
        "OUTREACH_MAIL__PLATFORM": "smtp",
        "OUTREACH_MAIL__SMTP_HOST": inbox.host,
        "OUTREACH_MAIL__SMTP_PORT": str(inbox.port),
        "OUTREACH_MAIL__SMTP_SECURITY": "none",
        "OUTREACH_NEWSLETTER__RATE_PER_SECOND": "500",
        "OUTREACH_NEWSLETTER__WEB_BASE_URL": "https://findings.example.org/",
    }


def kit_folder(settings: Settings, report_id: str) -> Path:
    token = kit_token(press_secret(settings), f"report:{report_id}")
    return settings.paths.public / kit_path(token)


def embargo(project: Path, report_id: str, until: datetime) -> None:
    path = project / "reports" / f"{report_id}.md"
    text = path.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("published: "))
    path.write_text(
        text.replace(line, f"{line}\nembargo: {until:%Y-%m-%dT%H:%M:%S}+00:00", 1),
        encoding="utf-8",
    )


# -- blog and press kit --------------------------------------------------------------------


def test_the_blog_announces_the_report_with_links_to_both_editions(
    project: Path, pdf: dict[str, bytes]
) -> None:
    settings = settings_of(project)
    launch_report(settings, STATE, ["blog", "reports"])
    report = read_reports(settings)[STATE]
    page = settings.paths.public / "blog" / STATE / "index.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    assert soup.h1.get_text(strip=True) == report.title
    assert soup.find("link", rel="canonical")["href"] == f"{settings.site.base_url}blog/{STATE}/"
    links = {a.get_text(strip=True): a["href"] for a in soup.select(".body a")}
    assert links["Read the report"] == f"{settings.site.base_url}reports/{STATE}/"
    assert links["Download the PDF"] == f"{settings.site.base_url}reports/{STATE}/{STATE}.pdf"
    # Key figures: the indicators, headline ones first.
    figures = [dt.get_text(" ", strip=True) for dt in soup.select(".stats dt")]
    assert figures[:2] == ["45% (illustrative)", "12% (illustrative)"]
    cover = (settings.paths.media / report.cover.file).read_bytes()
    image = soup.select_one(".lead-image img")
    assert image["alt"] == report.cover.alt
    assert (settings.paths.public / "blog" / STATE / image_name(cover)).read_bytes() == cover
    # Both editions are out where the post points.
    assert (settings.paths.public / "reports" / STATE / f"{STATE}.pdf").read_bytes() == pdf[STATE]
    # The blog's index and feed stay the findings' (unchanged by a report's launch).
    assert not (settings.paths.public / "index.html").exists()


def test_the_press_kit_carries_the_release_headlines_cover_and_pdf(
    project: Path, pdf: dict[str, bytes]
) -> None:
    settings = settings_of(project)
    launch_report(settings, STATE, ["press"])
    report = read_reports(settings)[STATE]
    kit = kit_folder(settings, STATE)
    names = {p.relative_to(kit).as_posix() for p in kit.rglob("*") if p.is_file()}
    cover = (settings.paths.media / report.cover.file).read_bytes()
    assert {
        "release.txt",
        "release.html",
        "fact-sheet.txt",
        "contact.vcf",
        "share.png",
        "quotes.txt",
        f"images/{image_name(cover)}",
        f"{STATE}.pdf",
        "manifest.json",
        "index.html",
    } <= names
    assert (kit / f"{STATE}.pdf").read_bytes() == pdf[STATE]
    assert (kit / "images" / image_name(cover)).read_bytes() == cover
    manifest = json.loads((kit / "manifest.json").read_text())
    assert f"{STATE}.pdf" in json.dumps(manifest)
    with zipfile.ZipFile(kit / f"report-{STATE}-press-kit.zip") as archive:
        assert archive.read(f"report-{STATE}-press-kit/{STATE}.pdf") == pdf[STATE]

    # The headlines come from the headline indicator through the house headline scoring.
    announcement = launch.read_announcement(report, settings)
    assert announcement.key_stat.indicator == "premium-share-to-households"
    _, choice = release_for(announcement, settings, load_press_data(settings))
    text = (kit / "release.txt").read_text(encoding="utf-8")
    assert choice.business.text in text and choice.consumer.text in text
    assert choice.consumer.text.startswith("45%")
    assert reading_grade(choice.consumer.text) <= 8 and not choice.consumer.problems
    assert not choice.business.problems
    html = BeautifulSoup((kit / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert html.find("meta", attrs={"name": "robots"})["content"].startswith("noindex")
    # The kit is at an unguessable address nothing else names.
    public = settings.paths.public
    for path in public.rglob("*"):
        if path.is_file() and kit not in path.parents:
            assert kit.name.encode() not in path.read_bytes(), path


# -- embargo ---------------------------------------------------------------------------------


def test_an_embargoed_report_is_public_nowhere_before_the_lift_but_its_kit_is_ready(
    project: Path, inbox: Inbox
) -> None:
    lift = OUT + timedelta(days=10)
    embargo(project, CASE, lift)
    settings = settings_of(project, **smtp(inbox))
    subscribe(settings, {"reader@example.com": ("food-agriculture",)})
    channels = ["blog", "press", "reports", "newsletter"]
    approve = {"pitches": True, "newsletter": True}
    report = launch_report(settings, CASE, channels, OUT, approve)

    public = settings.paths.public
    kit = kit_folder(settings, CASE)
    assert (kit / "release.txt").read_text().startswith("EMBARGOED UNTIL")
    published = {p.relative_to(public).as_posix() for p in public.rglob("*") if p.is_file()}
    outside_kit = {p for p in published if not p.startswith("press/kit/")}
    assert not [p for p in outside_kit if CASE in p], "nothing of the report outside the kit"
    for path in outside_kit:
        assert "robusta coffee from ageing trees" not in (public / path).read_text(
            encoding="utf-8", errors="replace"
        )
    assert {(h.finding_id, h.channel) for h in report.held} == {
        (f"report:{CASE}", "blog"),
        (f"report:{CASE}", "reports"),
        (f"report:{CASE}", "newsletter"),
    }
    # Pitches go before the lift, to matching journalists who accept embargoes only.
    pitched = {r for _, rcpts, _ in inbox.accepted for r in rcpts}
    assert pitched == MATCHING_CASE - {"james.mwangi@example.org"}
    for _, _, raw in inbox.accepted:
        assert message_from_bytes(raw, policy=policy.default)["Subject"].startswith("EMBARGOED")

    after = launch_report(settings, CASE, channels, lift + timedelta(minutes=1), approve)
    assert (public / "blog" / CASE / "index.html").is_file()
    assert (public / "reports" / CASE / "index.html").is_file()
    assert after.held == []
    assert "reader@example.com" in {r for _, rcpts, _ in inbox.accepted for r in rcpts}


# -- pitches ---------------------------------------------------------------------------------


def test_pitches_go_to_matching_journalists_only_after_approval_and_once(
    project: Path, inbox: Inbox
) -> None:
    settings = settings_of(project, **smtp(inbox))
    waiting = launch_report(settings, CASE, ["press"])
    assert inbox.accepted == []
    assert any("await approval" in note and "--report" in note for note in waiting.notes)

    refused = launch_report(settings, CASE, ["press"], approvals={"pitches": False})
    assert inbox.accepted == [] and any("rejected; nothing sent" in n for n in refused.notes)

    launch_report(settings, CASE, ["press"], approvals={"pitches": True})
    pitched = [r for _, rcpts, _ in inbox.accepted for r in rcpts]
    assert sorted(pitched) == sorted(MATCHING_CASE)
    kit_url = settings.site.base_url + kit_path(kit_token(press_secret(settings), f"report:{CASE}"))
    for _, rcpts, raw in inbox.accepted:
        message = message_from_bytes(raw, policy=policy.default)
        assert [a.addr_spec for a in message["To"].addresses] == rcpts
        assert kit_url in message.get_body(("plain",)).get_content()
        assert not list(message.iter_attachments()), "a link to the kit, never an attachment"

    launch_report(settings, CASE, ["press"], approvals={"pitches": True})
    assert len(inbox.accepted) == len(MATCHING_CASE), "nobody is pitched twice"
    items = Ledger(settings.paths.ledger).items(f"report:{CASE}", PITCH_CHANNEL, "smtp")
    assert set(items) == {f"pitch:{email}" for email in MATCHING_CASE}


# -- newsletter ------------------------------------------------------------------------------


def subscribe(settings: Settings, people: dict[str, tuple[str, ...]]) -> None:
    store = SubscriberStore(settings.paths.subscribers)
    for email, topics in people.items():
        store.sign_up(email, email.split("@")[0].title(), topics, "test", OUT)
        store.confirm(email, OUT)


def test_the_newsletter_reaches_subscribers_of_the_reports_topics_after_approval(
    project: Path, inbox: Inbox
) -> None:
    settings = settings_of(project, **smtp(inbox))
    subscribe(
        settings,
        {
            "coffee@example.com": ("food-agriculture",),
            "climate@example.com": ("scope-3-climate", "plastics-packaging"),
            "plastic@example.com": ("plastics-packaging",),
            "cotton@example.com": ("apparel-textiles",),
        },
    )
    waiting = launch_report(settings, CASE, ["newsletter"])
    assert inbox.accepted == []
    assert f"Newsletter for report '{CASE}' awaits approval; nothing sent." in waiting.notes

    launch_report(settings, CASE, ["newsletter"], approvals={"newsletter": True})
    received = sorted(r for _, rcpts, _ in inbox.accepted for r in rcpts)
    assert received == ["climate@example.com", "coffee@example.com"]
    message = message_from_bytes(inbox.accepted[0][2], policy=policy.default)
    report = read_reports(settings)[CASE]
    assert message["Subject"] == report.title
    soup = BeautifulSoup(message.get_body(("html",)).get_content(), "html.parser")
    landing = f"{settings.site.base_url}reports/{CASE}/"
    button = soup.find("a", string=lambda s: s and "Read the report" in s)
    assert button is not None and button["href"] == landing
    assert soup.find("img", src=landing + "share.png") is not None
    assert "List-Unsubscribe" in message

    launch_report(settings, CASE, ["newsletter"], approvals={"newsletter": True})
    assert len(inbox.accepted) == 2, "the crash-safe send sends each subscriber one copy"
    counts = SendLog(settings.paths.ledger).counts(f"newsletter:report:{CASE}")
    assert (counts.sent, counts.pending) == (2, 0)


# -- WordPress and object storage ------------------------------------------------------------


def test_the_report_goes_to_wordpress_with_its_pdf_as_a_media_item(
    project: Path,
    pdf: dict[str, bytes],
    wordpress: WordPressSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WordPress keeps its own clock: released at the real time, the report's date passed."""
    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", wordpress.password)
    config = project / "outreach.toml"
    config.write_text(config.read_text() + '\n[channels.wordpress]\nplatforms = ["wordpress"]\n')
    settings = settings_of(
        project, OUTREACH_WORDPRESS__URL=wordpress.url, OUTREACH_WORDPRESS__USERNAME="admin"
    )
    now = datetime.now(UTC)
    launch_report(settings, CASE, ["wordpress", "reports"], now)

    [post] = wordpress.posts(slug=CASE)
    report = read_reports(settings)[CASE]
    assert post["status"] == "publish"
    assert post["title"]["raw"] == report.title
    media = wordpress.all("wp/v2/media", parent=post["id"])
    [document] = [m for m in media if m["mime_type"] == "application/pdf"]
    assert requests.get(document["source_url"], timeout=30).content == pdf[CASE]
    assert post["featured_media"] and post["featured_media"] != document["id"]
    assert f"reports/{CASE}/{CASE}.pdf" in post["content"]["raw"]

    again = launch_report(settings, CASE, ["wordpress"], now)
    assert {r.action for r in again.receipts if r.channel == "wordpress"} == {"unchanged"}
    assert len(wordpress.all("wp/v2/media", parent=post["id"])) == len(media)


def test_both_editions_upload_to_object_storage(
    project: Path,
    pdf: dict[str, bytes],
    s3: str,  # noqa: F811
) -> None:
    config = project / "outreach.toml"
    config.write_text(
        config.read_text().replace(
            '[channels.reports]\nplatforms = ["static"]',
            '[channels.reports]\nplatforms = ["static", "s3"]',
        )
    )
    settings = load_settings(
        config,
        environ={
            "OUTREACH_STORAGE__BUCKET": BUCKET,
            "OUTREACH_STORAGE__ENDPOINT_URL": s3,
            "OUTREACH_STORAGE__REGION": "us-east-1",
        },
    )
    launch_report(settings, STATE, ["reports"])
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert {f"reports/{STATE}/index.html", f"reports/{STATE}/{STATE}.pdf"} <= keys
    stored = client.get_object(Bucket=BUCKET, Key=f"reports/{STATE}/{STATE}.pdf")
    assert stored["ContentType"] == "application/pdf"
    assert stored["Body"].read() == pdf[STATE]
    page = client.get_object(Bucket=BUCKET, Key=f"reports/{STATE}/index.html")["Body"].read()
    assert page == (settings.paths.public / "reports" / STATE / "index.html").read_bytes()
