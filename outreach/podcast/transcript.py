"""Episode transcripts: WebVTT or SRT files read with webvtt-py, for the feed and the post page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import webvtt

from outreach.errors import OutreachError

MEDIA_TYPES = {".vtt": "text/vtt", ".srt": "application/x-subrip"}


class TranscriptError(OutreachError):
    """A transcript cannot be read; the message names the file and the fix."""


def clock(seconds: float) -> str:
    """'2:05' or '1:02:05': how players show a position."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str

    @property
    def clock(self) -> str:
        return clock(self.start)


def read_transcript(path: Path) -> list[Cue]:
    suffix = path.suffix.lower()
    if suffix not in MEDIA_TYPES:
        raise TranscriptError(f"{path}: transcripts must be WebVTT (.vtt) or SRT (.srt)")
    try:
        captions = webvtt.from_srt(str(path)) if suffix == ".srt" else webvtt.read(str(path))
    except Exception as exc:  # webvtt-py raises its own and OS errors
        raise TranscriptError(
            f"{path}: not a valid {suffix[1:].upper()} file ({exc}); fix or export it again"
        ) from None
    cues = [
        Cue(
            c.start_time.in_milliseconds() / 1000,
            c.end_time.in_milliseconds() / 1000,
            " ".join(c.text.split()),
        )
        for c in captions
    ]
    if not cues:
        raise TranscriptError(f"{path}: the transcript has no cues")
    return cues


def media_type(path: Path | str) -> str:
    return MEDIA_TYPES[Path(path).suffix.lower()]
