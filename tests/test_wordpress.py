"""The WordPress channel and platform against a real WordPress (tests/servers/wordpress.sh).

WordPress keeps its own clock, so these tests release at the real time: scheduling is
WordPress's decision (a post dated in the future is "future" until then).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from conftest import REPO
from fault_proxy import FaultProxy
from outreach.channels.wordpress import payload_path
from outreach.config import Settings, load_settings
from outreach.platforms import wordpress_api
from outreach.release import ReleaseError, load_catalog, release
from outreach.topics import TOPICS_BY_SLUG
from outreach_cli.main import app
from wordpress_tools import WordPressSite


def configure(project: Path, site_url: str, *, extra: str = "") -> Path:
    """Add the wordpress channel and platform to the project's configuration."""
    config = project / "outreach.toml"
    text = config.read_text()
    text = text[: text.index("\n[wordpress]")] if "\n[wordpress]" in text else text
    config.write_text(
        text
        + f"""
[channels.wordpress]
platforms = ["wordpress"]

[wordpress]
url = "{site_url}"
username = "admin"
timeout_seconds = 3
backoff_seconds = 0.05
{extra}
"""
    )
    return config


@pytest.fixture
def wp_settings(
    sample_project: Path, wordpress: WordPressSite, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", wordpress.password)
    return load_settings(configure(sample_project, wordpress.url), environ={})


def by_slug(wordpress: WordPressSite) -> dict[str, list[dict]]:
    posts: dict[str, list[dict]] = {}
    for post in wordpress.posts():
        posts.setdefault(post["slug"], []).append(post)
    return posts


def term_names(wordpress: WordPressSite, taxonomy: str, ids: list[int]) -> set[str]:
    names = {term["id"]: term["name"] for term in wordpress.all(f"wp/v2/{taxonomy}")}
    return {names[i].replace("&amp;", "&") for i in ids}


def test_release_creates_one_post_per_finding_and_a_rerun_changes_nothing(
    wordpress: WordPressSite, wp_settings: Settings
) -> None:
    now = datetime.now(UTC)
    catalog = load_catalog(wp_settings)
    release(wp_settings, None, ["wordpress"], now)

    posts = by_slug(wordpress)
    assert set(posts) == set(catalog)
    for finding_id, finding in catalog.items():
        [post] = posts[finding_id]
        assert post["title"]["raw"] == finding.title.replace("&", "&amp;")
        expected = "future" if finding.public_from > now else "publish"
        assert post["status"] == expected, finding_id
        assert post["date_gmt"] == finding.public_from.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        assert term_names(wordpress, "categories", post["categories"]) == {
            TOPICS_BY_SLUG[slug].name for slug in finding.topics
        }
        assert term_names(wordpress, "tags", post["tags"]) == set(finding.commodities) | set(
            finding.regions
        )
        assert (
            post["meta"]["outreach_canonical"] == f"{wp_settings.site.base_url}blog/{finding_id}/"
        )
        if finding.episode:
            assert f"podcast/episodes/{finding_id}.mp3" in post["content"]["raw"]
        if expected == "future":  # the share image shows the title: it waits for the lift
            assert post["featured_media"] == 0, finding_id
            continue
        media = wordpress.get(f"wp/v2/media/{post['featured_media']}", context="edit").json()
        image = requests.get(media["source_url"], timeout=30)
        assert image.headers["Content-Type"] == "image/png"
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert media["alt_text"].startswith(finding.title)

    media_count = len(wordpress.all("wp/v2/media"))
    calls_before = wordpress_api.WordPressClient.total_calls
    again = release(wp_settings, None, ["wordpress"], now)
    assert {r.action for r in again.receipts} == {"unchanged"}
    calls = wordpress_api.WordPressClient.total_calls - calls_before
    assert calls == 2, "only the preflight check: who am I, and is the canonical field there"
    assert {slug: len(found) for slug, found in by_slug(wordpress).items()} == dict.fromkeys(
        catalog, 1
    )
    assert len(wordpress.all("wp/v2/media")) == media_count


def test_a_lost_ledger_finds_the_posts_by_slug_instead_of_duplicating(
    wordpress: WordPressSite, wp_settings: Settings
) -> None:
    now = datetime.now(UTC)
    release(wp_settings, None, ["wordpress"], now)
    ids = {slug: found[0]["id"] for slug, found in by_slug(wordpress).items()}
    media_count = len(wordpress.all("wp/v2/media"))
    wp_settings.paths.ledger.unlink()

    release(wp_settings, None, ["wordpress"], now)
    assert {slug: [p["id"] for p in found] for slug, found in by_slug(wordpress).items()} == {
        slug: [post_id] for slug, post_id in ids.items()
    }
    assert len(wordpress.all("wp/v2/media")) == media_count


def test_editing_a_finding_updates_the_same_post(
    wordpress: WordPressSite, wp_settings: Settings
) -> None:
    now = datetime.now(UTC)
    release(wp_settings, None, ["wordpress"], now)
    before = {slug: found[0] for slug, found in by_slug(wordpress).items()}
    source = wp_settings.paths.findings / "farm-gate-to-fob.md"
    text = source.read_text()
    title_line = next(line for line in text.splitlines() if line.startswith("title:"))
    source.write_text(text.replace(title_line, "title: Farm gate to port, revised"))

    report = release(wp_settings, None, ["wordpress"], now)
    changed = {(r.finding_id, r.item) for r in report.changed}
    assert changed == {
        ("farm-gate-to-fob", payload_path("farm-gate-to-fob")),
        ("farm-gate-to-fob", payload_path("farm-gate-to-fob", "share.png")),
    }
    after = {slug: found for slug, found in by_slug(wordpress).items()}
    [edited] = after["farm-gate-to-fob"]
    assert edited["id"] == before["farm-gate-to-fob"]["id"]
    assert edited["title"]["raw"] == "Farm gate to port, revised"
    # The new share image replaced the old one, which is gone from the media library.
    assert edited["featured_media"] != before["farm-gate-to-fob"]["featured_media"]
    missing = wordpress.get(f"wp/v2/media/{before['farm-gate-to-fob']['featured_media']}")
    assert missing.status_code == 404
    for slug, post in before.items():
        if slug != "farm-gate-to-fob":
            assert after[slug][0]["modified_gmt"] == post["modified_gmt"], slug


def embargo_finding(settings: Settings, until: datetime) -> str:
    source = settings.paths.findings / "uganda-robusta-case-study.md"
    text = source.read_text()
    stamp = until.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    source.write_text(text.replace("\npublished:", f"\nembargo: {stamp}\npublished:", 1))
    return "uganda-robusta-case-study"


def test_an_embargoed_finding_is_scheduled_not_published_until_the_lift(
    wordpress: WordPressSite, wp_settings: Settings
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    lift = now + timedelta(days=30)
    finding_id = embargo_finding(wp_settings, lift)
    release(wp_settings, [finding_id], ["wordpress"], now)

    [post] = wordpress.posts(slug=finding_id)
    assert post["status"] == "future"
    assert post["date_gmt"] == lift.strftime("%Y-%m-%dT%H:%M:%S")
    anonymous = wordpress.get("wp/v2/posts", auth=False, slug=finding_id)
    assert anonymous.json() == [], "a scheduled post is invisible to readers"
    assert requests.get(post["link"], timeout=30).status_code == 404

    # The team brings the embargo forward to now: the next run publishes the same post.
    source = wp_settings.paths.findings / f"{finding_id}.md"
    source.write_text(
        source.read_text().replace(
            f"embargo: {lift:%Y-%m-%dT%H:%M:%S}+00:00",
            f"embargo: {now - timedelta(minutes=5):%Y-%m-%dT%H:%M:%S}+00:00",
        )
    )
    release(wp_settings, [finding_id], ["wordpress"], now)
    [published] = wordpress.posts(slug=finding_id)
    assert (published["id"], published["status"]) == (post["id"], "publish")
    assert wordpress.get("wp/v2/posts", auth=False, slug=finding_id).json()[0]["id"] == post["id"]


def anonymous_view(wordpress: WordPressSite, words: str) -> str:
    """Everything a reader without an account can get from the site's REST API and search."""
    texts = [
        wordpress.get(route, auth=False, per_page=100).text
        for route in ("wp/v2/media", "wp/v2/posts", "wp/v2/pages")
    ]
    texts.append(wordpress.get("wp/v2/search", auth=False, search=words).text)
    texts.append(wordpress.get("wp/v2/search", auth=False, search=words, type="post-format").text)
    texts.append(requests.get(wordpress.url, params={"s": words}, timeout=30).text)  # the theme's
    for post in wordpress.posts():
        texts.append(wordpress.get(f"wp/v2/posts/{post['id']}", auth=False).text)
        texts.append(requests.get(post["link"], timeout=30).text)
    for item in wordpress.all("wp/v2/media"):
        texts.append(requests.get(item["link"], timeout=30).text)  # the attachment page
    return "\n".join(texts)


def uploaded_files(wordpress: WordPressSite) -> dict[str, bytes]:
    return {
        str(path.relative_to(wordpress.uploads)): path.read_bytes()
        for path in wordpress.uploads.rglob("*")
        if path.is_file()
    }


def test_an_embargoed_findings_share_image_is_not_readable_before_the_lift(
    wordpress: WordPressSite, wp_settings: Settings
) -> None:
    """No media item, attachment page, search hit or uploaded file shows the title or the key
    figure before the lift; after it, the image is the post's featured image."""
    from outreach.share_image import share_image_for

    now = datetime.now(UTC).replace(microsecond=0)
    lift = now + timedelta(days=30)
    finding_id = embargo_finding(wp_settings, lift)
    finding = load_catalog(wp_settings)[finding_id]
    share = share_image_for(finding, wp_settings)
    secrets = (finding.title, f"{finding.key_stat.value} {finding.key_stat.label}")
    before_files = uploaded_files(wordpress)

    release(wp_settings, [finding_id], ["wordpress"], now)
    [post] = wordpress.posts(slug=finding_id)
    assert post["status"] == "future"
    seen = anonymous_view(wordpress, "robusta Uganda")
    for secret in secrets:
        assert secret not in seen and escape(secret) not in seen
    assert wordpress.all("wp/v2/media") == [], "nothing in the media library, even privately"
    assert post["featured_media"] == 0
    new_files = set(uploaded_files(wordpress).items()) - set(before_files.items())
    assert new_files == set(), "no file in the uploads folder"

    again = release(wp_settings, [finding_id], ["wordpress"], now)
    assert {r.action for r in again.receipts} == {"unchanged"}

    # The lift (brought forward to now, as WordPress keeps its own clock).
    source = wp_settings.paths.findings / f"{finding_id}.md"
    source.write_text(
        source.read_text().replace(
            f"embargo: {lift:%Y-%m-%dT%H:%M:%S}+00:00",
            f"embargo: {now - timedelta(minutes=5):%Y-%m-%dT%H:%M:%S}+00:00",
        )
    )
    lifted = load_catalog(wp_settings)[finding_id]
    release(wp_settings, [finding_id], ["wordpress"], now)
    [published] = wordpress.posts(slug=finding_id)
    assert (published["id"], published["status"]) == (post["id"], "publish")
    [media] = wordpress.get("wp/v2/media", auth=False).json()
    assert media["id"] == published["featured_media"]
    assert media["alt_text"] == f"{lifted.title}: {lifted.key_stat.value} {lifted.key_stat.label}"
    assert requests.get(media["link"], timeout=30).status_code == 200
    assert requests.get(media["source_url"], timeout=30).content == share_image_for(
        lifted, wp_settings
    )
    assert share in uploaded_files(wordpress).values()
    seen = anonymous_view(wordpress, "robusta Uganda")
    assert escape(lifted.title) in seen or lifted.title in seen


def test_an_embargo_set_after_publishing_takes_the_share_image_down(
    wordpress: WordPressSite, wp_settings: Settings
) -> None:
    """A finding put under embargo after it went out is scheduled again, and its image
    leaves the media library and the uploads folder until the lift."""
    now = datetime.now(UTC).replace(microsecond=0)
    finding_id = "uganda-robusta-case-study"
    release(wp_settings, [finding_id], ["wordpress"], now)
    [media] = wordpress.all("wp/v2/media")
    assert requests.get(media["source_url"], timeout=30).status_code == 200

    embargo_finding(wp_settings, now + timedelta(days=30))
    report = release(wp_settings, [finding_id], ["wordpress"], now)
    assert {(r.item.rsplit("/", 1)[-1], r.action) for r in report.receipts} == {
        ("share.png", "removed"),
        ("post.json", "updated"),
    }
    [post] = wordpress.posts(slug=finding_id)
    assert (post["status"], post["featured_media"]) == ("future", 0)
    assert wordpress.all("wp/v2/media") == []
    assert requests.get(media["source_url"], timeout=30).status_code == 404
    again = release(wp_settings, [finding_id], ["wordpress"], now)
    assert {r.action for r in again.receipts} == {"unchanged"}


def test_drafts_by_configuration(
    sample_project: Path, wordpress: WordPressSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", wordpress.password)
    settings = load_settings(
        configure(sample_project, wordpress.url, extra='status = "draft"'), environ={}
    )
    release(settings, ["farm-gate-to-fob"], ["wordpress"], datetime.now(UTC))
    [post] = wordpress.posts(slug="farm-gate-to-fob")
    assert post["status"] == "draft"


def test_existing_terms_are_reused_across_pages(
    wordpress: WordPressSite, wp_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Terms made by hand (other case, on a later page of the list) are used, not copied."""
    auth = (wordpress.username, wordpress.password)
    for name in ("aaa", "bbb", "ccc", "ddd", "COCOA"):
        requests.post(
            wordpress.api("wp/v2/tags"), json={"name": name}, auth=auth, timeout=30
        ).raise_for_status()
    monkeypatch.setattr(wordpress_api, "PER_PAGE", 2)
    release(wp_settings, ["farm-gate-to-fob"], ["wordpress"], datetime.now(UTC))
    tags = [tag["name"].casefold() for tag in wordpress.all("wp/v2/tags")]
    assert tags.count("cocoa") == 1
    [post] = wordpress.posts(slug="farm-gate-to-fob")
    assert "COCOA" in term_names(wordpress, "tags", post["tags"])


def test_wrong_password_names_the_fix_and_publishes_nothing(
    sample_project: Path, wordpress: WordPressSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "wrong pass word 1234 5678 9012"
    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", secret)
    settings = load_settings(configure(sample_project, wordpress.url), environ={})
    with pytest.raises(ReleaseError) as failure:
        release(settings, None, ["blog", "wordpress"], datetime.now(UTC))
    message = str(failure.value)
    assert "refused the credentials of user 'admin'" in message
    assert "OUTREACH_WORDPRESS_APP_PASSWORD" in message
    assert secret not in message and secret.replace(" ", "") not in message
    assert not settings.paths.public.exists(), "the static site was not touched either"
    assert wordpress.posts() == []


def test_platforms_check_reports_each_platform(
    sample_project: Path, wordpress: WordPressSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = configure(sample_project, wordpress.url)
    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", wordpress.password)
    result = CliRunner().invoke(app, ["platforms", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "ok  static" in result.output
    assert "ok  wordpress: logged in to" in result.output

    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", "not-the-password")
    result = CliRunner().invoke(app, ["platforms", "check", "--config", str(config)])
    assert result.exit_code == 1
    assert "FAIL wordpress" in result.output
    assert "refused the credentials" in result.output
    assert "not-the-password" not in result.output


def test_faults_between_pipeline_and_wordpress_cost_no_duplicates(
    sample_project: Path, wordpress: WordPressSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resets before and after WordPress acted, a slow answer, 429 and 503: the release
    completes, with one post and one featured image per finding."""
    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", wordpress.password)
    upstream = wordpress.url.rstrip("/")
    with FaultProxy(upstream=upstream) as proxy:
        settings = load_settings(configure(sample_project, proxy.url + "/"), environ={})
        posts_route = r"rest_route=(/|%2F)wp(/|%2F)v2(/|%2F)posts"
        media_route = r"rest_route=(/|%2F)wp(/|%2F)v2(/|%2F)media"
        rules = [
            proxy.add_rule("GET", r"users(/|%2F)me", ["429:1"]),
            proxy.add_rule("POST", posts_route + r"(&|$)", ["reset-after", "503", "reset"]),
            proxy.add_rule("POST", media_route + r"(&|$)", ["reset-after", "502"]),
            proxy.add_rule("POST", r"rest_route=(/|%2F)wp(/|%2F)v2(/|%2F)tags", ["delay:4"]),
            proxy.add_rule("GET", posts_route, ["reset", "500"]),
        ]
        now = datetime.now(UTC)
        release(settings, None, ["wordpress"], now)
        assert all(not rule.remaining for rule in rules), "every fault was met"

    catalog = load_catalog(settings)
    assert {slug: len(found) for slug, found in by_slug(wordpress).items()} == dict.fromkeys(
        catalog, 1
    )
    # One featured image per public finding (a scheduled post gets its image at the lift).
    public = [finding for finding in catalog.values() if finding.is_public(now)]
    assert len(wordpress.all("wp/v2/media")) == len(public)
    tags = [tag["name"] for tag in wordpress.all("wp/v2/tags")]
    assert len(tags) == len(set(tags))


def test_payload_is_deterministic_and_escaped(sample_project: Path) -> None:
    from outreach.channels.base import Site
    from outreach.channels.wordpress import CHANNEL

    settings = load_settings(sample_project / "outreach.toml", environ={})
    finding = load_catalog(settings)["farm-gate-to-fob"]
    hostile = finding.model_copy(update={"title": "Cocoa <script>alert(1)</script> & more"})
    first = CHANNEL.render_finding(hostile, Site(settings))
    second = CHANNEL.render_finding(hostile, Site(settings))
    assert [d.content for d in first] == [d.content for d in second]
    payload = json.loads(first[0].content)
    assert payload["title"] == "Cocoa &lt;script&gt;alert(1)&lt;/script&gt; &amp; more"
    assert "<script" not in payload["content"]
    assert (REPO / "templates/wordpress/mu-plugins/outreach-canonical.php").is_file()


@pytest.mark.prefect
def test_release_flow_pushes_to_wordpress_and_lists_the_live_post(
    prefect_api: str,
    wordpress: WordPressSite,
    wp_settings: Settings,
    sample_project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.artifacts import Artifact
    from prefect.blocks.system import Secret

    from flows.release import release_finding
    from outreach.platforms.registry import WORDPRESS_PASSWORD_BLOCK

    # The password from a Prefect Secret block only, as on a team's server.
    monkeypatch.delenv("OUTREACH_WORDPRESS_APP_PASSWORD")
    Secret(value=wordpress.password).save(WORDPRESS_PASSWORD_BLOCK, overwrite=True)
    try:
        report = release_finding(
            "farm-gate-to-fob",
            ["blog", "wordpress"],
            config=str(sample_project / "outreach.toml"),
        )
    finally:
        Secret.delete(WORDPRESS_PASSWORD_BLOCK)
    [post] = wordpress.posts(slug="farm-gate-to-fob")
    assert post["status"] == "publish"
    assert {r.platform for r in report.changed} == {"static", "wordpress"}
    artifact = Artifact.get("release-farm-gate-to-fob")
    assert artifact is not None
    assert f"| farm-gate-to-fob | wordpress | wordpress | <{post['link']}> |" in artifact.data
    assert (
        f"| farm-gate-to-fob | blog | static | <{wp_settings.site.base_url}blog/farm-gate-to-fob/> |"
        in artifact.data
    )
    assert wordpress.password not in artifact.data


@pytest.mark.prefect
def test_platform_pushes_are_retried_only_on_transient_failures(prefect_api: str) -> None:
    """The publish task's retry rule, under Prefect's own retry machinery."""
    from prefect import flow, task

    from flows.common import worth_retrying
    from outreach.platforms.wordpress_api import WordPressAuthError, WordPressTransient

    tries = {"flaky": 0, "refused": 0}

    @task(retries=3, retry_delay_seconds=0, retry_condition_fn=worth_retrying)
    def push(kind: str) -> str:
        tries[kind] += 1
        if kind == "flaky" and tries[kind] < 3:
            raise WordPressTransient("503 from the site")
        if kind == "refused":
            raise WordPressAuthError("refused the credentials")
        return kind

    @flow
    def pushes() -> tuple[str, bool]:
        refused = push("refused", return_state=True)
        return push("flaky"), refused.is_failed()

    assert pushes() == ("flaky", True)
    assert tries == {"flaky": 3, "refused": 1}


def test_retry_after_is_honoured_and_a_persistent_503_gives_up_clearly(
    wordpress: WordPressSite,
) -> None:
    with FaultProxy(upstream=wordpress.url.rstrip("/")) as proxy:
        waits: list[float] = []
        client = wordpress_api.WordPressClient(
            proxy.url, wordpress.username, wordpress.password, attempts=3, backoff=0.01,
            sleep=waits.append,
        )  # fmt: skip
        proxy.add_rule("GET", r"users", ["429:7"])
        assert client.get("wp/v2/users/me")["slug"] == "admin"
        assert waits == [7.0], "waited as long as the site asked"

        proxy.add_rule("GET", r"users", ["503", "503", "503"])
        with pytest.raises(wordpress_api.WordPressTransient) as failure:
            client.get("wp/v2/users/me")
    assert "failed 3 time(s), last with HTTP 503" in str(failure.value)
    assert "resumes without duplicating posts" in str(failure.value)


def test_a_user_who_may_not_publish_gets_a_clear_refusal(
    sample_project: Path, wordpress: WordPressSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """403 means the user's role: the message says which capability and what to change."""
    auth = (wordpress.username, wordpress.password)
    users = {u["slug"]: u["id"] for u in wordpress.all("wp/v2/users")}
    if "contributor" not in users:
        made = requests.post(
            wordpress.api("wp/v2/users"),
            json={"username": "contributor", "email": "c@example.org", "roles": ["contributor"],
                  "password": "a-long-contributor-password"},
            auth=auth, timeout=30,
        )  # fmt: skip
        made.raise_for_status()
        users["contributor"] = made.json()["id"]
    password = requests.post(
        wordpress.api(f"wp/v2/users/{users['contributor']}/application-passwords"),
        json={"name": "outreach-test"},
        auth=auth,
        timeout=30,
    ).json()["password"]
    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", password)
    config = configure(sample_project, wordpress.url).read_text()
    (sample_project / "outreach.toml").write_text(
        config.replace('username = "admin"', 'username = "contributor"')
    )
    result = CliRunner().invoke(
        app, ["platforms", "check", "--config", str(sample_project / "outreach.toml")]
    )
    assert result.exit_code == 1
    assert "user 'contributor'" in result.output and "lacks publish_posts" in result.output
    assert "Editor or Administrator role" in result.output

    client = wordpress_api.WordPressClient(wordpress.url, "contributor", password)
    with pytest.raises(wordpress_api.WordPressAuthError) as refusal:
        client.create("wp/v2/categories", {"name": "Not allowed"})
    assert "is not allowed for user 'contributor'" in str(refusal.value)
    assert password not in str(refusal.value)


def test_a_post_deleted_on_the_site_is_made_again_at_the_next_change(
    wordpress: WordPressSite, wp_settings: Settings
) -> None:
    """The ledger's post id answers 404: the post is found by slug or created, once."""
    now = datetime.now(UTC)
    release(wp_settings, ["farm-gate-to-fob"], ["wordpress"], now)
    [post] = wordpress.posts(slug="farm-gate-to-fob")
    wordpress.delete(f"wp/v2/posts/{post['id']}")
    source = wp_settings.paths.findings / "farm-gate-to-fob.md"
    source.write_text(source.read_text().replace("\n---\n", "\n---\nA new first line.\n\n", 1))

    release(wp_settings, ["farm-gate-to-fob"], ["wordpress"], now)
    [again] = wordpress.posts(slug="farm-gate-to-fob")
    assert again["id"] != post["id"]
    assert "A new first line." in again["content"]["raw"]


@pytest.mark.prefect
def test_a_password_revoked_between_check_and_push_ends_the_release_with_a_message(
    prefect_api: str,
    sample_project: Path,
    wordpress: WordPressSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Someone revokes the application password after the platforms were checked: the push
    gets a 401, and the user reads which setting to fix and that a re-run resumes (exit 1),
    not a traceback."""
    from outreach.platforms.wordpress import WordPress

    made = requests.post(
        wordpress.api("wp/v2/users/me/application-passwords"),
        json={"name": "outreach-revoked-test"},
        auth=(wordpress.username, wordpress.password),
        timeout=30,
    ).json()
    password, uuid = made["password"], made["uuid"]
    monkeypatch.setenv("OUTREACH_WORDPRESS_APP_PASSWORD", password)
    monkeypatch.setenv("OUTREACH_LIMITS", "off")
    config = str(configure(sample_project, wordpress.url))
    checked = CliRunner().invoke(app, ["platforms", "check", "--config", config])
    assert checked.exit_code == 0 and "ok  wordpress" in checked.output, checked.output

    checked_by_release = WordPress.check

    def check_then_revoke(self: WordPress) -> str:
        said = checked_by_release(self)
        revoked = requests.delete(
            wordpress.api(f"wp/v2/users/me/application-passwords/{uuid}"),
            auth=(wordpress.username, wordpress.password),
            timeout=30,
        )
        assert revoked.ok, revoked.text
        return said

    monkeypatch.setattr(WordPress, "check", check_then_revoke)
    result = CliRunner().invoke(
        app, ["release", "farm-gate-to-fob", "-c", "blog", "-c", "wordpress", "--config", config]
    )
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), "ended by the handler, not by a crash"
    assert "Traceback" not in result.output
    assert "refused the credentials of user 'admin'" in result.output
    assert "OUTREACH_WORDPRESS_APP_PASSWORD" in result.output
    assert "run the same command again after the fix" in result.output
    assert password not in result.output and password.replace(" ", "") not in result.output
    assert wordpress.posts(slug="farm-gate-to-fob") == []
