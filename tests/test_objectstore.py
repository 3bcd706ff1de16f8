"""The object-storage platform against moto's S3 server on loopback.

No real S3-compatible server can be installed here: moto in server mode stands in for it,
over real HTTP, so the test exercises boto3's requests, headers and retries end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from conftest import NOW, free_port
from fault_proxy import FaultProxy
from outreach.channels.base import Deliverable
from outreach.config import load_settings
from outreach.errors import is_retryable
from outreach.ledger import Ledger
from outreach.platforms import objectstore
from outreach.platforms.base import Batch
from outreach.platforms.objectstore import StorageTransient
from outreach.release import release

BUCKET = "findings-site"
SAMPLES_OUT = datetime(2026, 11, 29, tzinfo=UTC)
"""When both sample episodes are public (one sample finding is still under embargo)."""


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server (a stand-in: no real S3 server installs here) on a loopback port."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    endpoint = f"http://127.0.0.1:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)  # moto keeps buckets per process
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def uploads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the pipeline uploads, in order (a boto3 event hook on the pipeline's client)."""
    keys: list[str] = []
    make = objectstore.s3_client

    def recording_client(endpoint_url: str | None, region: str | None, attempts: int = 5):
        client = make(endpoint_url, region, attempts)
        client.meta.events.register(
            "before-parameter-build.s3.PutObject", lambda params, **_: keys.append(params["Key"])
        )
        return client

    monkeypatch.setattr("outreach.platforms.registry.s3_client", recording_client)
    return keys


def settings_for(project: Path, endpoint: str, prefix: str = "", attempts: int = 5):
    """The project with every static channel mirrored to the bucket through ``endpoint``."""
    config = project / "outreach.toml"
    config.write_text(
        config.read_text().replace('platforms = ["static"]', 'platforms = ["static", "s3"]')
    )
    return load_settings(
        config,
        environ={
            "OUTREACH_STORAGE__BUCKET": BUCKET,
            "OUTREACH_STORAGE__ENDPOINT_URL": endpoint,
            "OUTREACH_STORAGE__REGION": "us-east-1",
            "OUTREACH_STORAGE__PREFIX": prefix,
            "OUTREACH_STORAGE__ATTEMPTS": str(attempts),
        },
    )


def test_release_uploads_with_types_and_cache_policy_feeds_last(
    project: Path, s3: str, uploads: list[str]
) -> None:
    settings = settings_for(project, s3, prefix="site")
    release(settings, None, None, NOW)
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert {
        "site/index.html",
        "site/feed.atom",
        "site/sitemap.xml",
        "site/blog/beta-cotton-traceability/index.html",
        "site/blog/beta-cotton-traceability/share.png",
    } <= keys
    page = client.head_object(Bucket=BUCKET, Key="site/blog/beta-cotton-traceability/index.html")
    assert (page["ContentType"], page["CacheControl"]) == (
        "text/html; charset=utf-8",
        objectstore.SHORT_CACHE,
    )
    image = client.head_object(Bucket=BUCKET, Key="site/blog/beta-cotton-traceability/share.png")
    assert (image["ContentType"], image["CacheControl"]) == ("image/png", objectstore.LONG_CACHE)
    assert (
        image["ContentLength"]
        == (settings.paths.public / "blog/beta-cotton-traceability/share.png").stat().st_size
    )
    feed = client.head_object(Bucket=BUCKET, Key="site/feed.atom")
    assert feed["ContentType"].startswith("application/atom+xml")
    first_feed = min(i for i, key in enumerate(uploads) if key.endswith((".atom", ".xml")))
    last_page = max(i for i, key in enumerate(uploads) if key.startswith("site/blog/"))
    assert last_page < first_feed, "every post and image is up before the first feed"
    assert uploads.index("site/index.html") > last_page


def test_an_unchanged_rerun_uploads_nothing(project: Path, s3: str, uploads: list[str]) -> None:
    settings = settings_for(project, s3, prefix="site")
    release(settings, None, None, NOW)
    count = len(uploads)
    again = release(settings, None, None, NOW)
    assert len(uploads) == count
    assert [r for r in again.changed if r.platform == "s3"] == []


