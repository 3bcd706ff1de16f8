"""Text on images: Pillow's bundled font, word wrapping and fitting, shared by every picture
the pipeline draws (share images, episode art)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded when a font is first asked for: FreeType and HarfBuzz come with it
    from PIL import ImageDraw, ImageFont


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont:
    """The font Pillow ships: the same glyphs, so the same pixels, on every machine."""
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def wrap(
    draw: ImageDraw.ImageDraw, text: str, face: ImageFont.FreeTypeFont, width: int
) -> list[str]:
    """Greedy word wrap; a word longer than the width gets a line of its own."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=face) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def fit(
    draw: ImageDraw.ImageDraw, text: str, width: int, max_lines: int, sizes: tuple[int, ...]
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """Largest size at which ``text`` fits in ``max_lines``; an ellipsis as the last resort."""
    for size in sizes:
        face = font(size)
        lines = wrap(draw, text, face, width)
        if len(lines) <= max_lines:
            return face, lines
    face = font(sizes[-1])
    lines = wrap(draw, text, face, width)[:max_lines]
    while lines and " " in lines[-1] and draw.textlength(lines[-1] + "…", font=face) > width:
        lines[-1] = lines[-1].rsplit(" ", 1)[0]
    lines[-1] += "…"
    return face, lines
