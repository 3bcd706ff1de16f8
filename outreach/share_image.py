"""The 1200x630 share image that Open Graph and Twitter cards point to.

Drawn with Pillow's bundled font so the same finding gives the same pixels on any machine with
the same Pillow version, stored by ``drawing.png_bytes`` (the same bytes with the same zlib).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from outreach import ahead
from outreach.drawing import fit, font, png_bytes
from outreach.request import BATCH_SIZE

if TYPE_CHECKING:  # Pillow's drawing modules (and FreeType) load when something is drawn
    from PIL import Image

    from outreach.config import Settings
    from outreach.finding import Finding

WIDTH, HEIGHT = 1200, 630
MARGIN = 72

# Background per first topic; every colour keeps white text above 7:1 contrast.
TOPIC_COLOURS: dict[str, str] = {
    "apparel-textiles": "#5b2a6e",
    "plastics-packaging": "#0f4c5c",
    "food-agriculture": "#2f5d1e",
    "scope-3-climate": "#1d3b6e",
    "responsible-sourcing": "#7a2e12",
    "landscapes-commodities": "#3e4a12",
}
ACCENT = "#f2c14e"


def share_image_for(finding: Finding, settings: Settings) -> bytes:
    """A finding's share image: the blog post, the press kit and the WordPress post show the
    same one, drawn once per release (drawing it costs 10-15 ms)."""
    return draw_share_image(*share_image_args(finding, settings))


def share_image_args(finding: Finding, settings: Settings) -> tuple[str, str, str, str, str]:
    """What a finding's share image shows (``draw_share_image``'s arguments)."""
    stat = finding.key_stat
    return finding.title, stat.value, stat.label, finding.topics[0], settings.site.title


def draw_ahead(findings: Iterable[Finding], settings: Settings) -> None:
    """Start drawing these findings' share images in worker processes (when a release has
    started them: ``outreach.ahead``), so rendering picks them up instead of drawing."""
    ahead.submit(_draw_share_image, [share_image_args(f, settings) for f in findings])


@lru_cache(maxsize=BATCH_SIZE)
def draw_share_image(
    title: str, stat_value: str, stat_label: str, topic: str, site_title: str
) -> bytes:
    """PNG bytes: site name, the key stat large, its label, then the title (drawn by a
    worker when the release asked for it ahead, the same bytes either way). The images of
    one batch are kept, for the other channels that show them (30 KB each): not more, as a
    release renders every batch of one channel before the next channel's."""
    args = (title, stat_value, stat_label, topic, site_title)
    drawn = ahead.take(_draw_share_image, args)
    return _draw_share_image(*args) if drawn is ahead.MISSING else drawn


def _draw_share_image(
    title: str, stat_value: str, stat_label: str, topic: str, site_title: str
) -> bytes:
    from PIL import ImageDraw

    image = _background(TOPIC_COLOURS.get(topic, "#1d3b6e"), site_title).copy()
    draw = ImageDraw.Draw(image)
    text_width = WIDTH - 2 * MARGIN

    stat_font, stat_lines = fit(draw, stat_value, text_width, 1, (150, 120, 96, 72))
    draw.text((MARGIN, 100), stat_lines[0], font=stat_font, fill="#ffffff")
    label_font, label_lines = fit(draw, stat_label, text_width, 2, (38, 32, 28))
    y = 100 + stat_font.size + 24
    for line in label_lines:
        draw.text((MARGIN, y), line, font=label_font, fill=ACCENT)
        y += label_font.size + 8

    title_font, title_lines = fit(draw, title, text_width, 3, (52, 46, 40, 34))
    y = max(y + 28, HEIGHT - MARGIN - len(title_lines) * (title_font.size + 10))
    for line in title_lines:
        draw.text((MARGIN, y), line, font=title_font, fill="#ffffff")
        y += title_font.size + 10

    return png_bytes(image)


@lru_cache(maxsize=16)
def _background(colour: str, site_title: str) -> Image.Image:
    """The part every share image of a topic shares (colour, accent bar, site name), drawn
    once per process and copied: a few topics, 2 MB each."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 18, HEIGHT), fill=ACCENT)
    draw.text((MARGIN, 48), site_title.upper(), font=font(28), fill=ACCENT)
    return image


def share_card(
    title: str,
    description: str,
    image: str,
    alt: str,
    kind: str = "website",
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> dict[str, object]:
    """What templates/blog/_share_card.html.j2 shows as Open Graph and Twitter card tags."""
    large = size[0] > size[1]
    return {
        "title": title,
        "description": description,
        "image": image,
        "alt": alt,
        "type": kind,
        "width": size[0],
        "height": size[1],
        "twitter": "summary_large_image" if large else "summary",
    }


SITE_CARD_PATH = "assets/share.png"
"""Where the blog publishes the site's own card (index pages); other channels draw their own."""


@lru_cache(maxsize=8)
def draw_site_card(site_title: str, tagline: str, heading: str = "") -> bytes:
    """PNG bytes for pages that list findings: the site (or a section) name and the tagline.
    Drawn in a worker process when the release may start one (``ahead.run_apart``): the
    release's own process then never loads FreeType and its fonts, nor fills the canvas
    (about 6 MB at its peak, for one image); the same bytes either way."""
    args = (site_title, tagline, heading)
    drawn = ahead.run_apart(_draw_site_card, args)
    return _draw_site_card(*args) if drawn is ahead.MISSING else drawn


def _draw_site_card(site_title: str, tagline: str, heading: str) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), "#1d3b6e")
    draw = ImageDraw.Draw(image)
    text_width = WIDTH - 2 * MARGIN
    draw.rectangle((0, 0, 18, HEIGHT), fill=ACCENT)
    draw.text((MARGIN, 48), site_title.upper(), font=font(28), fill=ACCENT)
    title_font, title_lines = fit(draw, heading or site_title, text_width, 3, (96, 72, 56, 44))
    y = 150
    for line in title_lines:
        draw.text((MARGIN, y), line, font=title_font, fill="#ffffff")
        y += title_font.size + 12
    tag_font, tag_lines = fit(draw, tagline, text_width, 3, (40, 34, 28))
    y = max(y + 28, HEIGHT - MARGIN - len(tag_lines) * (tag_font.size + 8))
    for line in tag_lines:
        draw.text((MARGIN, y), line, font=tag_font, fill=ACCENT)
        y += tag_font.size + 8
    return png_bytes(image)
