"""ID3 tags for episodes, written with mutagen as ID3v2.3 (the version every podcast app reads).

Chapters are CHAP frames (millisecond times, each with a title) under one titled CTOC marked
TOP_LEVEL and ORDERED, which is what Apple Podcasts, Overcast and others look for.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    TALB,
    TCON,
    TDRC,
    TIT2,
    TPE1,
    TRCK,
    WXXX,
    CTOCFlags,
    Encoding,
    PictureType,
)

NO_OFFSET = 0xFFFFFFFF
"""CHAP byte offsets are unused: players seek by time."""


@dataclass(frozen=True)
class ChapterMark:
    start_ms: int
    end_ms: int
    title: str
    url: str | None = None


@dataclass(frozen=True)
class EpisodeTags:
    title: str
    artist: str
    album: str
    track: int
    date: datetime
    comment: str
    link: str
    cover: bytes
    cover_mime: str
    chapters: Sequence[ChapterMark] = ()


def chapter_marks(
    starts: Sequence[tuple[float, str, str | None]], duration: float
) -> list[ChapterMark]:
    """Chapter starts (seconds, title, url) to marks that end where the next one begins."""
    total_ms = int(duration * 1000)
    marks = []
    for index, (start, title, url) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else duration
        marks.append(ChapterMark(int(start * 1000), min(int(end * 1000), total_ms), title, url))
    return marks


def tag_mp3(mp3: bytes, tags: EpisodeTags) -> bytes:
    """Return ``mp3`` with a fresh ID3v2.3 tag; the audio frames are untouched."""
    id3 = ID3()
    utf = Encoding.UTF16  # ID3v2.3 has no UTF-8; UTF-16 carries any title
    id3.add(TIT2(encoding=utf, text=[tags.title]))
    id3.add(TPE1(encoding=utf, text=[tags.artist]))
    id3.add(TALB(encoding=utf, text=[tags.album]))
    id3.add(TCON(encoding=utf, text=["Podcast"]))
    id3.add(TRCK(encoding=utf, text=[str(tags.track)]))
    id3.add(TDRC(encoding=utf, text=[tags.date.strftime("%Y-%m-%d")]))
    id3.add(COMM(encoding=utf, lang="eng", desc="", text=[tags.comment]))
    id3.add(WXXX(encoding=utf, desc="Episode page", url=tags.link))
    id3.add(
        APIC(
            encoding=utf,
            mime=tags.cover_mime,
            type=PictureType.COVER_FRONT,
            desc="Cover",
            data=tags.cover,
        )
    )
    if tags.chapters:
        ids = [f"chp{index}" for index in range(len(tags.chapters))]
        for element_id, mark in zip(ids, tags.chapters, strict=True):
            sub_frames = [TIT2(encoding=utf, text=[mark.title])]
            if mark.url:
                sub_frames.append(WXXX(encoding=utf, desc="", url=mark.url))
            id3.add(
                CHAP(
                    element_id=element_id,
                    start_time=mark.start_ms,
                    end_time=mark.end_ms,
                    start_offset=NO_OFFSET,
                    end_offset=NO_OFFSET,
                    sub_frames=sub_frames,
                )
            )
        id3.add(
            CTOC(
                element_id="toc",
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[TIT2(encoding=utf, text=["Chapters"])],
            )
        )
    # TDRC is an ID3v2.4 frame: in a v2.3 tag eyeD3 and id3lib read no date. Converting turns
    # it into v2.3's TYER (year) and TDAT (day and month).
    id3.update_to_v23()
    buffer = io.BytesIO(mp3)
    id3.save(buffer, v2_version=3, v23_sep="/", padding=lambda info: 0)
    return buffer.getvalue()
