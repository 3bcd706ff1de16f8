"""The podcast channel end to end on the repository's sample episodes: feed, files, pings."""

from __future__ import annotations

import email.utils
import http.server
import io
import json
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import feedparser
import podcastparser
import pytest
from bs4 import BeautifulSoup
from lxml import etree
from mutagen.id3 import ID3

from audio_tools import FFPROBE, ffprobe
from browser_tools import layout, needs_chromium
from outreach.config import Settings, load_settings
from outreach.finding import FindingsInvalid
from outreach.podcast.art import art_problems, draw_episode_art
from outreach.release import release

NOW = datetime(2026, 11, 29, tzinfo=UTC)
NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "atom": "http://www.w3.org/2005/Atom",
}
EPISODES = {"farm-gate-to-fob", "uganda-robusta-case-study"}


def settings_for(project: Path, **environ: str) -> Settings:
    return load_settings(project / "outreach.toml", environ=environ)


@pytest.fixture
def published(sample_project: Path) -> Settings:
    settings = settings_for(sample_project)
    release(settings, None, None, NOW)
    return settings


def feed_tree(settings: Settings) -> etree._Element:
    return etree.fromstring((settings.paths.public / "podcast/feed.xml").read_bytes())


def test_feed_passes_directory_rules(published: Settings) -> None:
    public = published.paths.public
    root = feed_tree(published)
    channel = root.find("channel")
    assert channel.findtext("itunes:explicit", namespaces=NS) == "false"
    category = channel.find("itunes:category", NS)
    assert (category.get("text"), category.find("itunes:category", NS).get("text")) == (
        "Business",
        "Non-Profit",
    )
    assert channel.findtext("itunes:owner/itunes:email", namespaces=NS) == "podcast@example.org"
    assert (
        channel.find("atom:link[@rel='self']", NS).get("href")
        == "http://127.0.0.1:8000/podcast/feed.xml"
    )
    assert channel.findtext("language") == "en-gb"
    assert channel.find("itunes:image", NS).get("href").endswith("/podcast/cover.jpg")
    expected_guid = str(
        uuid.uuid5(
            uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6"), "127.0.0.1:8000/podcast/feed.xml"
        )
    )
    assert channel.findtext("podcast:guid", namespaces=NS) == expected_guid
    assert channel.find("podcast:locked", NS).get("owner") == "podcast@example.org"
    assert channel.findtext("podcast:medium", namespaces=NS) == "podcast"

    items = channel.findall("item")
    assert len(items) == 2
    dates = [email.utils.parsedate_to_datetime(item.findtext("pubDate")) for item in items]
    assert all(d.tzinfo is not None for d in dates)
    assert dates == sorted(dates, reverse=True)
    assert email.utils.parsedate_to_datetime(channel.findtext("lastBuildDate")) == max(dates)
    for item in items:
        enclosure = item.find("enclosure")
        name = enclosure.get("url").rsplit("/", 1)[-1]
        assert int(enclosure.get("length")) == (public / "podcast/episodes" / name).stat().st_size
        assert enclosure.get("type") == "audio/mpeg"
        assert item.findtext("itunes:duration", namespaces=NS).isdigit()
        assert item.find("guid").get("isPermaLink") == "false"
        assert len(item.findtext("description").encode()) <= 4000
        assert item.findtext("itunes:explicit", namespaces=NS) == "false"
        assert item.find("podcast:chapters", NS).get("type") == "application/json+chapters"
        assert {t.get("type") for t in item.findall("podcast:transcript", NS)} >= {"text/html"}
        assert item.findtext("podcast:season", namespaces=NS) == "1"
    for element in root.iter():
        if isinstance(element.tag, str) and element.text and element.text.strip():
            assert element.text == element.text.strip(), element.tag


