"""Make the past sample event's recording, captions and slides.

Speaks each agenda item's sentences with espeak-ng (Debian package ``espeak-ng``) over a
generated ffmpeg video track (test pattern, 640x360, 10 frames a second), writes WebVTT
captions from the same timings and a two-page PDF of slides. Each agenda item starts on a
whole second, so the event's agenda times ('14:00:10') match the recording exactly. Small
enough to commit (about 200 KB). Run from the repository root:
``python media/make_sample_event.py``; it prints the ``agenda:`` block for the event file.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
import wave
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw

MEDIA = Path(__file__).resolve().parent
EVENT_ID = "cocoa-farm-gate-webinar"
PAUSE_SECONDS = 0.4
AGENDA: list[tuple[str, str, list[str]]] = [
    (
        "Welcome",
        "Amina Mensah",
        [
            "Welcome to this webinar from the Durable Supply Chains programme.",
            "Today we present our finding on cocoa from farm gate to export.",
        ],
    ),
    (
        "Where value leaks",
        "Amina Mensah",
        [
            "Most losses happen in aggregation and storage, not at the port.",
            "The figures in this recording are illustrative sample figures.",
        ],
    ),
    (
        "Questions",
        "Tom Okello",
        [
            "Thank you for your questions.",
            "The slides and the finding are linked from the event page.",
        ],
    ),
]


def speak(text: str, folder: Path, index: int) -> tuple[bytes, wave._wave_params]:
    path = folder / f"{index}.wav"
    subprocess.run(["espeak-ng", "-v", "en-gb", "-s", "160", "-w", str(path), text], check=True)
    with wave.open(str(path), "rb") as clip:
        return clip.readframes(clip.getnframes()), clip.getparams()


def timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def slides(target: Path) -> None:
    """Two plain slides as a PDF (Pillow writes it; no fonts needed)."""
    pages = []
    for title in ("From farm gate to FOB", "Where value leaks"):
        page = Image.new("RGB", (960, 540), (246, 241, 232))
        draw = ImageDraw.Draw(page)
        draw.rectangle((0, 0, 960, 90), fill=(38, 70, 83))
        draw.text((40, 30), title, fill=(255, 255, 255))
        draw.text((40, 140), "Illustrative sample slides", fill=(38, 70, 83))
        pages.append(page)
    pages[0].save(target, "PDF", save_all=True, append_images=pages[1:], resolution=96)


def make() -> None:
    frames = bytearray()
    cues: list[tuple[float, float, str]] = []
    starts: list[int] = []
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        params = None
        index = 0
        for _title, _speaker, sentences in AGENDA:
            if params is not None:  # each item starts on a whole second
                whole = math.ceil(len(frames) / 2 / params.framerate)
                frames += b"\x00" * (whole * params.framerate * 2 - len(frames))
            starts.append(round(len(frames) / 2 / params.framerate) if params else 0)
            for sentence in sentences:
                audio, params = speak(sentence, folder, index)
                index += 1
                start = len(frames) / 2 / params.framerate
                frames += audio
                cues.append((start, len(frames) / 2 / params.framerate, sentence))
                frames += b"\x00" * int(PAUSE_SECONDS * params.framerate) * 2
        joined = folder / "speech.wav"
        with wave.open(str(joined), "wb") as out:
            out.setparams(params)
            out.writeframes(bytes(frames))
        duration = len(frames) / 2 / params.framerate
        target = MEDIA / "video" / f"{EVENT_ID}.mp4"
        target.parent.mkdir(exist_ok=True)
        subprocess.run(
            [
                ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=10:duration={duration:.3f}",
                "-i", str(joined),
                "-c:v", "libx264", "-preset", "veryslow", "-crf", "38", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "48k", "-shortest",
                "-map_metadata", "-1", "-fflags", "+bitexact", "-movflags", "+faststart",
                str(target),
            ],
            check=True,
        )  # fmt: skip
    captions = MEDIA / "transcripts" / f"{EVENT_ID}.vtt"
    lines = ["WEBVTT", ""]
    for start, end, text in cues:
        lines += [f"{timestamp(start)} --> {timestamp(end)}", text, ""]
    captions.write_text("\n".join(lines), encoding="utf-8")
    (MEDIA / "slides").mkdir(exist_ok=True)
    slides(MEDIA / "slides" / f"{EVENT_ID}.pdf")
    print(f"# {EVENT_ID}: {target.stat().st_size // 1024} KB, {duration:.1f} s")
    print("agenda:")
    for (title, speaker, _), second in zip(AGENDA, starts, strict=True):
        print(f'  - {{start: "14:00:{second:02d}", title: {title}, speaker: {speaker}}}')


if __name__ == "__main__":
    make()
