"""Drift between the ledger and the platforms: ``outreach platforms verify [--repair]``.

Against the real test WordPress (tests/servers/wordpress.sh), moto's S3 server over HTTP (a
stand-in: no real S3 server installs here, see test_objectstore.py) and the static folder.
WordPress keeps its own clock, so these releases run at the real time.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import requests
from bs4 import BeautifulSoup
from test_objectstore import BUCKET, s3, uploads  # noqa: F401 (fixtures)
from test_wordpress import configure
from typer.testing import CliRunner, Result

from outreach import locks
from outreach.config import Settings, load_settings
from outreach.ledger import Ledger
from outreach.platforms.registry import make_platform
from outreach.release import release
from outreach.release_steps import publishing_unit
from outreach.verify import Drift, platform_names
from outreach.verify import verify as check
from outreach_cli.main import app
from wordpress_tools import WordPressSite

PREFIX = "site"
PAGE = "blog/beta-cotton-traceability/index.html"


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> str:
    """moto's S3 server on loopback (test_objectstore's ``s3`` fixture), by its address."""
    return request.getfixturevalue("s3")


def mirror_to_bucket(project: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project's static channels also pushed to the bucket, configured the way a team
    does it (environment variables), for the command line to read."""
    config = project / "outreach.toml"
    config.write_text(
        config.read_text().replace('platforms = ["static"]', 'platforms = ["static", "s3"]')
    )
    for name, value in {
        "OUTREACH_STORAGE__BUCKET": BUCKET,
        "OUTREACH_STORAGE__ENDPOINT_URL": endpoint,
        "OUTREACH_STORAGE__REGION": "us-east-1",
        "OUTREACH_STORAGE__PREFIX": PREFIX,
    }.items():
        monkeypatch.setenv(name, value)
    return config


def verify(config: Path, *extra: str) -> Result:
    return CliRunner().invoke(app, ["platforms", "verify", "--config", str(config), *extra])