def test_feedparser_and_podcastparser_agree(published: Settings) -> None:
    raw = (published.paths.public / "podcast/feed.xml").read_bytes()
    parsed = feedparser.parse(raw)
    assert not parsed.bozo, parsed.get("bozo_exception")
    other = podcastparser.parse(
        "http://127.0.0.1:8000/podcast/feed.xml", __import__("io").BytesIO(raw)
    )
    assert [e.id for e in parsed.entries] == [e["guid"] for e in other["episodes"]]
    assert [e.title for e in parsed.entries] == [e["title"] for e in other["episodes"]]
    assert {e["total_time"] for e in other["episodes"]} <= {34, 44}
    assert all(e["enclosures"][0]["mime_type"] == "audio/mpeg" for e in other["episodes"])


def test_episode_files_tags_chapters_and_post_embed(published: Settings) -> None:
    public = published.paths.public
    mp3 = public / "podcast/episodes/farm-gate-to-fob.mp3"
    tags = ID3(mp3)
    assert str(tags["TIT2"]).startswith("Beyond the farm")
    assert str(tags["TRCK"]) == "2" and tags.getall("APIC")[0].type == 3
    assert [
        str(c.sub_frames["TIT2"]) for c in sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    ] == ["Introduction", "Where value leaks", "What buyers can do"]
    if FFPROBE:
        probe = ffprobe(mp3)
        assert [round(float(c["start_time"]), 3) for c in probe["chapters"]] == [
            0.0,
            13.793,
            30.531,
        ]
    chapters = json.loads((public / "podcast/episodes/farm-gate-to-fob.chapters.json").read_text())
    assert chapters["version"] == "1.2.0"
    assert [c["startTime"] for c in chapters["chapters"]] == [0, 13.793, 30.531]
    assert (public / "podcast/episodes/farm-gate-to-fob.vtt").read_text().startswith("WEBVTT")
    assert (public / "podcast/episodes/uganda-robusta-case-study.srt").is_file()

    post = BeautifulSoup((public / "blog/farm-gate-to-fob/index.html").read_text(), "html.parser")
    assert post.find("audio")["src"] == "/podcast/episodes/farm-gate-to-fob.mp3"
    transcript = post.find(id="transcript")
    assert "Welcome to the Durable Supply Chains podcast." in transcript.get_text()
    page = BeautifulSoup((public / "podcast/index.html").read_text(), "html.parser")
    assert len(page.find_all("audio")) == 2
    assert len(page.find_all("h1")) == 1


def test_rebuild_keeps_guids_and_an_edit_changes_its_item_in_place(published: Settings) -> None:
    before = feedparser.parse((published.paths.public / "podcast/feed.xml").read_bytes())
    guids = {e.link.rsplit("/", 2)[-2]: e.id for e in before.entries}

    again = release(published, None, None, NOW)
    assert again.changed == []

    path = published.paths.findings / "farm-gate-to-fob.md"
    path.write_text(path.read_text().replace('title: "Beyond the farm', 'title: "Past the farm', 1))
    release(published, ["farm-gate-to-fob"], ["podcast"], NOW)
    after = feedparser.parse((published.paths.public / "podcast/feed.xml").read_bytes())
    assert {e.link.rsplit("/", 2)[-2]: e.id for e in after.entries} == guids
    assert len(after.entries) == 2
    edited = next(e for e in after.entries if e.id == guids["farm-gate-to-fob"])
    assert edited.title.startswith("Past the farm")
    assert str(
        ID3(published.paths.public / "podcast/episodes/farm-gate-to-fob.mp3")["TIT2"]
    ).startswith("Past the farm")


def test_feed_is_deterministic(sample_project: Path, tmp_path: Path) -> None:
    settings = settings_for(sample_project)
    release(settings, None, ["podcast"], NOW)
    first = (settings.paths.public / "podcast/feed.xml").read_bytes()
    other = settings_for(
        sample_project,
        OUTREACH_PATHS__PUBLIC=str(tmp_path / "other"),
        OUTREACH_PATHS__STATE=str(tmp_path / "state"),
    )
    release(other, None, ["podcast"], NOW)
    assert (tmp_path / "other/podcast/feed.xml").read_bytes() == first
    assert (tmp_path / "other/podcast/episodes/farm-gate-to-fob.mp3").read_bytes() == (
        settings.paths.public / "podcast/episodes/farm-gate-to-fob.mp3"
    ).read_bytes()


