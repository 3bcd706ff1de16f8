"""End to end: the installed ``outreach`` command on the repository's own sample findings."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import feedparser
import pytest
from bs4 import BeautifulSoup

OUTREACH = [sys.executable, "-m", "outreach_cli"]


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        OUTREACH + args,
        cwd=cwd,
        env={**os.environ, **(env or {}), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_lists_three_mistakes_and_release_writes_nothing(sample_project: Path) -> None:
    path = sample_project / "findings" / "farm-gate-to-fob.md"
    text = path.read_text()
    text = text.replace("id: farm-gate-to-fob", "id: Farm Gate").replace(
        "published: 2026-07-08T09:00:00+00:00", "published: 2026-07-08"
    )
    text = text.replace("topics: [", "topics: [fod-agriculture, ", 1)
    path.write_text(text)

    checked = run(["check"], sample_project)
    assert checked.returncode == 1
    lines = [
        line.strip()
        for line in checked.stderr.splitlines()
        if line.strip().startswith("- findings/")
    ]
    assert [line.split(": ")[1] for line in lines] == ["id", "published", "topics[0]"], (
        checked.stderr
    )
    assert all(line.startswith("- findings/farm-gate-to-fob.md: ") for line in lines)

    released = run(["release", "--all"], sample_project)
    assert released.returncode == 1
    assert "Nothing was published." in released.stderr
    assert not (sample_project / "public").exists()
    assert not (sample_project / "state").exists()


@pytest.mark.prefect
def test_release_all_builds_a_site_that_parsers_accept(
    prefect_api: str, sample_project: Path
) -> None:
    released = run(
        ["release", "--all", "--approve"],
        sample_project,
        {"PREFECT_API_URL": prefect_api, "OUTREACH_LIMITS": "off"},  # the harness has no limits
    )
    assert released.returncode == 0, released.stderr + released.stdout
    public = sample_project / "public"
    findings = sorted(
        p.stem for p in (sample_project / "findings").glob("*.md") if p.stem != "README"
    )
    public_ids = [f for f in findings if f != "cotton-plastic-contamination"]
    assert "Held: 'cotton-plastic-contamination'" in released.stdout

    pages = sorted(public.rglob("*.html"))
    assert len(pages) >= len(public_ids) + 1 + 7
    for page in pages:
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        assert len(soup.find_all("h1")) == 1, page
        assert soup.find("main") is not None, page
        assert soup.title and soup.title.get_text().strip(), page
        assert all(img.get("alt") for img in soup.find_all("img")), page
    for finding_id in public_ids:
        assert (public / "blog" / finding_id / "index.html").is_file()
        assert (public / "blog" / finding_id / "share.png").is_file()

    feed = feedparser.parse((public / "feed.atom").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert len(feed.entries) == len(public_ids)
    dates = [entry.published_parsed for entry in feed.entries]
    assert dates == sorted(dates, reverse=True)
    sitemap = BeautifulSoup((public / "sitemap.xml").read_text(), "xml")
    locations = {loc.get_text() for loc in sitemap.find_all("loc")}
    assert {f"http://127.0.0.1:8000/blog/{f}/" for f in public_ids} <= locations
    assert not any("cotton-plastic-contamination" in loc for loc in locations)

    pitched = sorted(
        p.relative_to(sample_project / "outbox") for p in (sample_project / "outbox").rglob("*.eml")
    )
    assert "Pitched 'farm-gate-to-fob' to 2 journalist(s) via outbox." in released.stdout
    assert Path("press-pitch/farm-gate-to-fob/dana.okafor@example.com.eml") in pitched

    again = run(
        ["release", "--all", "--approve"],
        sample_project,
        {"PREFECT_API_URL": prefect_api, "OUTREACH_LIMITS": "off"},
    )
    assert again.returncode == 0
    assert "Nothing changed" in again.stdout
    assert (
        "Pitches for 'farm-gate-to-fob': no journalist left to pitch (2 already pitched)."
        in again.stdout
    )
    assert (
        sorted(
            p.relative_to(sample_project / "outbox")
            for p in (sample_project / "outbox").rglob("*.eml")
        )
        == pitched
    )


def test_serve_answers_over_http(sample_project: Path) -> None:
    (sample_project / "public").mkdir()
    (sample_project / "public" / "index.html").write_text("<!DOCTYPE html><title>ok</title>")
    (sample_project / "public" / "feed.atom").write_text("<feed/>")
    process = subprocess.Popen(
        [*OUTREACH, "serve", "--port", "0"],
        cwd=sample_project,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        assert "Serving" in banner, banner
        url = banner.split(" on ", 1)[1].split()[0]
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200 and "<title>ok</title>" in response.read().decode()
        with urllib.request.urlopen(url + "feed.atom", timeout=10) as response:
            assert response.headers["Content-Type"] == "application/atom+xml"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.prefect
def test_release_against_an_unreachable_wordpress_says_so_in_one_paragraph(
    prefect_api: str, sample_project: Path
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    config = sample_project / "outreach.toml"
    text = config.read_text()
    config.write_text(
        text[: text.index("\n[wordpress]")]
        + f"""
[channels.wordpress]
platforms = ["wordpress"]

[wordpress]
url = "http://127.0.0.1:{closed}/"
username = "admin"
timeout_seconds = 2
backoff_seconds = 0.01
"""
    )
    released = run(
        ["release", "farm-gate-to-fob", "-c", "blog", "-c", "wordpress"],
        sample_project,
        {
            "PREFECT_API_URL": prefect_api,
            "OUTREACH_LIMITS": "off",
            "OUTREACH_WORDPRESS_APP_PASSWORD": "abcd efgh ijkl mnop",
        },
    )
    assert released.returncode == 1, released.stdout + released.stderr
    assert "Traceback" not in released.stdout + released.stderr
    # Prefect's run log comes first on stderr; the command's own message ends it.
    message = released.stderr[released.stderr.rindex("Nothing was published.") :].strip()
    assert message.startswith("Nothing was published. platforms are not ready:"), message
    assert f"WordPress at http://127.0.0.1:{closed}/" in message
    assert "\n\n" not in message, "one paragraph"
    assert "abcd" not in released.stdout + released.stderr
    assert not (sample_project / "public").exists()