def bucket(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def body(endpoint: str, key: str) -> bytes:
    return bucket(endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()


@pytest.fixture
def everywhere(
    project: Path,
    endpoint: str,
    wordpress: WordPressSite,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, Settings]:
    """The fixture project released to the static folder, the bucket and WordPress."""
    config = mirror_to_bucket(project, endpoint, monkeypatch)
    configure(project, wordpress.url)
    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", wordpress.password)
    settings = load_settings(config)
    release(settings, None, None, datetime.now(UTC))
    return config, settings


def test_verify_finds_a_deleted_post_and_a_changed_object_and_repair_restores_both(
    everywhere: tuple[Path, Settings],
    endpoint: str,
    wordpress: WordPressSite,
) -> None:
    config, _ = everywhere
    clean = verify(config)
    assert clean.exit_code == 0, clean.output
    assert "0 missing or changed" in clean.output

    [post] = wordpress.posts(slug="beta-cotton-traceability")
    wordpress.delete(f"wp/v2/posts/{post['id']}")
    [edited] = wordpress.posts(slug="alpha-cocoa-prices")
    wordpress_edit = {"title": "Edited by hand"}
    requests.post(
        wordpress.api(f"wp/v2/posts/{edited['id']}"),
        json=wordpress_edit,
        auth=(wordpress.username, wordpress.password),
        timeout=30,
    ).raise_for_status()
    original = body(endpoint, f"{PREFIX}/{PAGE}")
    bucket(endpoint).put_object(Bucket=BUCKET, Key=f"{PREFIX}/{PAGE}", Body=b"<p>defaced</p>")

    found = verify(config)
    assert found.exit_code == 1, found.output
    lines = found.output.splitlines()
    assert any(
        line.startswith("missing") and "wordpress/beta-cotton-traceability/post.json" in line
        for line in lines
    ), found.output
    assert any(
        line.startswith("changed") and "wordpress/alpha-cocoa-prices/post.json" in line
        for line in lines
    ), found.output
    assert any(line.startswith("changed") and "s3: blog" in line and PAGE in line for line in lines)
    assert "3 missing or changed" in found.output
    assert "--repair" in found.output

    repaired = verify(config, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "After the repair: 0 missing or changed" in repaired.output
    [again] = wordpress.posts(slug="beta-cotton-traceability")  # exactly one, made afresh
    assert again["status"] == "publish" and again["id"] != post["id"]
    [restored] = wordpress.posts(slug="alpha-cocoa-prices")
    assert restored["id"] == edited["id"] and restored["title"]["raw"] != "Edited by hand"
    assert body(endpoint, f"{PREFIX}/{PAGE}") == original
    page = BeautifulSoup(original, "html.parser")
    assert page.find("h1") is not None  # the real page, not the defacement

    second = verify(config)
    assert second.exit_code == 0, second.output
    assert "0 missing or changed, 0 unknown" in second.output


def test_a_hand_edited_file_and_a_deleted_index_are_repaired_and_an_unknown_object_left_alone(
    project: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    uploaded: list[str] = request.getfixturevalue("uploads")  # keys the pipeline puts
    config = mirror_to_bucket(project, endpoint, monkeypatch)
    settings = load_settings(config)
    release(settings, None, None, datetime.now(UTC))
    target = settings.paths.public / PAGE
    original = target.read_bytes()
    target.write_text("<p>edited on the server</p>")
    bucket(endpoint).put_object(Bucket=BUCKET, Key=f"{PREFIX}/notes/by-hand.txt", Body=b"mine")
    home = body(endpoint, f"{PREFIX}/index.html")  # a site-wide page
    bucket(endpoint).delete_object(Bucket=BUCKET, Key=f"{PREFIX}/index.html")
    receipts_before = {
        (r.item, r.content_hash) for r in Ledger(settings.paths.ledger).platform_items("s3")
    }

    found = verify(config)
    assert found.exit_code == 1, found.output
    assert any(
        line.startswith("changed") and "static:" in line and PAGE in line
        for line in found.output.splitlines()
    ), found.output
    assert any(
        line.startswith("unknown") and f"{PREFIX}/notes/by-hand.txt" in line
        for line in found.output.splitlines()
    ), found.output
    assert any(
        line.startswith("missing") and "(site pages): index.html" in line
        for line in found.output.splitlines()
    ), found.output
    assert "2 missing or changed, 1 unknown" in found.output

    uploaded.clear()
    repaired = verify(config, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert uploaded == [f"{PREFIX}/index.html"]  # exactly what differed in the bucket
    assert target.read_bytes() == original
    assert body(endpoint, f"{PREFIX}/notes/by-hand.txt") == b"mine"  # not the pipeline's: kept
    assert body(endpoint, f"{PREFIX}/index.html") == home
    # Only what differed was pushed: the bucket's records hold the same files and contents.
    assert {
        (r.item, r.content_hash) for r in Ledger(settings.paths.ledger).platform_items("s3")
    } == receipts_before

    second = verify(config)
    assert second.exit_code == 0, second.output
    assert "0 missing or changed, 1 unknown" in second.output


def test_a_trashed_post_and_an_edited_image_are_made_again_and_an_editors_post_left_alone(
    everywhere: tuple[Path, Settings], wordpress: WordPressSite
) -> None:
    config, _ = everywhere
    auth = (wordpress.username, wordpress.password)
    [trashed] = wordpress.posts(slug="beta-cotton-traceability")
    requests.delete(wordpress.api(f"wp/v2/posts/{trashed['id']}"), auth=auth, timeout=30)
    [post] = wordpress.posts(slug="alpha-cocoa-prices")
    image_id = post["featured_media"]
    image = wordpress.get(f"wp/v2/media/{image_id}", context="edit").json()
    requests.post(
        wordpress.api(f"wp/v2/media/{image_id}"),
        json={"alt_text": "by hand"},
        auth=auth,
        timeout=30,
    ).raise_for_status()

    mine = requests.post(
        wordpress.api("wp/v2/posts"),
        json={"title": "Written by an editor", "status": "draft"},
        auth=auth,
        timeout=30,
    ).json()

    found = verify(config)
    assert found.exit_code == 1, found.output
    lines = found.output.splitlines()
    assert any(line.startswith("unknown") and f"post {mine['id']}" in line for line in lines), (
        found.output
    )
    assert any(
        line.startswith("missing")
        and "beta-cotton-traceability/post.json" in line
        and "trash" in line
        for line in lines
    ), found.output
    assert any(line.startswith("changed") and f"media item {image_id}" in line for line in lines), (
        found.output
    )

    repaired = verify(config, "--repair")
    assert repaired.exit_code == 0, repaired.output
    [again] = wordpress.posts(slug="beta-cotton-traceability")
    assert again["status"] == "publish"
    [same] = wordpress.posts(slug="alpha-cocoa-prices")
    assert same["id"] == post["id"] and same["featured_media"] != image_id
    fresh = wordpress.get(f"wp/v2/media/{same['featured_media']}", context="edit").json()
    assert fresh["alt_text"] == image["alt_text"] != "by hand"
    assert wordpress.get(f"wp/v2/media/{image_id}").status_code == 404  # ours: replaced
    kept = wordpress.get(f"wp/v2/posts/{mine['id']}", context="edit").json()
    assert kept["title"]["raw"] == "Written by an editor"  # listed, never touched
    assert verify(config).exit_code == 0


def test_objects_uploaded_before_etags_were_kept_are_compared_by_content(
    project: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = mirror_to_bucket(project, endpoint, monkeypatch)
    settings = load_settings(config)
    release(settings, None, None, datetime.now(UTC))
    # A ledger from before ETags were kept: written with SQL, as an older version left it.
    with sqlite3.connect(settings.paths.ledger) as connection:
        connection.execute("UPDATE publications SET remote_id=NULL WHERE platform='s3'")
    key = f"{PREFIX}/{PAGE}"
    original = body(endpoint, key)
    assert verify(config).exit_code == 0  # same bytes: read back, hashed, equal

    bucket(endpoint).put_object(Bucket=BUCKET, Key=key, Body=original + b"<!-- by hand -->")
    found = verify(config)
    assert found.exit_code == 1, found.output
    assert f"object {key} differs" in found.output

    assert verify(config, "--repair").exit_code == 0
    assert body(endpoint, key) == original
    assert verify(config).exit_code == 0


def test_names_from_a_platform_cannot_drive_the_terminal() -> None:
    """An unknown key is printed as the platform names it, but with no control characters."""
    line = Drift("s3", "unknown", "site/\x1b[2Jcleared\nfake line", "not in the ledger").line()
    assert "\x1b" not in line and "\n" not in line
    assert line == "unknown  s3: site/?[2Jcleared?fake line (not in the ledger)"


def test_verify_waits_while_a_release_publishes_to_the_same_platform(
    project: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release midway has pushed files it has not recorded yet: verify takes the same
    per-platform lock, so it never reports that as drift."""
    settings = load_settings(mirror_to_bucket(project, endpoint, monkeypatch))
    release(settings, None, None, datetime.now(UTC))
    platforms = {name: make_platform(settings, name) for name in platform_names(settings)}
    waiting, result = threading.Event(), {}

    def run() -> None:
        result["found"] = check(settings, platforms, notice=lambda text: waiting.set())

    with locks.hold(settings.paths.state, publishing_unit("static")):  # the "release"
        worker = threading.Thread(target=run)
        worker.start()
        assert waiting.wait(timeout=60)
        assert "found" not in result
    worker.join(timeout=120)
    assert result["found"].differing == [] and set(result["found"].checked) == {"static", "s3"}