def test_missing_or_corrupt_audio_stops_the_release(sample_project: Path) -> None:
    settings = settings_for(sample_project)
    (settings.paths.media / "audio/uganda-robusta-case-study.mp3").write_bytes(b"\x00garbage" * 100)
    (settings.paths.media / "audio/farm-gate-to-fob.flac").unlink()
    with pytest.raises(FindingsInvalid) as caught:
        release(settings, None, None, NOW)
    messages = [str(p) for p in caught.value.problems]
    assert any(
        m.startswith("findings/uganda-robusta-case-study.md: episode.audio: ")
        and "uganda-robusta-case-study.mp3" in m
        for m in messages
    ), messages
    assert any(
        m.startswith("findings/farm-gate-to-fob.md: episode.audio: no file at ") for m in messages
    ), messages
    assert not settings.paths.public.exists()


class _Hub(http.server.BaseHTTPRequestHandler):
    """A local HTTP server standing in for a WebSub hub (no real hub is reachable here)."""

    status: ClassVar[int] = 503
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        type(self).received.append(self.rfile.read(length))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[tuple[str, type[_Hub]]]:
    handler = type("Hub", (_Hub,), {"received": [], "status": 503})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hub", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_failing_hub_is_retried_and_never_fails_the_release(
    sample_project: Path, hub: tuple[str, type[_Hub]]
) -> None:
    url, handler = hub
    settings = settings_for(sample_project, OUTREACH_PODCAST__WEBSUB_HUBS=url)
    report = release(settings, None, ["podcast"], NOW)
    assert (settings.paths.public / "podcast/feed.xml").is_file()
    assert len(handler.received) == 4, "one try and three retries"
    assert any("failed" in note and url in note for note in report.notes)


def test_a_working_hub_is_told_the_feed_url(
    sample_project: Path, hub: tuple[str, type[_Hub]]
) -> None:
    url, handler = hub
    handler.status = 204
    settings = settings_for(sample_project, OUTREACH_PODCAST__WEBSUB_HUBS=url)
    report = release(settings, None, ["podcast"], NOW)
    assert handler.received == [
        b"hub.mode=publish&hub.url=http%3A%2F%2F127.0.0.1%3A8000%2Fpodcast%2Ffeed.xml"
    ]
    assert report.notes == [f"ping {url}: ok (HTTP 204)"]
    release(settings, None, ["podcast"], NOW)
    assert len(handler.received) == 1, "an unchanged feed is not pinged again"


def test_cover_art_rules_and_drawn_episode_art(tmp_path: Path) -> None:
    from io import BytesIO

    from PIL import Image

    def image_bytes(size: tuple[int, int], mode: str = "RGB", kind: str = "JPEG") -> bytes:
        buffer = BytesIO()
        Image.new(mode, size, "white" if mode != "CMYK" else (0, 0, 0, 0)).save(buffer, kind)
        return buffer.getvalue()

    assert art_problems(image_bytes((1400, 1400))) == []
    assert art_problems(image_bytes((1400, 1000))) == [
        "is 1400x1000; make it square",
        "is 1400x1000 px; make it between 1400 and 3000 px a side",
    ]
    assert art_problems(image_bytes((1000, 1000))) == [
        "is 1000x1000 px; make it between 1400 and 3000 px a side"
    ]
    assert art_problems(image_bytes((1400, 1400), "CMYK")) == [
        "uses colour mode CMYK; save it as RGB (no transparency, no CMYK)"
    ]
    assert art_problems(b"not an image")[0].startswith("is not a readable image")
    drawn = draw_episode_art(image_bytes((3000, 3000)), "A very long episode title " * 6, 12)
    assert art_problems(drawn) == []


def test_show_art_that_directories_refuse_stops_the_release(sample_project: Path) -> None:
    from PIL import Image

    from outreach.release import ReleaseError

    settings = settings_for(sample_project)
    Image.new("RGB", (1200, 800), "white").save(settings.paths.media / "podcast/cover.jpg")
    with pytest.raises(ReleaseError, match=r"show art .*cover\.jpg is 1200x800; make it square"):
        release(settings, None, ["podcast"], NOW)
    assert not settings.paths.public.exists()


