"""Podcasting 2.0 JSON chapters (application/json+chapters, version 1.2.0)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from outreach.finding import Chapter, Episode
from outreach.podcast.transcript import clock


def chapters_json(chapters: Sequence[Chapter]) -> bytes:
    items = []
    for chapter in chapters:
        item: dict[str, object] = {"startTime": round(chapter.start, 3), "title": chapter.title}
        if chapter.url:
            item["url"] = chapter.url
        items.append(item)
    document = {"version": "1.2.0", "chapters": items}
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def chapter_rows(episode: Episode) -> list[dict[str, str]]:
    """The chapter list shown under an episode player: start time and title."""
    return [{"clock": clock(chapter.start), "title": chapter.title} for chapter in episode.chapters]
