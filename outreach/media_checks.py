"""Checks on the files a finding points to, run with validation so bad media stops a release
before anything is rendered: images that are unreadable or not what their names say,
recordings that cannot be decoded, chapters past the end of the decoded recording,
unreadable transcripts, and episode art that directories would refuse."""

from __future__ import annotations

from pathlib import Path

from outreach.finding import Episode, Finding, FindingProblem
from outreach.media_files import content_problem


def media_problems(
    finding: Finding, media: Path, cache_dir: Path | None = None
) -> list[FindingProblem]:
    """Every problem with the finding's media files; writes nothing (decoded lengths are read
    from ``cache_dir`` when mastering has remembered them there)."""
    file = finding.source_path
    problems: list[FindingProblem] = []
    image_path = media / finding.image.file
    problem = content_problem(finding.image.file, image_path.read_bytes())
    if problem:
        problems.append(FindingProblem(file, "image.file", f"{image_path} {problem}"))
    episode = finding.episode
    if episode is None:
        return problems
    return problems + _episode_problems(file, episode, media, cache_dir)


def _episode_problems(
    file: str, episode: Episode, media: Path, cache_dir: Path | None
) -> list[FindingProblem]:
    # Imported here: a release without episodes does not load the audio, art and
    # transcript libraries (memory).
    from outreach.podcast.art import art_problems
    from outreach.podcast.audio import AudioError, decoded_duration
    from outreach.podcast.transcript import TranscriptError, read_transcript

    problems: list[FindingProblem] = []
    try:
        duration = decoded_duration(media / episode.audio, cache_dir, remember=False)
    except AudioError as exc:
        problems.append(FindingProblem(file, "episode.audio", str(exc)))
    else:
        for index, chapter in enumerate(episode.chapters):
            if chapter.start >= duration:
                problems.append(
                    FindingProblem(
                        file,
                        f"episode.chapters[{index}].start",
                        f"{chapter.start:g} s is past the end of the recording ({duration:.1f} s "
                        "when decoded); correct the time or remove the chapter",
                    )
                )
    if episode.transcript:
        try:
            read_transcript(media / episode.transcript)
        except TranscriptError as exc:
            problems.append(FindingProblem(file, "episode.transcript", str(exc)))
    if episode.image:
        art = (media / episode.image).read_bytes()
        found = [content_problem(episode.image, art), *art_problems(art)]
        for problem in dict.fromkeys(p for p in found if p):
            problems.append(
                FindingProblem(file, "episode.image", f"{media / episode.image} {problem}")
            )
    return problems
