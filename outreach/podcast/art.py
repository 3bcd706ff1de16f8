"""Cover art: check the show's and episodes' art against directory rules, draw what is missing.

Apple Podcasts asks for square RGB JPEG or PNG art between 1400 and 3000 pixels a side; an
episode without its own art gets one drawn from the show art and the episode title.
"""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw

from outreach.drawing import fit, font

MIN_SIDE, MAX_SIDE = 1400, 3000
EPISODE_ART_SIDE = 1400


def art_problems(data: bytes) -> list[str]:
    """What is wrong with this art for podcast directories, as fixes to make (empty: fine)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            kind, mode, (width, height) = image.format, image.mode, image.size
    except Exception as exc:  # Pillow raises many types for broken files
        return [f"is not a readable image ({exc}); export it again as JPEG or PNG"]
    problems = []
    if kind not in ("JPEG", "PNG"):
        problems.append(f"is {kind}; save it as JPEG or PNG")
    if mode != "RGB":
        problems.append(f"uses colour mode {mode}; save it as RGB (no transparency, no CMYK)")
    if width != height:
        problems.append(f"is {width}x{height}; make it square")
    if not MIN_SIDE <= min(width, height) <= max(width, height) <= MAX_SIDE:
        problems.append(
            f"is {width}x{height} px; make it between {MIN_SIDE} and {MAX_SIDE} px a side"
        )
    return problems


@lru_cache(maxsize=16)
def draw_episode_art(show_art: bytes, title: str, number: int) -> bytes:
    """A 1400 px square JPEG: the show art with the episode number and title on a band.

    Remembered for the newest episodes: the feed's episode and the press kit's clip carry the
    same art."""
    with Image.open(io.BytesIO(show_art)) as source:
        image = source.convert("RGB").resize(
            (EPISODE_ART_SIDE, EPISODE_ART_SIDE), Image.Resampling.LANCZOS
        )
    draw = ImageDraw.Draw(image)
    margin = 90
    face, lines = fit(draw, title, EPISODE_ART_SIDE - 2 * margin, 5, (72, 64, 56, 48, 40))
    line_height = face.size + 16
    band_top = EPISODE_ART_SIDE - margin - line_height * len(lines) - 120
    draw.rectangle((0, band_top, EPISODE_ART_SIDE, EPISODE_ART_SIDE), fill="#14213d")
    draw.text((margin, band_top + 40), f"EPISODE {number}", font=font(48), fill="#f2c14e")
    y = band_top + 120
    for line in lines:
        draw.text((margin, y), line, font=face, fill="#ffffff")
        y += line_height
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88, optimize=True)
    return buffer.getvalue()
