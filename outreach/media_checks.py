"""Checks on the files a finding points to, run with validation so bad media stops a release
before anything is rendered: unreadable images, recordings or transcripts, chapters past the
end of the recording, and episode art that directories would refuse."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from outreach.finding import Finding, FindingProblem
from outreach.podcast.art import art_problems
from outreach.podcast.audio import AudioError, audio_duration
from outreach.podcast.transcript import TranscriptError, read_transcript


def media_problems(finding: Finding, media: Path) -> list[FindingProblem]:
    file = finding.source_path
    problems: list[FindingProblem] = []
    image_path = media / finding.image.file
    try:
        with Image.open(image_path) as image:
            image.verify()
    except Exception as exc:  # Pillow raises many types for broken files
        problems.append(
            FindingProblem(
                file,
                "image.file",
                f"{image_path} is not a readable image ({exc}); export it again as JPEG or PNG",
            )
        )
    episode = finding.episode
    if episode is None:
        return problems
    try:
        duration = audio_duration(media / episode.audio)
    except AudioError as exc:
        problems.append(FindingProblem(file, "episode.audio", str(exc)))
    else:
        for index, chapter in enumerate(episode.chapters):
            if chapter.start >= duration:
                problems.append(
                    FindingProblem(
                        file,
                        f"episode.chapters[{index}].start",
                        f"{chapter.start:g} s is past the end of the recording ({duration:.1f} s); "
                        "correct the time or remove the chapter",
                    )
                )
    if episode.transcript:
        try:
            read_transcript(media / episode.transcript)
        except TranscriptError as exc:
            problems.append(FindingProblem(file, "episode.transcript", str(exc)))
    if episode.image:
        for problem in art_problems((media / episode.image).read_bytes()):
            problems.append(
                FindingProblem(file, "episode.image", f"{media / episode.image} {problem}")
            )
    return problems
