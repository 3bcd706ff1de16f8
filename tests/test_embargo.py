"""Nothing of an embargoed finding is public on the static site or in the bucket before the
lift, except its press kit at its unguessable address; the kits' folder lists no kit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests
from bs4 import BeautifulSoup
from test_objectstore import BUCKET, s3, settings_for  # noqa: F401 (s3 is a fixture)

from browser_tools import serving
from conftest import AFTER_EMBARGO, NOW
from outreach.config import Settings, load_settings
from outreach.press.kit import kit_base
from outreach.release import load_catalog, release
from outreach.share_image import share_image_for

EMBARGOED = "gamma-embargoed-packaging"
CHANNELS = """
[channels.press]
platforms = ["static"]

[channels.newsroom]
platforms = ["static"]

[channels.newsletter]
platforms = []
"""


@pytest.fixture
def settings(project: Path) -> Settings:
    """The fixture project with the press, newsroom and newsletter channels on too."""
    config = project / "outreach.toml"
    config.write_text(config.read_text() + CHANNELS)
    return load_settings(config, environ={"OUTREACH_PRESS_SECRET": "test-secret"})


def telltales(settings: Settings) -> tuple[list[bytes], list[bytes]]:
    """Text that would give the embargoed finding away, and its files' exact bytes."""
    finding = load_catalog(settings)[EMBARGOED]
    texts = [finding.title, finding.summary, EMBARGOED, f"{finding.key_stat.value} "]
    files = [
        share_image_for(finding, settings),
        (settings.paths.media / finding.image.file).read_bytes(),
    ]
    return [text.encode() for text in texts], files


def giving_away(files: dict[str, bytes], settings: Settings) -> list[str]:
    """Paths outside the embargoed finding's kit that show any of it."""
    texts, contents = telltales(settings)
    kit = kit_base(load_catalog(settings)[EMBARGOED], settings)
    return sorted(
        path
        for path, content in files.items()
        if not path.startswith(kit)
        and (content in contents or any(text in content for text in texts))
    )


def folder_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def test_an_embargoed_finding_leaves_nothing_public_on_the_static_site_but_its_kit(
    settings: Settings,
) -> None:
    release(settings, None, None, NOW)
    files = folder_files(settings.paths.public)
    kit = kit_base(load_catalog(settings)[EMBARGOED], settings)
    assert kit + "index.html" in files
    assert giving_away(files, settings) == []

    release(settings, None, None, AFTER_EMBARGO)  # the lift: the finding's pages go out
    assert "blog/gamma-embargoed-packaging/index.html" in giving_away(
        folder_files(settings.paths.public), settings
    )


def test_an_embargoed_finding_leaves_nothing_in_the_bucket_but_its_kit(
    project: Path,
    s3: str,  # noqa: F811 (the fixture)
) -> None:
    config = project / "outreach.toml"
    config.write_text(config.read_text() + CHANNELS)
    settings = settings_for(project, s3)
    release(settings, None, None, NOW)
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET)["Contents"]]
    files = {key: client.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}
    kit = kit_base(load_catalog(settings)[EMBARGOED], settings)
    assert kit + "index.html" in files, "the kit itself is there, at its unguessable address"
    assert "press/kit/index.html" in files
    assert giving_away(files, settings) == []


@pytest.fixture
def listing_server(settings: Settings) -> Iterator[str]:
    """A web server that lists folders without an index page (like a default Apache or
    python -m http.server), serving the site folder on loopback."""
    settings.paths.public.mkdir(parents=True, exist_ok=True)
    with serving(settings.paths.public) as address:
        yield address


def test_press_kit_folder_listing_shows_no_kit_token(
    settings: Settings, listing_server: str
) -> None:
    release(settings, None, None, NOW)
    catalog = load_catalog(settings)
    tokens = [kit_base(finding, settings).split("/")[2] for finding in catalog.values()]
    assert all(len(token) == 32 for token in tokens)

    answer = requests.get(listing_server + "press/kit/", timeout=10)
    assert answer.status_code == 200
    page = BeautifulSoup(answer.text, "html.parser")
    assert page.find("meta", attrs={"name": "robots"})["content"] == "noindex, nofollow"
    assert not any("press/kit/" in link["href"] for link in page.find_all("a"))
    assert not any(token in answer.text for token in tokens)
    # Each kit is still at its own address.
    for finding in catalog.values():
        kit = requests.get(listing_server + kit_base(finding, settings), timeout=10)
        assert kit.status_code == 200 and "Press kit" in kit.text

    again = release(settings, None, None, NOW)
    assert again.changed == [], "the index is written once, not on every release"
