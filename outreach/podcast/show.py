"""The show's own inputs that the podcast channel and the press kit's clip both use: the cover
art (checked) and the audio profile episodes are mastered with."""

from __future__ import annotations

from outreach.config import Settings
from outreach.errors import RenderError
from outreach.media_files import outside_media
from outreach.podcast.art import art_problems
from outreach.podcast.audio import AudioProfile


class PodcastError(RenderError):
    """An episode cannot be produced; the message names the finding and the file."""


def audio_profile(settings: Settings) -> AudioProfile:
    return AudioProfile(
        channels=settings.podcast.channels, bitrate_kbps=settings.podcast.bitrate_kbps
    )


def show_cover(settings: Settings) -> bytes:
    path = settings.paths.media / settings.podcast.cover
    if outside_media(settings.paths.media, str(settings.podcast.cover)):
        raise PodcastError(
            f"show art: {path} is not inside media/ (or links outside it); copy the file into "
            "media/ and set podcast.cover to its path there"
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PodcastError(
            f"show art: no file at {path}; set podcast.cover to a JPEG or PNG in media/"
        ) from None
    problems = art_problems(data)
    if problems:
        raise PodcastError(f"show art {path} " + "; ".join(problems))
    return data