def test_only_objects_it_uploaded_are_ever_deleted(tmp_path: Path, s3: str) -> None:
    client = objectstore.s3_client(s3, "us-east-1")
    client.put_object(Bucket=BUCKET, Key="blog/x/hand-made.txt", Body=b"keep me")
    store = objectstore.ObjectStore(client, BUCKET, "", "https://cdn.example.org/")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    store.publish(
        Batch(
            "blog",
            "x",
            [
                Deliverable("blog/x/index.html", b"v1", "x"),
                Deliverable("blog/x/old.png", b"i", "x"),
            ],
        ),
        ledger,
        NOW,
    )
    receipts = store.publish(
        Batch("blog", "x", [Deliverable("blog/x/index.html", b"v2", "x")]), ledger, NOW
    )
    assert {r.item: r.action for r in receipts} == {
        "blog/x/index.html": "updated",
        "blog/x/old.png": "removed",
    }
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {"blog/x/index.html", "blog/x/hand-made.txt"}
    assert client.get_object(Bucket=BUCKET, Key="blog/x/index.html")["Body"].read() == b"v2"


def test_a_missing_bucket_setting_stops_the_release_before_anything(project: Path) -> None:
    from outreach.release import ReleaseError

    config = project / "outreach.toml"
    config.write_text(
        config.read_text().replace('platforms = ["static"]', 'platforms = ["static", "s3"]')
    )
    settings = load_settings(config, environ={})
    with pytest.raises(ReleaseError, match=r"platform 's3' needs storage\.bucket"):
        release(settings, None, None, NOW)
    assert not settings.paths.public.exists()


def stored_puts(proxy: FaultProxy) -> list[str]:
    """Keys the server stored, in order (PUTs it answered 200)."""
    return [
        urlsplit(e.path).path.removeprefix(f"/{BUCKET}/")
        for e in proxy.requests("PUT")
        if e.upstream_status == 200 and e.path.startswith(f"/{BUCKET}/")
    ]


def test_faults_on_the_way_to_storage_still_upload_feeds_after_their_audio(
    sample_project: Path, s3: str
) -> None:
    """Resets (before and after the server stored the object), 503 and 500 on audio, pages
    and feeds: boto3's retries carry the release through, and the podcast feed is stored only
    after both episodes' audio."""
    with FaultProxy(upstream=s3) as proxy:
        settings = settings_for(sample_project, proxy.url)
        rules = [
            proxy.add_rule("PUT", r"\.mp3$", ["503", "reset-after", "reset"]),
            proxy.add_rule("PUT", r"/blog/[^/]+/index\.html$", ["reset", "500"]),
            proxy.add_rule("PUT", r"/podcast/feed\.xml$", ["503", "reset-after"]),
        ]
        release(settings, None, ["blog", "podcast"], SAMPLES_OUT)
        assert all(not rule.remaining for rule in rules), "every fault was met"
        stored = stored_puts(proxy)

    audio = [i for i, key in enumerate(stored) if key.endswith(".mp3")]
    feeds = [i for i, key in enumerate(stored) if key.endswith(("feed.xml", "feed.atom"))]
    assert len({stored[i] for i in audio}) == 2
    assert feeds and max(audio) < min(feeds), "no feed is stored before the audio it lists"
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    feed = client.get_object(Bucket=BUCKET, Key="podcast/feed.xml")["Body"].read()
    assert feed == (settings.paths.public / "podcast/feed.xml").read_bytes()


def test_a_failed_upload_stops_before_the_feeds_and_the_next_run_resumes(
    sample_project: Path, s3: str
) -> None:
    with FaultProxy(upstream=s3) as proxy:
        settings = settings_for(sample_project, proxy.url, attempts=2)
        proxy.add_rule("PUT", r"/uganda-robusta-case-study\.mp3$", ["503", "503"])
        with pytest.raises(StorageTransient) as failure:
            release(settings, None, ["blog", "podcast"], SAMPLES_OUT)
        assert isinstance(failure.value.__cause__, ClientError)
        assert "uganda-robusta-case-study.mp3" in str(failure.value)
        assert is_retryable(failure.value), "a 503 is worth another run"
        first = stored_puts(proxy)
        assert not [key for key in first if key.endswith(("feed.xml", "feed.atom"))]
        assert "podcast/episodes/farm-gate-to-fob.mp3" in first

        proxy.clear()
        release(settings, None, ["blog", "podcast"], SAMPLES_OUT)
        second = stored_puts(proxy)
    assert "podcast/episodes/uganda-robusta-case-study.mp3" in second
    assert "podcast/feed.xml" in second
    assert not set(first) & set(second), "what the failed run stored is not uploaded again"
