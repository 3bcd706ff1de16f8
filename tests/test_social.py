"""Social posts: the text each network gets, and posting them once, after the lift.

Mastodon: no real Mastodon server installs from the registries here, so these tests post to
``mastodon-mock`` (PyPI), a stand-in that speaks Mastodon's REST API over real HTTP on
loopback, through the real Mastodon.py client. Its status limit is a hard-coded 500
characters: the tests patch it to prove the limit is read from the instance.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mastodon import Mastodon
from mastodon_mock.routers import statuses as mock_statuses
from mastodon_mock.serializers import instance as mock_instance
from mastodon_mock.testing import DEFAULT_TEST_SEED, MockServer

from fault_proxy import FaultProxy
from outreach.config import Settings, load_settings
from outreach.ledger import Ledger
from outreach.release import release
from outreach.social.text import facets, graphemes, mastodon_length

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TOKEN = "alice_token"  # the mock's seeded account, not a real credential


@pytest.fixture
def mastodon_server() -> Iterator[MockServer]:
    with MockServer(seed=DEFAULT_TEST_SEED) as server:
        yield server


def social_settings(project: Path, instance: str, extra: str = "") -> Settings:
    config = project / "outreach.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f"""
[channels.social]
platforms = ["mastodon"]

[social]
mastodon_instance = "{instance}"
mastodon_visibility = "unlisted"
attempts = 4
{extra}
""",
        encoding="utf-8",
    )
    return load_settings(config, environ={})


def alice_statuses(server: MockServer) -> list[dict]:
    client = Mastodon(access_token=TOKEN, api_base_url=server.base_url)
    me = client.account_verify_credentials()
    return list(reversed(client.account_statuses(me["id"], limit=40)))


def post(settings: Settings, now: datetime = NOW, ids=("alpha-cocoa-prices",), approve=True):
    return release(settings, list(ids), ["social"], now, approvals={"social": approve})


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTREACH_MASTODON_ACCESS_TOKEN", TOKEN)


def test_mastodon_post_has_the_link_the_share_image_with_its_description_and_visibility(
    project: Path, mastodon_server: MockServer, token: None
) -> None:
    settings = social_settings(project, mastodon_server.base_url)
    report = post(settings)
    [status] = alice_statuses(mastodon_server)
    assert "https://findings.example.org/research/blog/alpha-cocoa-prices/" in status["content"]
    assert status["visibility"] == "unlisted"
    [media] = status["media_attachments"]
    assert media["description"].startswith("Card reading '")
    assert any("mastodon: posted 'alpha-cocoa-prices'" in n for n in report.notes)
    assert TOKEN not in "\n".join(report.notes)


def test_mastodon_posts_nothing_twice_not_even_after_an_edit(
    project: Path, mastodon_server: MockServer, token: None
) -> None:
    settings = social_settings(project, mastodon_server.base_url)
    post(settings)
    again = post(settings)
    source = project / "findings" / "alpha-cocoa-prices.md"
    source.write_text(
        source.read_text(encoding="utf-8").replace("title: ", "title: Edited ", 1),
        encoding="utf-8",
    )
    post(settings)
    assert len(alice_statuses(mastodon_server)) == 1
    assert any("already posted" in n for n in again.notes)
    recorded = Ledger(settings.paths.ledger).items("alpha-cocoa-prices", "social", "mastodon")
    assert recorded["post-0"].remote_id == alice_statuses(mastodon_server)[0]["id"]


def test_mastodon_waits_for_approval_and_for_the_embargo(
    project: Path, mastodon_server: MockServer, token: None
) -> None:
    settings = social_settings(project, mastodon_server.base_url)
    waiting = post(settings, approve=None)
    assert any("awaits approval" in n for n in waiting.notes)
    before_lift = datetime(2026, 6, 30, 9, tzinfo=UTC)
    post(settings, before_lift, ids=("gamma-embargoed-packaging",))
    assert alice_statuses(mastodon_server) == []
    post(settings, datetime(2026, 7, 1, 9, tzinfo=UTC), ids=("gamma-embargoed-packaging",))
    assert len(alice_statuses(mastodon_server)) == 1


def test_mastodon_thread_replies_in_order(
    project: Path, mastodon_server: MockServer, token: None
) -> None:
    settings = social_settings(project, mastodon_server.base_url, "thread = true")
    post(settings)
    statuses = alice_statuses(mastodon_server)
    assert len(statuses) >= 2
    assert statuses[0]["in_reply_to_id"] is None
    for before, after in itertools.pairwise(statuses):
        assert after["in_reply_to_id"] == before["id"]
    assert len(statuses[0]["media_attachments"]) == 1
    post(settings)
    assert len(alice_statuses(mastodon_server)) == len(statuses)


def test_mastodon_limit_is_read_from_the_instance(
    project: Path, mastodon_server: MockServer, token: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_text = "Cocoa " * 110  # 660 characters: over Mastodon's default 500
    source = project / "findings" / "alpha-cocoa-prices.md"
    source.write_text(
        source.read_text(encoding="utf-8").replace(
            "\ntitle:", f"\nsocial:\n  mastodon: {long_text.strip()}\ntitle:", 1
        ),
        encoding="utf-8",
    )
    settings = social_settings(project, mastodon_server.base_url)
    with pytest.raises(Exception, match=r"social.mastodon.*mastodon allows 500"):
        post(settings)
    assert alice_statuses(mastodon_server) == []
    # The instance now says 1000 (both where it states it and where it enforces it).
    monkeypatch.setitem(mock_instance._STATUS_CONFIG, "max_characters", 1000)
    monkeypatch.setattr(mock_statuses, "MAX_STATUS_CHARACTERS", 1000)
    post(settings)
    [status] = alice_statuses(mastodon_server)
    assert long_text.strip() in status["content"]


@pytest.mark.parametrize("fault", ["reset-after", "500", "reset"])
def test_mastodon_faults_during_a_post_leave_exactly_one_post(
    project: Path, mastodon_server: MockServer, token: None, fault: str
) -> None:
    with FaultProxy(upstream=mastodon_server.base_url) as proxy:
        proxy.add_rule("POST", r"^/api/v1/statuses", [fault])
        settings = social_settings(project, proxy.url)
        post(settings)
    assert len(alice_statuses(mastodon_server)) == 1


def test_mastodon_refused_token_names_the_setting(
    project: Path, mastodon_server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_MASTODON_ACCESS_TOKEN", "not-a-token")
    settings = social_settings(project, mastodon_server.base_url)
    with pytest.raises(Exception, match="OUTREACH_MASTODON_ACCESS_TOKEN") as caught:
        post(settings)
    assert "not-a-token" not in str(caught.value)


def test_counts_graphemes_not_code_points() -> None:
    family = "👩\u200d👩\u200d👧"  # one grapheme, five code points
    assert graphemes(family + "é") == 2
    assert graphemes("e\u0301") == 1


def test_mastodon_counts_every_link_as_23() -> None:
    long_link = "https://findings.example.org/research/blog/a-very-long-slug-indeed/"
    assert mastodon_length(f"Read {long_link}") == len("Read ") + 23


def test_facets_are_on_utf8_byte_offsets() -> None:
    text = "Café ☕ prices: https://example.org/x #Cocoa"
    found = facets(text)
    encoded = text.encode()
    link, tag = found
    assert encoded[link.start : link.end] == b"https://example.org/x"
    assert encoded[tag.start : tag.end] == b"#Cocoa"
    assert (link.kind, tag.kind, tag.value) == ("link", "tag", "Cocoa")


def test_social_preview_prints_each_networks_posts_with_counts(project: Path) -> None:
    from typer.testing import CliRunner

    from outreach_cli.main import app

    result = CliRunner().invoke(
        app,
        ["social", "preview", "alpha-cocoa-prices", "--config", str(project / "outreach.toml")],
    )
    assert result.exit_code == 0, result.output
    assert "--- bluesky post 1: " in result.output
    assert "/300 graphemes" in result.output
    assert "--- mastodon post 1: " in result.output
    assert "/500 characters" in result.output
    assert "https://findings.example.org/research/blog/alpha-cocoa-prices/" in result.output


def test_bluesky_refuses_an_override_over_300_graphemes(project: Path) -> None:
    from outreach.social.text import SocialTextTooLong, compose

    source = project / "findings" / "alpha-cocoa-prices.md"
    source.write_text(
        source.read_text(encoding="utf-8").replace(
            "\ntitle:", "\nsocial:\n  bluesky: " + "é" * 290 + "\ntitle:", 1
        ),
        encoding="utf-8",
    )
    from outreach.release import load_catalog

    settings = load_settings(project / "outreach.toml", environ={})
    finding = load_catalog(settings)["alpha-cocoa-prices"]
    with pytest.raises(SocialTextTooLong, match=r"social\.bluesky.*bluesky allows 300"):
        compose(finding, settings, "bluesky", 300, "Headline")
    # 290 precomposed + link fits neither; the same text decomposed (e + U+0301) counts the
    # same number of graphemes: the limit is on graphemes, not code points.
    assert graphemes("e\u0301" * 290) == 290


def test_bluesky_record_keys_are_stable_tids() -> None:
    from outreach.social.bluesky_client import record_key

    lift = datetime(2026, 7, 1, 9, tzinfo=UTC)
    first = record_key("outreach-abc", 0, lift)
    assert first == record_key("outreach-abc", 0, lift)
    assert first != record_key("outreach-abc", 1, lift)
    assert len(first) == 13 and first[0] in "234567abcdefghij"


# -- Bluesky against a real PDS ------------------------------------------------------------

BLUESKY_PASSWORD = "test-password-not-real"


@pytest.fixture(scope="module")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from bluesky_tools import pds_installed, running_pds

    if not pds_installed():
        pytest.fail("the Bluesky PDS is not installed: run 'make test-tools'")
    with running_pds(tmp_path_factory.mktemp("pds")) as url:
        yield url


@pytest.fixture
def bluesky_account(pds: str, request: pytest.FixtureRequest, monkeypatch) -> str:
    """A fresh account per test (handles are per server); returns its handle."""
    from bluesky_tools import create_account

    handle = f"t{abs(hash(request.node.name)) % 10**8}.test"
    create_account(pds, handle, BLUESKY_PASSWORD)
    monkeypatch.setenv("OUTREACH_BLUESKY_APP_PASSWORD", BLUESKY_PASSWORD)
    return handle


def bluesky_settings(project: Path, pds: str, handle: str, extra: str = "") -> Settings:
    config = project / "outreach.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f"""
