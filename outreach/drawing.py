"""Text on images: Pillow's bundled font, word wrapping and fitting, shared by every picture
the pipeline draws (share images, episode art)."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded when a font is first asked for: FreeType and HarfBuzz come with it
    from PIL import Image, ImageDraw, ImageFont


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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Bit depth 8, colour type 2 (RGB), compression, filter and interlace methods 0.
_RGB_8_BITS = struct.pack(">BBBBB", 8, 2, 0, 0, 0)


def png_bytes(image: Image.Image) -> bytes:
    """An RGB image as PNG bytes: every row unfiltered, deflated at level 1.

    Why not Pillow's PNG writer: it tries five filters on every row before deflating, which
    was two thirds of a share image's cost; these pictures are flat colour and text, which
    deflate as well unfiltered (a smaller file than Pillow's at level 1) in half the time.
    The same pixels; the same bytes wherever Python's zlib is the same version."""
    if image.mode != "RGB":
        raise ValueError(f"png_bytes writes RGB images, not {image.mode}")
    width, height = image.size
    stride = width * 3
    pixels = memoryview(image.tobytes())
    deflate = zlib.compressobj(1)
    parts = []
    for row in range(height):
        parts.append(deflate.compress(b"\0"))  # filter type 0: the row as it is
        parts.append(deflate.compress(pixels[row * stride : (row + 1) * stride]))
    parts.append(deflate.flush())
    header = struct.pack(">II", width, height) + _RGB_8_BITS
    return b"".join(
        (PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", b"".join(parts)), _chunk(b"IEND"))
    )


def _chunk(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
