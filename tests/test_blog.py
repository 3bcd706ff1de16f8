"""The blog channel's output: golden pages, escaping, accessibility, determinism, feeds."""

from __future__ import annotations

import io
import re
from pathlib import Path

import feedparser
import pytest
from bs4 import BeautifulSoup
from PIL import Image

from browser_tools import layout, needs_chromium
from conftest import AFTER_EMBARGO, NOW
from golden_files import assert_matches_golden
from outreach.channels import register_channel, unregister_channel
from outreach.channels.base import BaseChannel, Site
from outreach.channels.blog import CHANNEL as BLOG
from outreach.config import Settings, load_settings
from outreach.release import load_catalog, newest_first, release
from outreach.urls import EPISODES

GOLDEN_FILES = [
    "blog/alpha-cocoa-prices/index.html",
    "blog/beta-cotton-traceability/index.html",
    "index.html",
    "topics/apparel-textiles/index.html",
    "topics/index.html",
    "feed.atom",
    "sitemap.xml",
    "robots.txt",
]


@pytest.fixture
def published(settings: Settings) -> Path:
    release(settings, None, ["blog"], NOW)
    return settings.paths.public


@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_rendered_files_match_golden(published: Path, name: str) -> None:
    assert_matches_golden(name, (published / name).read_bytes())


def test_rendering_twice_gives_identical_bytes(settings: Settings) -> None:
    catalog = load_catalog(settings)
    site = Site(settings, tuple(newest_first(catalog.values())))

    def render_all() -> dict[str, bytes]:
        out = {}
        for finding in catalog.values():
            out.update({d.path: d.content for d in BLOG.render_finding(finding, site)})
        out.update({d.path: d.content for d in BLOG.render_site(site)})
        return out

    first, second = render_all(), render_all()
    assert first.keys() == second.keys()
    assert all(first[path] == second[path] for path in first), [
        p for p in first if first[p] != second[p]
    ]
    assert "blog/alpha-cocoa-prices/share.png" in first


class RadioChannel(BaseChannel):
    """A throwaway channel that hosts episodes, as a plugin podcast would."""

    name = "radio"
    hosts = frozenset({EPISODES})


def test_a_post_links_episodes_and_hides_kits_only_when_a_configured_channel_hosts_them(
    sample_project: Path,
) -> None:
    settings = load_settings(sample_project / "outreach.toml", environ={})
    finding = load_catalog(settings)["farm-gate-to-fob"]

    def post_and_robots(*channels: str) -> tuple[BeautifulSoup, str]:
        configured = settings.model_copy(
            update={"channels": {name: settings.channel(name) for name in channels}}
        )
        site = Site(configured, (finding,))
        post = next(d for d in BLOG.render_finding(finding, site) if d.path.endswith(".html"))
        robots = next(d for d in BLOG.render_site(site) if d.path == "robots.txt")
        return BeautifulSoup(post.content, "html.parser"), robots.content.decode()

    post, robots = post_and_robots("blog", "podcast", "press")
    assert post.find("audio")["src"] == "/podcast/episodes/farm-gate-to-fob.mp3"
    assert "Disallow: /press/kit/" in robots
    post, robots = post_and_robots("blog")
    assert post.find("audio") is None, "no channel publishes the episode: no dead player"
    assert "Disallow" not in robots
    register_channel(RadioChannel())
    try:
        post, _ = post_and_robots("blog", "radio")
    finally:
        unregister_channel("radio")
    assert post.find("audio")["src"] == "/podcast/episodes/farm-gate-to-fob.mp3"


def test_share_image_is_1200_by_630_png_and_og_points_to_it(published: Path) -> None:
    png = (published / "blog/alpha-cocoa-prices/share.png").read_bytes()
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", (1200, 630))
    soup = BeautifulSoup(
        (published / "blog/alpha-cocoa-prices/index.html").read_text(), "html.parser"
    )
    og = soup.find("meta", property="og:image")["content"]
    assert og == "https://findings.example.org/research/blog/alpha-cocoa-prices/share.png"
    assert soup.find("meta", attrs={"name": "twitter:image"})["content"] == og
    assert soup.find("meta", attrs={"name": "twitter:card"})["content"] == "summary_large_image"


