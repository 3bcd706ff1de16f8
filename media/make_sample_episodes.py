"""Make the sample podcast recordings, their transcripts and chapter lists.

Speaks each sentence with espeak-ng (Debian package ``espeak-ng``), joins them with short
pauses, and writes from the same timings a WebVTT transcript (first episode) or an SRT
transcript (second), so cue and chapter times match the audio exactly. The recordings are
saved as FLAC and MP3 (through the ffmpeg that imageio-ffmpeg ships) to exercise two input
formats. Run from the repository root: ``python media/make_sample_episodes.py``; it prints
the ``chapters:`` block to paste into each finding.
"""

from __future__ import annotations

import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

MEDIA = Path(__file__).resolve().parent
PAUSE_SECONDS = 0.45
CHAPTER_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class Episode:
    finding_id: str
    audio_name: str
    transcript_name: str
    chapters: list[tuple[str, list[str]]]


EPISODES = [
    Episode(
        "farm-gate-to-fob",
        "farm-gate-to-fob.flac",
        "farm-gate-to-fob.vtt",
        [
            (
                "Introduction",
                [
                    "Welcome to the Durable Supply Chains podcast.",
                    "In this episode we follow a lot of cocoa from the farm gate to the export "
                    "port.",
                    "The figures you will hear are illustrative sample figures.",
                ],
            ),
            (
                "Where value leaks",
                [
                    "Most losses happen in aggregation and storage, not at the port.",
                    "Moisture, mould and weight disputes cost about twelve percent of lot "
                    "value in our sample.",
                    "A lot changes hands four times before it is loaded on board.",
                ],
            ),
            (
                "What buyers can do",
                [
                    "Buyers can pay for raised floors, moisture meters and sealed sacks.",
                    "They can also pay collectors on time, so farmers are not forced to sell "
                    "wet beans.",
                    "Thank you for listening.",
                ],
            ),
        ],
    ),
    Episode(
        "uganda-robusta-case-study",
        "uganda-robusta-case-study.mp3",
        "uganda-robusta-case-study.srt",
        [
            (
                "Introduction",
                [
                    "This is the Durable Supply Chains podcast.",
                    "Today: robusta coffee in Uganda, a country case study.",
                ],
            ),
            (
                "Ageing trees",
                [
                    "Many robusta plots have trees older than thirty years.",
                    "Replanting pays back only when buyers commit for several seasons.",
                ],
            ),
            (
                "Traceable lots",
                [
                    "Cooperatives that keep lots separate can show buyers where coffee grew.",
                    "That record is what new import rules ask for.",
                    "The figures in this episode are illustrative sample figures.",
                    "Thank you for listening.",
                ],
            ),
        ],
    ),
]


def speak(text: str, folder: Path, index: int) -> tuple[bytes, wave._wave_params]:
    path = folder / f"{index}.wav"
    subprocess.run(["espeak-ng", "-v", "en-gb", "-s", "155", "-w", str(path), text], check=True)
    with wave.open(str(path), "rb") as clip:
        return clip.readframes(clip.getnframes()), clip.getparams()


def timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def make(episode: Episode) -> None:
    frames = bytearray()
    cues: list[tuple[float, float, str]] = []
    chapter_starts: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        params = None
        index = 0
        for chapter_number, (title, sentences) in enumerate(episode.chapters):
            if chapter_number:
                frames += b"\x00" * int(CHAPTER_PAUSE_SECONDS * params.framerate) * 2
            chapter_starts.append((len(frames) / 2 / params.framerate if params else 0.0, title))
            for sentence in sentences:
                audio, params = speak(sentence, folder, index)
                index += 1
                start = len(frames) / 2 / params.framerate
                frames += audio
                cues.append((start, len(frames) / 2 / params.framerate, sentence))
                frames += b"\x00" * int(PAUSE_SECONDS * params.framerate) * 2
        joined = folder / "joined.wav"
        with wave.open(str(joined), "wb") as out:
            out.setparams(params)
            out.writeframes(bytes(frames))
        target = MEDIA / "audio" / episode.audio_name
        target.parent.mkdir(exist_ok=True)
        codec = (
            ["-c:a", "flac"] if target.suffix == ".flac" else ["-c:a", "libmp3lame", "-b:a", "64k"]
        )
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(joined),
                *codec,
                "-map_metadata",
                "-1",
                "-fflags",
                "+bitexact",
                str(target),
            ],
            check=True,
        )
    transcript = MEDIA / "transcripts" / episode.transcript_name
    transcript.parent.mkdir(exist_ok=True)
    if transcript.suffix == ".vtt":
        lines = ["WEBVTT", ""]
        for start, end, text in cues:
            lines += [f"{timestamp(start, '.')} --> {timestamp(end, '.')}", text, ""]
    else:
        lines = []
        for number, (start, end, text) in enumerate(cues, start=1):
            lines += [str(number), f"{timestamp(start, ',')} --> {timestamp(end, ',')}", text, ""]
    transcript.write_text("\n".join(lines), encoding="utf-8")
    print(f"# {episode.finding_id}: {target.stat().st_size // 1024} KB")
    print("  chapters:")
    for start, title in chapter_starts:
        minutes, seconds = divmod(start, 60)
        print(f'    - {{start: "{int(minutes):02d}:{seconds:06.3f}", title: {title}}}')


if __name__ == "__main__":
    for item in EPISODES:
        make(item)
