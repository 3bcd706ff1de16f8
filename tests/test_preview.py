"""``outreach preview`` and ``outreach release --dry-run``: a reviewer sees every page and email
a release would make, at addresses they can open, and nothing reaches anyone."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path

from bs4 import BeautifulSoup

from conftest import NOW, REPO
from outreach.config import load_settings
from outreach.release import load_catalog
from outreach.subscribers import SubscriberStore

OUTREACH = [sys.executable, "-m", "outreach_cli"]
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
    "PYTHONPATH": str(REPO),
    "PYTHONUNBUFFERED": "1",
    "COLUMNS": "400",
}
FINDING = "farm-gate-to-fob"


def nothing_sent_or_recorded(project: Path) -> None:
    settings = load_settings(project / "outreach.toml")
    assert not settings.paths.outbox.exists(), "no email was written to the outbox"
    assert not settings.paths.ledger.exists(), "the ledger was not opened"
    assert not settings.paths.public.exists(), "nothing was published"


def test_preview_renders_every_email_and_serves_the_build_folder(sample_project: Path) -> None:
    process = subprocess.Popen(
        [*OUTREACH, "preview", "--port", "0"],
        cwd=sample_project,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Serving"):
            line = process.stdout.readline()
            assert line, "".join(lines) + (process.stderr.read() if process.stderr else "")
            lines.append(line)
        root = lines[-1].split(" on ", 1)[1].split()[0]
        listed = {}
        while (line := process.stdout.readline()).startswith("  "):
            what, url = line.strip().rsplit(": ", 1)
            listed[what] = url
            if what.startswith("pitch "):
                break
        with urllib.request.urlopen(root, timeout=10) as response:
            home = BeautifulSoup(response.read(), "html.parser")
        assert response.status == 200 and home.find("h1") is not None
        assert listed[f"blog {FINDING}"] == f"{root}blog/{FINDING}/"
        with urllib.request.urlopen(listed[f"blog {FINDING}"], timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(listed["email previews"], timeout=10) as response:
            emails = BeautifulSoup(response.read(), "html.parser")
        assert "Nothing here was sent." in emails.get_text()
        newsletter = listed[f"newsletter {FINDING} to subscriber@example.org"]
        with urllib.request.urlopen(newsletter, timeout=10) as response:
            html = BeautifulSoup(response.read(), "html.parser")
        assert any("unsubscribe" in a.get_text().lower() for a in html.find_all("a"))
    finally:
        process.terminate()
        process.wait(timeout=10)

    build = sample_project / "build" / "previews"
    message = message_from_bytes(
        (build / "newsletter" / f"{FINDING}.eml").read_bytes(), policy=policy.default
    )
    assert message["To"].addresses[0].addr_spec == "subscriber@example.org"
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("html",)).get_content() == (
        (build / "newsletter" / f"{FINDING}.html").read_bytes().decode("utf-8")
    ), "the HTML preview is the HTML part subscribers get"
    pitches = sorted((build / "pitches" / FINDING).glob("*.eml"))
    assert pitches, "every journalist on the beat gets a pitch preview"
    for path in pitches:
        pitch = message_from_bytes(path.read_bytes(), policy=policy.default)
        page = BeautifulSoup(path.with_suffix(".html").read_bytes(), "html.parser")
        assert pitch["Subject"] in page.get_text()
        assert pitch["To"].addresses[0].addr_spec + ".eml" == path.name
    nothing_sent_or_recorded(sample_project)


def test_preview_without_serving_lists_the_files(sample_project: Path) -> None:
    done = subprocess.run(
        [*OUTREACH, "preview", "--no-serve"],
        cwd=sample_project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    build = sample_project / "build"
    assert f"blog {FINDING}: {build / 'blog' / FINDING}" in done.stdout
    assert f"{build / 'previews' / 'newsletter' / FINDING}.html" in done.stdout
    assert "nothing was sent or published" in done.stdout
    nothing_sent_or_recorded(sample_project)


def test_release_dry_run_lists_changed_files_and_who_would_be_reached(
    sample_project: Path,
) -> None:
    settings = load_settings(sample_project / "outreach.toml")
    topics = load_catalog(settings)[FINDING].topics
    store = SubscriberStore(settings.paths.subscribers)
    for email in ("reader1@example.org", "reader2@example.org"):
        store.sign_up(email, "Reader", (topics[0],), "test", NOW)
        store.confirm(email, NOW)
    done = subprocess.run(
        [*OUTREACH, "release", FINDING, "--dry-run"],
        cwd=sample_project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"would be created: {settings.site.base_url}blog/{FINDING}/" in done.stdout
    assert f"Would send newsletter '{FINDING}' to 2 subscriber(s)" in done.stdout
    assert "reader1@example.org" not in done.stdout, "subscribers are counted, not named"
    assert f"Would pitch '{FINDING}' to 2 journalist(s) (awaits approval): " in done.stdout
    assert "dana.okafor@example.com" in done.stdout
    assert not settings.paths.public.exists() and not settings.paths.outbox.exists()