def test_hostile_text_is_escaped_everywhere(published: Path) -> None:
    page = (published / "blog/alpha-cocoa-prices/index.html").read_text()
    soup = BeautifulSoup(page, "html.parser")
    # The only scripts are JSON-LD blocks; no element carries an event handler or js: URL.
    assert [s.get("type") for s in soup.find_all("script")] == ["application/ld+json"]
    for tag in soup.find_all(True):
        for attribute, value in tag.attrs.items():
            assert not attribute.startswith("on"), (tag.name, attribute)
            assert "javascript:" not in str(value).lower(), (tag.name, attribute, value)
    assert soup.h1.get_text() == 'Cocoa prices & <script>alert("title")</script> farm incomes'
    assert 'Raw HTML is escaped: <script>alert("body")</script>' in soup.get_text()
    assert "Yields < 400 kg & rising." in soup.get_text()
    assert "</script>" not in soup.find("script").string
    good = soup.find("a", string="good link")
    assert good["href"] == "https://example.org/report?a=1&b=2"
    assert good["rel"] == ["noopener", "noreferrer"]
    assert soup.find("a", string="bad link") is None
    feed = feedparser.parse((published / "feed.atom").read_bytes())
    assert not feed.bozo
    entry = next(e for e in feed.entries if e.link.endswith("/alpha-cocoa-prices/"))
    assert "<script" not in entry.content[0].value


def test_post_page_is_accessible_and_carries_metadata(published: Path) -> None:
    soup = BeautifulSoup(
        (published / "blog/beta-cotton-traceability/index.html").read_text(), "html.parser"
    )
    assert soup.html["lang"] == "en-GB"
    assert len(soup.find_all("h1")) == 1
    for landmark in ("header", "nav", "main", "footer"):
        assert soup.find(landmark) is not None, landmark
    assert all(img.get("alt") for img in soup.find_all("img"))
    assert soup.find("meta", attrs={"name": "viewport"})["content"].startswith("width=device-width")
    assert (
        soup.find("link", rel="canonical")["href"]
        == "https://findings.example.org/research/blog/beta-cotton-traceability/"
    )
    assert soup.find("a", class_="site-title")["href"] == "/research/"
    ld = soup.find("script", type="application/ld+json").string
    assert '"@type": "Article"' in ld and '"dateModified": "2026-03-01T12:00:00+02:00"' in ld
    # The body's own headings sit under the page title.
    assert soup.select_one(".body h2").get_text() == "What worked"


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_stylesheet_colours_meet_wcag_aa(published: Path) -> None:
    css = (published / "assets/style.css").read_text()
    colours = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-f]{6})", css))
    for name in ("text", "muted", "link", "accent"):
        assert _contrast(colours[name], colours["bg"]) >= 4.5, name
        assert _contrast(colours[name], colours["panel"]) >= 4.5, name


def test_embargoed_finding_is_absent_then_present_after_the_lift(settings: Settings) -> None:
    public = settings.paths.public
    report = release(settings, None, ["blog"], NOW)
    assert [hold.finding_id for hold in report.held] == ["gamma-embargoed-packaging"]
    leaked = [p for p in public.rglob("*") if p.is_file() and b"gamma-embargoed" in p.read_bytes()]
    assert leaked == []
    assert not (public / "blog/gamma-embargoed-packaging").exists()

    release(settings, None, ["blog"], AFTER_EMBARGO)
    assert (public / "blog/gamma-embargoed-packaging/index.html").is_file()
    feed = feedparser.parse((public / "feed.atom").read_bytes())
    assert [entry.link.rsplit("/", 2)[-2] for entry in feed.entries] == [
        "gamma-embargoed-packaging",
        "beta-cotton-traceability",
        "alpha-cocoa-prices",
    ]
    assert "gamma-embargoed-packaging" in (public / "sitemap.xml").read_text()