def test_truncated_wav_is_measured_by_decoding_not_by_its_header(sample_project: Path) -> None:
    """The header of a cut-short WAV keeps the full length; chapters past the real end used
    to pass and the MP3 then carried chapter frames beyond its audio."""
    from audio_tools import convert

    settings = settings_for(sample_project)
    media = settings.paths.media
    wav = convert(
        media / "audio/farm-gate-to-fob.flac", media / "audio/cut.wav", "-ac", "1", "-ar", "8000"
    )
    data = wav.read_bytes()
    header = data.index(b"data") + 8
    wav.write_bytes(data[: header + 8000 * 2 * 20])  # 20 s of samples under a 44 s header
    finding = settings.paths.findings / "farm-gate-to-fob.md"
    finding.write_text(finding.read_text().replace("audio/farm-gate-to-fob.flac", "audio/cut.wav"))
    with pytest.raises(FindingsInvalid) as caught:
        release(settings, None, None, NOW)
    messages = [str(p) for p in caught.value.problems]
    assert messages == [
        "findings/farm-gate-to-fob.md: episode.chapters[2].start: 30.531 s is past the end of "
        "the recording (20.0 s when decoded); correct the time or remove the chapter"
    ]
    assert not settings.paths.public.exists()


def test_apostrophe_and_ampersand_reach_podcast_apps_once_escaped(sample_project: Path) -> None:
    settings = settings_for(sample_project)
    path = settings.paths.findings / "uganda-robusta-case-study.md"
    title, summary = "Uganda's robusta & its farmers", "Uganda's growers & buyers <agree>."
    text = re.sub(r"^title: .*$", f'title: "{title}"', path.read_text(), count=1, flags=re.M)
    text = re.sub(r"^summary: .*$", f'summary: "{summary}"', text, count=1, flags=re.M)
    path.write_text(text)
    release(settings, None, ["podcast"], NOW)
    raw = (settings.paths.public / "podcast/feed.xml").read_bytes()
    assert b"&amp;#x27;" not in raw
    episode = next(
        e
        for e in podcastparser.parse("http://127.0.0.1:8000/podcast/feed.xml", io.BytesIO(raw))[
            "episodes"
        ]
        if e["title"].startswith("Uganda")
    )
    assert episode["title"] == "Uganda's robusta & its farmers"
    assert episode["description"].startswith("Uganda's growers & buyers <agree>.")
    entry = next(e for e in feedparser.parse(raw).entries if e.title.startswith("Uganda"))
    assert entry.title == "Uganda's robusta & its farmers"
    summary = BeautifulSoup(entry.summary, "html.parser").p.get_text()
    assert summary == "Uganda's growers & buyers <agree>."