[channels.social]
platforms = ["bluesky"]

[social]
bluesky_service = "{pds}"
bluesky_handle = "{handle}"
{extra}
""",
        encoding="utf-8",
    )
    return load_settings(config, environ={})


def bluesky_posts(pds: str, handle: str) -> list[dict]:
    """The account's post records, oldest first, read through the PDS's own API."""
    from atproto import Client

    client = Client(base_url=pds)
    did = client.com.atproto.identity.resolve_handle({"handle": handle}).did
    found = client.com.atproto.repo.list_records(
        {"repo": did, "collection": "app.bsky.feed.post", "limit": 100}
    )
    return sorted(
        (r.value.model_dump(by_alias=True) | {"uri": r.uri} for r in found.records),
        key=lambda r: r["uri"],
    )


def test_bluesky_post_has_a_link_card_with_its_thumbnail_and_facets(
    project: Path, pds: str, bluesky_account: str
) -> None:
    settings = bluesky_settings(project, pds, bluesky_account)
    post(settings)
    [record] = bluesky_posts(pds, bluesky_account)
    external = record["embed"]["external"]
    assert external["uri"] == "https://findings.example.org/research/blog/alpha-cocoa-prices/"
    assert external["thumb"]["mimeType"] == "image/png"
    text = record["text"].encode()
    features = [(f["index"], f["features"][0]) for f in record["facets"]]
    links = [text[i["byteStart"] : i["byteEnd"]] for i, f in features if "uri" in f]
    assert links == [external["uri"].encode()]
    assert graphemes(record["text"]) <= 300


def test_bluesky_thread_carries_the_image_alt_text_and_posts_nothing_twice(
    project: Path, pds: str, bluesky_account: str
) -> None:
    settings = bluesky_settings(project, pds, bluesky_account, "thread = true")
    post(settings)
    post(settings)
    records = bluesky_posts(pds, bluesky_account)
    assert len(records) >= 2
    first, second = records[0], records[1]
    assert "reply" not in first or first["reply"] is None
    assert second["reply"]["parent"]["uri"] == first["uri"]
    [image] = second["embed"]["images"]
    assert image["alt"].startswith("Card reading '")


def test_bluesky_posts_nothing_before_the_lift(
    project: Path, pds: str, bluesky_account: str
) -> None:
    settings = bluesky_settings(project, pds, bluesky_account)
    post(settings, datetime(2026, 6, 30, 9, tzinfo=UTC), ids=("gamma-embargoed-packaging",))
    assert bluesky_posts(pds, bluesky_account) == []


def test_bluesky_wrong_password_names_the_setting(
    project: Path, pds: str, bluesky_account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_BLUESKY_APP_PASSWORD", "wrong-password")
    settings = bluesky_settings(project, pds, bluesky_account)
    with pytest.raises(Exception, match="OUTREACH_BLUESKY_APP_PASSWORD") as caught:
        post(settings)
    assert "wrong-password" not in str(caught.value)


def test_bluesky_override_over_300_graphemes_stops_the_release_before_anything_is_out(
    project: Path, pds: str, bluesky_account: str
) -> None:
    source = project / "findings" / "alpha-cocoa-prices.md"
    source.write_text(
        source.read_text(encoding="utf-8").replace(
            "\ntitle:", "\nsocial:\n  bluesky: " + "👩🏽‍🌾 " * 140 + "\ntitle:", 1
        ),
        encoding="utf-8",
    )
    settings = bluesky_settings(project, pds, bluesky_account)
    with pytest.raises(Exception, match=r"social\.bluesky' is 3\d\d graphemes"):
        release(settings, None, ["social", "blog"], NOW, approvals={"social": True})
    assert bluesky_posts(pds, bluesky_account) == []
    assert not (project / "public" / "blog").exists()


@pytest.mark.parametrize("fault", ["reset-after", "500", "reset"])
def test_bluesky_faults_during_a_post_leave_exactly_one_post(
    project: Path, pds: str, bluesky_account: str, fault: str
) -> None:
    with FaultProxy(upstream=pds) as proxy:
        proxy.add_rule("POST", r"^/xrpc/com\.atproto\.repo\.createRecord", [fault])
        settings = bluesky_settings(project, proxy.url, bluesky_account)
        post(settings)
        through_proxy = [r.path for r in proxy.requests("POST")]
    assert any("createRecord" in path for path in through_proxy)
    assert len(bluesky_posts(pds, bluesky_account)) == 1


def test_mastodon_token_from_a_secret_block_value_is_used_and_never_shown(
    project: Path, mastodon_server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flows pass Secret block values in the action's context (read inside the task)."""
    from outreach.actions import ActionContext, run_gated
    from outreach.release import load_catalog
    from outreach.social.post import PostSocial

    monkeypatch.delenv("OUTREACH_MASTODON_ACCESS_TOKEN", raising=False)
    settings = social_settings(project, mastodon_server.base_url)
    finding = load_catalog(settings)["alpha-cocoa-prices"]
    context = ActionContext(settings, NOW, {"social": True}, secrets={"mastodon": TOKEN})
    notes = run_gated(PostSocial(finding, "mastodon"), context)
    assert len(alice_statuses(mastodon_server)) == 1
    assert TOKEN not in repr(context) and TOKEN not in "\n".join(notes)