def test_index_is_paginated_newest_first(settings: Settings) -> None:
    release(settings, None, ["blog"], AFTER_EMBARGO)
    public = settings.paths.public
    first = BeautifulSoup((public / "index.html").read_text(), "html.parser")
    second = BeautifulSoup((public / "page/2/index.html").read_text(), "html.parser")
    titles = [a.get_text() for a in first.select(".cards h2 a")] + [
        a.get_text() for a in second.select(".cards h2 a")
    ]
    assert titles == [
        "Packaging findings under embargo",
        "Traceable cotton lots from farm to spinner",
        'Cocoa prices & <script>alert("title")</script> farm incomes',
    ]
    assert first.find("a", rel="next")["href"] == "/research/page/2/"
    assert second.find("a", rel="prev")["href"] == "/research/"


def _point_image_at(settings: Settings, finding_id: str, file: str) -> None:
    path = settings.paths.findings / f"{finding_id}.md"
    text = re.sub(r"  file: images/\S+", f"  file: {file}", path.read_text(), count=1)
    path.write_text(text)


def test_gif_named_html_with_a_script_is_refused_and_nothing_published(
    settings: Settings,
) -> None:
    from outreach.finding import FindingsInvalid

    gif = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(gif, "GIF", comment=b"<script>alert(1)</script>")
    (settings.paths.media / "images/x.html").write_bytes(gif.getvalue())
    (settings.paths.media / "images/y.jpg").write_bytes(gif.getvalue())
    _point_image_at(settings, "alpha-cocoa-prices", "images/x.html")
    _point_image_at(settings, "beta-cotton-traceability", "images/y.jpg")
    with pytest.raises(FindingsInvalid) as caught:
        release(settings, None, ["blog"], NOW)
    messages = [str(p) for p in caught.value.problems]
    assert (
        "findings/alpha-cocoa-prices.md: image.file: 'images/x.html' is not an image file name; "
        "use a file ending in .jpeg, .jpg, .png, .webp"
    ) in messages
    assert any(
        m.startswith("findings/beta-cotton-traceability.md: image.file: ")
        and m.endswith("y.jpg holds a GIF image; export it as JPEG, PNG or WebP")
        for m in messages
    ), messages
    assert not settings.paths.public.exists()


def test_image_whose_content_differs_from_its_extension_is_refused(settings: Settings) -> None:
    from outreach.finding import FindingsInvalid

    png = (settings.paths.media / "images/beta.png").read_bytes()
    (settings.paths.media / "images/photo.jpg").write_bytes(png)
    _point_image_at(settings, "beta-cotton-traceability", "images/photo.jpg")
    with pytest.raises(FindingsInvalid) as caught:
        release(settings, None, ["blog"], NOW)
    (message,) = [str(p) for p in caught.value.problems]
    assert message.endswith(
        "photo.jpg holds a PNG image but its name says JPEG; rename it to end in .png or "
        "export it again"
    ), message


@pytest.mark.parametrize("name", ["share.png", "index.png", "feed.png"])
def test_image_named_like_a_page_never_overwrites_the_post_or_share_card(
    settings: Settings, name: str
) -> None:
    source = settings.paths.media / "images/beta.png"
    (settings.paths.media / "images" / name).write_bytes(source.read_bytes())
    _point_image_at(settings, "beta-cotton-traceability", f"images/{name}")
    release(settings, None, ["blog"], NOW)
    post = settings.paths.public / "blog/beta-cotton-traceability"
    with Image.open(post / "share.png") as card:
        assert card.size == (1200, 630)
    soup = BeautifulSoup((post / "index.html").read_text(), "html.parser")
    src = soup.select_one(".lead-image img")["src"]
    published = settings.paths.public / src.removeprefix("/research/")
    assert published.read_bytes() == source.read_bytes()
    assert published.name not in {"share.png", "index.html", name}
    assert re.fullmatch(r"image-[0-9a-f]{16}\.png", published.name), published.name
    # Two findings with different images never share a name; the same bytes keep theirs.
    alpha = BeautifulSoup(
        (settings.paths.public / "blog/alpha-cocoa-prices/index.html").read_text(), "html.parser"
    )
    assert alpha.select_one(".lead-image img")["src"].rsplit("/", 1)[1] != published.name