def test_episode_description_ends_for_any_link_length() -> None:
    """A base_url of about 4,100 characters made the description loop spin forever; run it in
    a child process so the test fails (not hangs) if the loop ever stops shrinking."""
    code = (
        "from outreach.podcast.feed import episode_description as d\n"
        "for link in ['https://e.org/' + 'x' * n for n in (10, 3990, 4100, 20000)]:\n"
        "    for summary in ('', 'word', 'long ' * 2000, 'x' * 9000):\n"
        "        text = d(summary, link, ['chapter'] * 3)\n"
        "        assert len(text.encode()) <= 4000, (len(link), len(summary))\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_overlong_base_url_is_a_config_error(sample_project: Path) -> None:
    from outreach.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        settings_for(sample_project, OUTREACH_SITE__BASE_URL="https://e.org/" + "x" * 4100)
    assert "site.base_url: Value error, is 4114 characters long; use a URL of at most 200" in str(
        caught.value
    )


def _eyed3_tag(path: Path):
    import eyed3

    audio = eyed3.load(path)
    assert audio is not None and audio.tag is not None, path
    return audio.tag


def test_episode_and_press_clip_dates_are_readable_as_id3v23(published: Settings) -> None:
    """TDRC is a v2.4 frame: in our v2.3 tags eyeD3 and id3lib read no date. The press kit's
    clip carried no tags at all."""
    from outreach.press.kit import kit_base
    from outreach.release import load_catalog

    public = published.paths.public
    episode = public / "podcast/episodes/farm-gate-to-fob.mp3"
    frames = ID3(episode, translate=False)  # as stored, not upgraded to v2.4 on reading
    assert frames.version == (2, 3, 0)
    assert "TDRC" not in frames
    assert (str(frames["TYER"]), str(frames["TDAT"])) == ("2026", "0807")
    tag = _eyed3_tag(episode)
    assert tag.version == (2, 3, 0) and tag.getBestDate().year == 2026

    finding = load_catalog(published)["farm-gate-to-fob"]
    clip = public / kit_base(finding, published) / "episode-clip.mp3"
    clip_tag = _eyed3_tag(clip)
    assert clip_tag.title == f"{finding.title} (first 60 seconds)"
    assert (clip_tag.artist, clip_tag.album) == (
        published.podcast.author,
        published.podcast.title,
    )
    assert clip_tag.getBestDate().year == finding.published.year
    assert clip_tag.images[0].mime_type == "image/jpeg"
    if FFPROBE:
        assert ffprobe(clip)["format"]["tags"]["title"] == clip_tag.title


@needs_chromium
def test_podcast_and_listing_pages_fit_a_320px_screen(published: Settings, tmp_path: Path) -> None:
    """The podcast page was 12 px wider than a 320 px phone (the feed address did not wrap)."""
    pages = ["podcast/", "", "newsroom/", "blog/farm-gate-to-fob/", "topics/"]
    widths = layout(published.paths.public, pages, 320, tmp_path / "profile")
    for page in pages:
        assert widths[page]["scrollWidth"] <= widths[page]["clientWidth"] == 320, (page, widths)


def test_sitemap_lists_the_podcast_and_newsroom_pages(published: Settings) -> None:
    tree = etree.fromstring((published.paths.public / "sitemap.xml").read_bytes())
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locations = tree.xpath("//s:url/s:loc/text()", namespaces=ns)
    assert "http://127.0.0.1:8000/podcast/" in locations
    assert "http://127.0.0.1:8000/newsroom/" in locations
    assert len(locations) == len(set(locations))


def test_newsroom_and_podcast_pages_carry_share_cards(published: Settings) -> None:
    from PIL import Image

    public = published.paths.public
    for page, kind in [
        ("newsroom/farm-gate-to-fob/index.html", "article"),
        ("newsroom/index.html", "website"),
        ("podcast/index.html", "website"),
        ("index.html", "website"),
    ]:
        soup = BeautifulSoup((public / page).read_text(), "html.parser")
        assert soup.find("meta", property="og:type")["content"] == kind, page
        image = soup.find("meta", property="og:image")["content"]
        assert soup.find("meta", attrs={"name": "twitter:image"})["content"] == image, page
        assert soup.find("meta", property="og:image:alt")["content"], page
        assert (
            soup.find("meta", property="og:url")["content"]
            == soup.find("link", rel="canonical")["href"]
        )
        file = public / image.removeprefix("http://127.0.0.1:8000/")
        with Image.open(file) as picture:
            size = picture.size
        assert [
            int(soup.find("meta", property=f"og:image:{side}")["content"])
            for side in ("width", "height")
        ] == list(size), page


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("OUTREACH_PODCAST__BITRATE_KBPS", "128", "podcast.bitrate_kbps: Value error, "),
        ("OUTREACH_PODCAST__OWNER_EMAIL", "nobody", "podcast.owner_email: Value error, "),
        ("OUTREACH_PODCAST__CATEGORY", "Cooking", "podcast.category: Value error, 'Cooking'"),
        ("OUTREACH_PODCAST__SUBCATEGORY", "Cooking", "podcast.subcategory: Value error, "),
    ],
)
def test_podcast_setting_errors_name_a_variable_that_exists(
    sample_project: Path, variable: str, value: str, expected: str
) -> None:
    """These errors suggested OUTREACH_PODCAST, which sets nothing."""
    from outreach.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        settings_for(sample_project, **{variable: value})
    message = str(caught.value)
    assert expected in message, message
    assert message.endswith(f"(or set {variable})"), message