def test_mastodon_rate_limit_waits_then_posts_once(
    project: Path, mastodon_server: MockServer, token: None
) -> None:
    with FaultProxy(upstream=mastodon_server.base_url) as proxy:
        proxy.add_rule("POST", r"^/api/v1/statuses", ["429:1"])
        post(social_settings(project, proxy.url))
        statuses = [r.status for r in proxy.requests("POST") if "/statuses" in r.path]
    assert statuses == [429, 200]
    assert len(alice_statuses(mastodon_server)) == 1


def test_bluesky_rate_limit_honours_the_servers_wait_then_posts_once(
    project: Path, pds: str, bluesky_account: str
) -> None:
    with FaultProxy(upstream=pds) as proxy:
        proxy.add_rule("POST", r"^/xrpc/com\.atproto\.repo\.createRecord", ["429:1"])
        post(bluesky_settings(project, proxy.url, bluesky_account))
        statuses = [r.status for r in proxy.requests("POST") if "createRecord" in r.path]
    assert statuses == [429, 200]
    assert len(bluesky_posts(pds, bluesky_account)) == 1


def test_mastodon_finished_thread_gets_no_new_parts_after_an_edit(
    project: Path, mastodon_server: MockServer, token: None
) -> None:
    settings = social_settings(project, mastodon_server.base_url, "thread = true")
    post(settings)
    count = len(alice_statuses(mastodon_server))
    source = project / "findings" / "alpha-cocoa-prices.md"
    source.write_text(
        source.read_text(encoding="utf-8").replace(
            "stats:\n",
            'stats:\n  - value: "7"\n    label: new point\n    source: Later survey\n'
            '  - value: "8"\n    label: another point\n    source: Later survey\n',
            1,
        ),
        encoding="utf-8",
    )
    post(settings)
    assert len(alice_statuses(mastodon_server)) == count
