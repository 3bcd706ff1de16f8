"""The files a finding points to in media/: which are allowed, and the names they get.

A media file is published under a name the pipeline derives from its bytes and its checked
type, never under the name it has in media/. An image called ``index.html`` or ``share.png``
could otherwise replace the post page or the share card, and a GIF called ``x.html`` would be
served as a page on the site's own origin. Every channel takes media names from here, so the
blog, the press kit and the podcast agree.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path, PurePosixPath

from PIL import Image

from outreach.errors import OutreachError

IMAGE_SUFFIXES: dict[str, str] = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
"""Image file names the pipeline accepts, and the format each must contain."""
PUBLISHED_SUFFIX: dict[str, str] = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
"""The one extension each accepted format is published with."""
MEDIA_TYPES: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class MediaError(OutreachError, ValueError):
    """A media file may not be published; the message says what to do instead."""


def outside_media(media_dir: Path, relative: str) -> bool:
    """True when ``media_dir/relative``, links followed, is not inside ``media_dir``."""
    target = (media_dir / relative).resolve()
    return not target.is_relative_to(media_dir.resolve())


def suffix_problem(name: str, formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP")) -> str | None:
    """Why an image file name is refused (None: its extension is one we accept)."""
    suffix = PurePosixPath(name).suffix.lower()
    if IMAGE_SUFFIXES.get(suffix) in formats:
        return None
    allowed = sorted(s for s, f in IMAGE_SUFFIXES.items() if f in formats)
    return f"'{name}' is not an image file name; use a file ending in {', '.join(allowed)}"


def image_format(data: bytes) -> str:
    """The format Pillow finds in ``data`` ("JPEG", "PNG", "WEBP"); MediaError otherwise."""
    return image_format_and_size(data)[0]


def image_format_and_size(data: bytes) -> tuple[str, tuple[int, int]]:
    """``image_format`` and the image's (width, height), from one opening of the file."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            found, size = image.format or "unknown", image.size
            image.verify()
    except Exception as exc:  # Pillow raises many types for broken files
        raise MediaError(
            f"is not a readable image ({exc}); export it again as JPEG or PNG"
        ) from None
    if found not in PUBLISHED_SUFFIX:
        raise MediaError(f"holds a {found} image; export it as JPEG, PNG or WebP")
    return found, size


def content_problem(name: str, data: bytes) -> str | None:
    """Why an image's bytes are refused: unreadable, another format, or not what the file
    name says (a PNG named .jpg). None: the file may be published."""
    try:
        found = image_format(data)
    except MediaError as exc:
        return str(exc)
    expected = IMAGE_SUFFIXES.get(PurePosixPath(name).suffix.lower())
    if expected != found:
        return (
            f"holds a {found} image but its name says {expected or 'otherwise'}; rename it to "
            f"end in {PUBLISHED_SUFFIX[found]} or export it again"
        )
    return None


def published_name(data: bytes, suffix: str, stem: str = "image") -> str:
    """``stem-<16 hex digits of the content's SHA-256><suffix>``: never a page's name, and two
    different files never share one."""
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}{suffix}"


def image_name(data: bytes) -> str:
    """The published name of an image: from its bytes, with the extension of its format."""
    return published_name(data, PUBLISHED_SUFFIX[image_format(data)])