def test_media_symlink_pointing_outside_media_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    from outreach.finding import FindingsInvalid

    secret = tmp_path / "outside.png"
    secret.write_bytes((settings.paths.media / "images/beta.png").read_bytes())
    (settings.paths.media / "images/linked.png").symlink_to(secret)
    _point_image_at(settings, "beta-cotton-traceability", "images/linked.png")
    with pytest.raises(FindingsInvalid) as caught:
        release(settings, None, ["blog"], NOW)
    (message,) = [str(p) for p in caught.value.problems]
    assert message == (
        "findings/beta-cotton-traceability.md: image.file: "
        f"{settings.paths.media / 'images/linked.png'} is a link to a file outside media/; "
        "copy the file itself into media/"
    )
    assert not settings.paths.public.exists()
    # A link that stays inside media/ is fine.
    (settings.paths.media / "images/linked.png").unlink()
    (settings.paths.media / "images/linked.png").symlink_to(
        settings.paths.media / "images/beta.png"
    )
    release(settings, None, ["blog"], NOW)


@needs_chromium
def test_wide_table_scrolls_in_a_keyboard_reachable_named_region(
    settings: Settings, tmp_path: Path
) -> None:
    """At 375 px a wide table scrolled inside the post but could not take focus, so keyboard
    users could not scroll it (axe: scrollable-region-focusable, serious)."""
    path = settings.paths.findings / "beta-cotton-traceability.md"
    header = "| " + " | ".join(f"Column {n} heading" for n in range(8)) + " |\n"
    rule = "|" + "---|" * 8 + "\n"
    row = "| " + " | ".join(f"value{n}" for n in range(8)) + " |\n"
    path.write_text(path.read_text() + "\n" + header + rule + row)
    release(settings, None, ["blog"], NOW)
    post = "blog/beta-cotton-traceability/"
    soup = BeautifulSoup((settings.paths.public / post / "index.html").read_text(), "html.parser")
    regions = soup.select(".body .table-scroll")
    assert [(r["role"], r["tabindex"], r["aria-label"]) for r in regions] == [
        ("region", "0", "Table 1"),
        ("region", "0", "Table 2"),
    ]
    assert all(r.find("table") is not None for r in regions)

    page = layout(settings.paths.public, [post], 375, tmp_path / "profile", "/research/")[post]
    assert page["scrollWidth"] <= page["clientWidth"] == 375, page
    wide = page["regions"][1]
    assert wide["scrollWidth"] > wide["clientWidth"], wide
    assert (wide["tabIndex"], wide["role"], wide["label"]) == (0, "region", "Table 2")


def test_index_pages_carry_a_share_card(published: Path) -> None:
    soup = BeautifulSoup((published / "index.html").read_text(), "html.parser")
    image = soup.find("meta", property="og:image")["content"]
    assert image == "https://findings.example.org/research/assets/share.png"
    assert soup.find("meta", attrs={"name": "twitter:image"})["content"] == image
    assert soup.find("meta", attrs={"name": "twitter:card"})["content"] == "summary_large_image"
    assert soup.find("meta", property="og:image:alt")["content"]
    with Image.open(published / "assets/share.png") as card:
        assert (card.format, card.size) == ("PNG", (1200, 630))
