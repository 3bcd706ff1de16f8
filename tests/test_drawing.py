"""PNG files the pipeline writes itself (share images, the site card), read back by Pillow."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from outreach.drawing import font, png_bytes
from outreach.share_image import HEIGHT, WIDTH, _draw_share_image


def test_a_png_holds_exactly_the_pixels_drawn() -> None:
    image = Image.new("RGB", (WIDTH, HEIGHT), "#2f5d1e")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 18, HEIGHT), fill="#f2c14e")
    draw.text((72, 200), "Cooperative members earned 42% more", font=font(52), fill="#ffffff")
    data = png_bytes(image)
    with Image.open(io.BytesIO(data)) as check:
        check.verify()  # chunk CRCs and structure, by Pillow's reader
    with Image.open(io.BytesIO(data)) as read:
        assert (read.format, read.mode, read.size) == ("PNG", "RGB", (WIDTH, HEIGHT))
        assert read.tobytes() == image.tobytes()


def test_a_share_image_is_a_png_of_the_right_size_drawn_the_same_every_time() -> None:
    args = ("A title long enough to wrap onto two lines of the card", "42%", "more", "x", "Site")
    first = _draw_share_image(*args)
    assert first == _draw_share_image(*args)
    with Image.open(io.BytesIO(first)) as read:
        assert (read.format, read.size) == ("PNG", (WIDTH, HEIGHT))
        assert len(read.getcolors(maxcolors=1 << 16) or ()) > 2  # text drawn, not a flat card


def test_only_rgb_images_are_written() -> None:
    with pytest.raises(ValueError, match="RGB"):
        png_bytes(Image.new("RGBA", (4, 4)))
